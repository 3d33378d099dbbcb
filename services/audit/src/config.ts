import { createPrivateKey, type KeyObject } from 'node:crypto';
import { fields, kafkaSecurityFields, kafkaSecurityProblems, pgUrlProblems, z } from '@phigate/config';
import { parse as parseYaml } from 'yaml';
import { parseTrustedKeys } from './adapters/trusted-keys.js';
import type { TrustedKey } from './domain/checkpoint.js';
import { type PhiCatalog, parsePhiCatalog } from './domain/phi-catalog.js';

/** An Ed25519 private key in PEM (PKCS#8), e.g. from `openssl genpkey -algorithm ed25519`. */
const ed25519PrivateKey = () =>
  z.string().transform((pem, ctx): KeyObject => {
    try {
      const key = createPrivateKey(pem);
      if (key.asymmetricKeyType === 'ed25519') return key;
      ctx.addIssue({ code: 'custom', message: `must be an Ed25519 private key (got ${key.asymmetricKeyType})` });
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an Ed25519 private key in PEM (PKCS#8)' });
    }
    return z.NEVER;
  });

/** A JSON list of trusted checkpoint public keys (PEM) with optional validity periods. */
const trustedKeys = () =>
  z.string().transform((text, ctx): TrustedKey[] => {
    try {
      return parseTrustedKeys(JSON.parse(text));
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `must be a JSON list of {pem, notBefore?, notAfter?} (${(err as Error).message.split('\n')[0]})` });
      return z.NEVER;
    }
  });

/** The PHI catalog: a policy document with a `phi:` section (YAML or JSON). */
const phiCatalog = () =>
  z.string().transform((text, ctx): PhiCatalog => {
    try {
      return parsePhiCatalog(parseYaml(text));
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `must be a policy document with a phi: section (${(err as Error).message.split('\n')[0]})` });
      return z.NEVER;
    }
  });

export const auditConfigSchema = z
  .object({
    AUDIT_HOST: fields.host(),
    AUDIT_HTTP_PORT: fields.port(8082),
    KAFKA_BROKERS: fields.list(),
    /** TLS and SASL to Kafka (@phigate/config's kafkaSecurityFields), for the consumer, the SIEM relay and the producer. */
    ...kafkaSecurityFields(),
    /**
     * The audit event topic: consumed by this service (one hash chain per partition), where it also
     * publishes audit.event_quarantined, and against whose committed offsets verify cross-checks.
     * Must be the topic the gateways produce to.
     */
    AUDIT_TOPIC: z.string().default('phigate.audit.v1'),
    /** Consumer group of the audit store writers (replicas share it). */
    AUDIT_CONSUMER_GROUP: z.string().min(1).default('phigate-audit'),
    /**
     * The audit service's own least-privilege URL (INSERT and SELECT only). TLS is set in the URL:
     * `?sslmode=verify-full&sslrootcert=<CA file>`; required to a host that is not loopback.
     */
    AUDIT_DATABASE_URL: z.string().min(1),
    /** Allow AUDIT_DATABASE_URL to a non-loopback host without sslmode=verify-full (plaintext or unverified TLS). */
    AUDIT_DATABASE_PLAINTEXT: fields.bool(false),
    ...fields.oidc(),
    /** Token groups whose members may use the auditor API. */
    AUDITOR_GROUPS: fields.list().default(['auditors']),
    /** Signs checkpoints; usually AUDIT_CHECKPOINT_KEY_FILE. Required: no unsigned store. */
    AUDIT_CHECKPOINT_KEY: ed25519PrivateKey(),
    /** Names this log in every checkpoint. */
    AUDIT_CHECKPOINT_ORIGIN: z.string().regex(/^\S+$/, 'must not contain whitespace').default('phigate-audit'),
    /** How often the chain heads are signed into a checkpoint (and witnessed on the SIEM topic). */
    AUDIT_CHECKPOINT_INTERVAL_MS: z.coerce.number().int().min(1000).default(5000),
    /** A checkpoint is also signed after this many records, whichever comes first; 0 = by time only. */
    AUDIT_CHECKPOINT_EVERY_EVENTS: z.coerce.number().int().min(0).default(10_000),
    /**
     * Trusted checkpoint keys with validity periods, for rotation (JSON: [{"pem": "...", "notBefore":
     * "ISO", "notAfter": "ISO"}]); usually AUDIT_CHECKPOINT_TRUSTED_KEYS_FILE. The signing key's own
     * public key is always trusted.
     */
    AUDIT_CHECKPOINT_TRUSTED_KEYS: trustedKeys().optional(),
    /** Partitions whose batches one replica writes at once (each partition is its own chain). */
    AUDIT_PARTITIONS_CONCURRENTLY: z.coerce.number().int().min(1).max(64).default(6),
    /**
     * How often the search indexer derives the search rows of newly stored records (off the writers'
     * path; also right after each stored batch). A record is searchable once indexed.
     */
    AUDIT_SEARCH_INDEX_INTERVAL_MS: z.coerce.number().int().min(50).default(250),
    /** How often the consumer lag is measured (per partition: topic end minus committed offset). */
    AUDIT_LAG_INTERVAL_MS: z.coerce.number().int().min(500).default(5000),
    /** Readiness fails while the total consumer lag exceeds this many events; 0 = never. */
    AUDIT_LAG_READY_MAX: z.coerce.number().int().min(0).default(100_000),
    /** Events are kept at least this long (HIPAA 164.316(b)(2): six years). */
    AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).default(2190),
    /** How often the purge job runs; 0 = never (purge only by hand). */
    AUDIT_PURGE_INTERVAL_MS: fields.ms(3_600_000),
    /** The PHI catalog (the policy file holding `phi:`); usually AUDIT_PHI_CATALOG_FILE. */
    AUDIT_PHI_CATALOG: phiCatalog().optional(),
    /** Republish events to this topic for SIEMs; unset = no relay. */
    AUDIT_SIEM_TOPIC: z.string().min(1).optional(),
    /** Consumer group of the SIEM relay. */
    AUDIT_SIEM_CONSUMER_GROUP: z.string().min(1).default('phigate-audit-siem'),
    /** Replace literals in statement text on the SIEM topic. */
    AUDIT_SIEM_REDACT_LITERALS: fields.bool(true),
    LOG_LEVEL: fields.logLevel(),
  })
  .superRefine((c, ctx) => {
    for (const message of kafkaSecurityProblems(c, c.KAFKA_BROKERS)) ctx.addIssue({ code: 'custom', message });
    for (const message of pgUrlProblems('AUDIT_DATABASE_URL', c.AUDIT_DATABASE_URL, c.AUDIT_DATABASE_PLAINTEXT, 'AUDIT_DATABASE_PLAINTEXT'))
      ctx.addIssue({ code: 'custom', message });
  });

export type AuditConfig = z.infer<typeof auditConfigSchema>;
