import {
  fields,
  internalTlsFields,
  internalTlsProblems,
  kafkaSecurityFields,
  kafkaSecurityProblems,
  pgUrlProblems,
  redisFields,
  redisProblems,
  z,
} from '@phigate/config';

export const gatewayConfigSchema = z
  .object({
    GATEWAY_HOST: fields.host(),
    GATEWAY_HTTP_PORT: fields.port(8080),
    POLICY_GRPC_ADDR: z.string().min(1).default('127.0.0.1:50051'),
    MASKING_GRPC_ADDR: z.string().min(1).default('127.0.0.1:50052'),
    /** Deadline of one policy evaluation. */
    GATEWAY_POLICY_TIMEOUT_MS: fields.ms(2000),
    /** Deadline of one request's whole masking stream. */
    GATEWAY_MASKING_TIMEOUT_MS: fields.ms(30_000),
    KAFKA_BROKERS: fields.list(),
    /** TLS and SASL to Kafka (@phigate/config's kafkaSecurityFields). */
    ...kafkaSecurityFields(),
    /** Longest a request waits for Kafka to acknowledge its audit events before failing closed. */
    GATEWAY_AUDIT_ACK_TIMEOUT_MS: fields.ms(5000),
    /**
     * before-release (default): a result leaves only once its events are durable (Kafka acks=all,
     * or the local outbox fsynced). async: once they are queued in order (see ADR 8 for the risk).
     */
    GATEWAY_AUDIT_DURABILITY: z.enum(['before-release', 'async']).default('before-release'),
    /** Local durable audit outbox (a persistent volume, one per replica); empty = none (fail closed while Kafka is down). */
    GATEWAY_AUDIT_OUTBOX_DIR: z.string().default(''),
    /** The outbox's size bound; when full, new statements are refused. */
    GATEWAY_AUDIT_OUTBOX_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(1024 * 1024)
      .default(256 * 1024 * 1024),
    /** How long an audit send waits to gather more events (default: 0 before release, 5 ms in async mode). */
    GATEWAY_AUDIT_LINGER_MS: z.coerce.number().int().min(0).max(1000).optional(),
    /** The outbox's event-count bound. */
    GATEWAY_AUDIT_OUTBOX_MAX_EVENTS: z.coerce.number().int().min(1000).default(1_000_000),
    /** Redis: URL (rediss:// for TLS), mode, CA, credentials (@phigate/config's redisFields). */
    ...redisFields(),
    ...fields.oidc(),
    /**
     * The gateway's control database (connection registry), as its least-privilege role. TLS is set
     * in the URL: `?sslmode=verify-full&sslrootcert=<CA file>`; required to a host that is not loopback.
     */
    GATEWAY_DATABASE_URL: z.string().min(1),
    /** Allow GATEWAY_DATABASE_URL to a non-loopback host without sslmode=verify-full (plaintext or unverified TLS). */
    GATEWAY_DATABASE_PLAINTEXT: fields.bool(false),
    /** JSON keyring for sealing upstream credentials: {"active": id, "keys": {id: base64(32 bytes)}}. */
    GATEWAY_SEALING_KEYS_FILE: z.string().min(1),
    /** Groups whose members may use the admin API. */
    GATEWAY_ADMIN_GROUPS: fields.list().default(['phigate-admins']),
    /**
     * Share of statements with nothing to mask that the leak canary in `report` mode samples (0–1).
     * Such a statement otherwise needs no masking call; sampling keeps watching every identity off
     * the hot path's cost. `block` mode and statements already masked are always watched.
     */
    GATEWAY_CANARY_REPORT_SAMPLE: z.coerce.number().min(0).max(1).default(0.1),
    /**
     * Statements per identity per minute, across all replicas (Redis), for identities whose binding
     * declares no `statementsPerMinute` of its own: a generous safety net, not a workload's limit.
     */
    GATEWAY_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(60000),
    /** Redis key prefix of the rate-limit counters: replicas sharing it share the budgets. */
    GATEWAY_RATE_LIMIT_KEY_PREFIX: z.string().min(1).default('phigate:rl:'),
    /** Prefix of the PHI budget counters in Redis (each identity's under one hash tag). */
    GATEWAY_BUDGET_KEY_PREFIX: z.string().min(1).default('phigate:budget:'),
    /** How often each replica re-reads the connection registry. */
    GATEWAY_REGISTRY_REFRESH_MS: fields.ms(5000),
    /** YAML file of identity bindings and config-managed connections (seeded into the registry). */
    GATEWAY_CONNECTIONS_FILE: z.string().min(1),
    /** Directory that connection password files are resolved against. */
    GATEWAY_SECRETS_DIR: z.string().min(1),
    /** Largest statement in bytes; an HTTP body may be twice this. */
    GATEWAY_MAX_SQL_BYTES: z.coerce.number().int().min(64).default(65_536),
    /** Most rows one HTTP response may carry; larger results are refused, not cut. */
    GATEWAY_HTTP_MAX_ROWS: z.coerce.number().int().min(1).default(10_000),
    /** PostgreSQL door: most rows one COPY … TO STDOUT or one cursor streams (a policy row_limit cuts it sooner); more fails it. */
    GATEWAY_PG_STREAM_MAX_ROWS: z.coerce.number().int().min(1).default(10_000_000),
    /** Decisions kept per replica (0 disables); served only while the policy revision stream is up. */
    GATEWAY_DECISION_CACHE_SIZE: z.coerce.number().int().min(0).default(10_000),
    /** Analyses kept per replica, keyed by exact statement text (0 disables). */
    GATEWAY_ANALYSIS_CACHE_SIZE: z.coerce.number().int().min(0).default(5000),
    /**
     * The approval service's internal listener (held statements are opened there): `https://` with
     * INTERNAL_TLS_* (the gateway presents its certificate), `http://` only with INTERNAL_PLAINTEXT.
     */
    GATEWAY_APPROVAL_URL: z.url().default('https://127.0.0.1:8083'),
    /** Shared secret for the approval service's internal API; may come from APPROVAL_INTERNAL_TOKEN_FILE. */
    APPROVAL_INTERNAL_TOKEN: z.string().min(32, 'must be at least 32 characters'),
    /** The approval service's Redis key prefix: its decisions channel is `<prefix>decisions`. */
    APPROVAL_KEY_PREFIX: z.string().min(1).default('phigate:approval:'),
    /** Deadline of one call to the approval service. */
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
    /** Snowflake door: longest a query-request or result poll is held open before "in progress" (under Python's 60 s read timeout). */
    GATEWAY_SF_HOLD_MS: z.coerce.number().int().min(0).max(45_000).default(40_000),
    /** Snowflake door: most rows one result may carry (larger results are refused, not cut). */
    GATEWAY_SF_MAX_ROWS: z.coerce.number().int().min(1).default(250_000),
    /** Snowflake door: rows inline in the answer and per result chunk once a result is chunked. */
    GATEWAY_SF_CHUNK_ROWS: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
    /** Snowflake door: session token validity; the driver renews it with the master token. */
    GATEWAY_SF_SESSION_VALIDITY_SEC: z.coerce.number().int().min(60).default(3600),
    /** Snowflake door: master token validity, the longest a session lives without a new login. */
    GATEWAY_SF_MASTER_VALIDITY_SEC: z.coerce.number().int().min(60).default(14_400),
    /** Snowflake door: how long finished results (and their chunks) stay fetchable. */
    GATEWAY_SF_RESULT_TTL_MS: fields.ms(900_000),
    /** Snowflake door: base URL written into result chunk URLs (default: the scheme and Host the client used). */
    GATEWAY_SF_PUBLIC_URL: z.url().optional(),
    /** Snowflake door: a client's open transaction idle this long (no statement running) is rolled back, freeing its upstream session. */
    GATEWAY_SF_TRANSACTION_IDLE_SEC: z.coerce.number().int().min(10).default(3600),
    /** PostgreSQL wire door: listen address and port (0: any free port). */
    GATEWAY_PG_HOST: fields.host(),
    /** PostgreSQL wire door port (0: any free port). */
    GATEWAY_PG_PORT: fields.port(15432),
    /** PostgreSQL wire door: PEM certificate chain and key for SSLRequest (both or neither; without them TLS is refused). */
    GATEWAY_PG_TLS_CERT_FILE: z.string().min(1).optional(),
    /** PostgreSQL wire door: the PEM private key of that certificate. */
    GATEWAY_PG_TLS_KEY_FILE: z.string().min(1).optional(),
    /** PostgreSQL wire door: refuse a password (an access token) sent without TLS from a non-loopback address. */
    GATEWAY_PG_REQUIRE_TLS_NON_LOOPBACK: fields.bool(true),
    /** PostgreSQL wire door: most client connections at once. */
    GATEWAY_PG_MAX_CONNECTIONS: z.coerce.number().int().min(1).default(1000),
    /** PostgreSQL wire door: longest from TCP connect to authenticated (a token check takes milliseconds). */
    GATEWAY_PG_AUTH_TIMEOUT_MS: fields.ms(5_000),
    /**
     * PostgreSQL wire door: most connections not yet authenticated at once, in all and from one
     * source address. Sockets that never authenticate cannot fill the door: the authenticated
     * sessions, and clients from other addresses, keep being served while one address is capped.
     */
    GATEWAY_PG_MAX_UNAUTHENTICATED: z.coerce.number().int().min(1).default(256),
    /** PostgreSQL wire door: most connections not yet authenticated from one source address. */
    GATEWAY_PG_MAX_UNAUTHENTICATED_PER_ADDRESS: z.coerce.number().int().min(1).default(64),
    /** PostgreSQL wire door: largest protocol message a client may send. */
    GATEWAY_PG_MAX_MESSAGE_BYTES: z.coerce
      .number()
      .int()
      .min(65_536)
      .default(16 * 1024 * 1024),
    /** Mutual TLS to policy, masking and the approval service (@phigate/config's internalTlsFields). */
    ...internalTlsFields(),
    LOG_LEVEL: fields.logLevel(),
  })
  .superRefine((c, ctx) => {
    const approval = new URL(c.GATEWAY_APPROVAL_URL);
    for (const message of internalTlsProblems(c, [c.POLICY_GRPC_ADDR, c.MASKING_GRPC_ADDR, approval.host])) ctx.addIssue({ code: 'custom', message });
    if (approval.protocol !== (c.INTERNAL_PLAINTEXT ? 'http:' : 'https:'))
      ctx.addIssue({
        code: 'custom',
        message: `GATEWAY_APPROVAL_URL: must be ${c.INTERNAL_PLAINTEXT ? 'http:// with INTERNAL_PLAINTEXT' : 'https:// (mutual TLS with INTERNAL_TLS_*)'}`,
      });
    for (const message of kafkaSecurityProblems(c, c.KAFKA_BROKERS)) ctx.addIssue({ code: 'custom', message });
    for (const message of redisProblems(c)) ctx.addIssue({ code: 'custom', message });
    for (const message of pgUrlProblems('GATEWAY_DATABASE_URL', c.GATEWAY_DATABASE_URL, c.GATEWAY_DATABASE_PLAINTEXT, 'GATEWAY_DATABASE_PLAINTEXT'))
      ctx.addIssue({ code: 'custom', message });
  });

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
