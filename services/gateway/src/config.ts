import { fields, z } from '@phigate/config';

export const gatewayConfigSchema = z.object({
  GATEWAY_HOST: fields.host(),
  GATEWAY_HTTP_PORT: fields.port(8080),
  POLICY_GRPC_ADDR: z.string().min(1).default('127.0.0.1:50051'),
  MASKING_GRPC_ADDR: z.string().min(1).default('127.0.0.1:50052'),
  GATEWAY_POLICY_TIMEOUT_MS: fields.ms(2000),
  GATEWAY_MASKING_TIMEOUT_MS: fields.ms(30_000),
  KAFKA_BROKERS: fields.list(),
  /** Longest a request waits for Kafka to acknowledge its audit events before failing closed. */
  GATEWAY_AUDIT_ACK_TIMEOUT_MS: fields.ms(5000),
  REDIS_URL: z.url(),
  ...fields.oidc(),
  /** The gateway's control database (connection registry), as its least-privilege role. */
  GATEWAY_DATABASE_URL: z.string().min(1),
  /** JSON keyring for sealing upstream credentials: {"active": id, "keys": {id: base64(32 bytes)}}. */
  GATEWAY_SEALING_KEYS_FILE: z.string().min(1),
  /** Groups whose members may use the admin API. */
  GATEWAY_ADMIN_GROUPS: fields.list().default(['phigate-admins']),
  /** Requests per identity per minute, across all replicas (Redis). */
  GATEWAY_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(1200),
  GATEWAY_REGISTRY_REFRESH_MS: fields.ms(5000),
  /** YAML file of identity bindings and config-managed connections (seeded into the registry). */
  GATEWAY_CONNECTIONS_FILE: z.string().min(1),
  /** Directory that connection password files are resolved against. */
  GATEWAY_SECRETS_DIR: z.string().min(1),
  GATEWAY_MAX_SQL_BYTES: z.coerce.number().int().min(64).default(65_536),
  /** Most rows one HTTP response may carry; larger results are refused, not cut. */
  GATEWAY_HTTP_MAX_ROWS: z.coerce.number().int().min(1).default(10_000),
  /** Decisions kept per replica (0 disables); served only while the policy revision stream is up. */
  GATEWAY_DECISION_CACHE_SIZE: z.coerce.number().int().min(0).default(10_000),
  /** Analyses kept per replica, keyed by exact statement text (0 disables). */
  GATEWAY_ANALYSIS_CACHE_SIZE: z.coerce.number().int().min(0).default(5000),
  /** The approval service (held statements are opened there). */
  GATEWAY_APPROVAL_URL: z.url().default('http://127.0.0.1:8081'),
  /** Shared secret for the approval service's internal API; may come from APPROVAL_INTERNAL_TOKEN_FILE. */
  APPROVAL_INTERNAL_TOKEN: z.string().min(32, 'must be at least 32 characters'),
  /** The approval service's Redis key prefix: its decisions channel is `<prefix>decisions`. */
  APPROVAL_KEY_PREFIX: z.string().min(1).default('phigate:approval:'),
  GATEWAY_APPROVAL_TIMEOUT_MS: fields.ms(5000),
  /** Prefix of the gateway's own Redis keys (held requests, their outcomes channel). */
  GATEWAY_KEY_PREFIX: z.string().min(1).default('phigate:gw:'),
  /** How long a held request's outcome stays readable by its requester after the approval's expiry. */
  GATEWAY_HELD_RETAIN_MS: fields.ms(3_600_000),
  /** A resumed statement with no outcome after this long is declared unknown (never run twice). */
  GATEWAY_HELD_RUN_TIMEOUT_MS: fields.ms(120_000),
  /** The longest a statement may wait for approval, whatever a policy's expiresIn says. */
  GATEWAY_HELD_MAX_EXPIRY_MS: fields.ms(24 * 3_600_000),
  /** How often each replica looks for held requests whose signal it missed, or that expired. */
  GATEWAY_HELD_RECONCILE_MS: fields.ms(2000),
  /** Names this replica in claims (default: host name and PID). */
  GATEWAY_REPLICA_ID: z.string().min(1).optional(),
  LOG_LEVEL: fields.logLevel(),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
