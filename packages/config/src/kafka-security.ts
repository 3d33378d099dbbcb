import { accessSync, constants } from 'node:fs';
import { z } from 'zod';
import { fields, isLoopbackAddress } from './index.js';

// Kafka link settings shared by every Kafka client (the gateway's producer, the audit consumer and
// SIEM relay, the verify CLI, tests and the bench). @phigate/bus's createKafka turns them into
// kafkajs options, so that this package stays free of client libraries.

/** Kafka's security.protocol values. */
export const KAFKA_SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
/** The SASL mechanisms phigate's Kafka client speaks (kafkajs names). */
export const KAFKA_SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer'] as const;

/**
 * How a service reaches Kafka. KAFKA_SECURITY_PROTOCOL as in Kafka's own clients; TLS trusts
 * KAFKA_SSL_CA_FILE (else the system's CAs) and may present a client certificate; SASL takes a
 * user and password (KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE), or, for OAUTHBEARER, a
 * token file that is re-read whenever the client needs a token (written by whatever fetches it: a
 * workload-identity sidecar, a Kubernetes projected token, a cron job). The TLS files and the
 * password file are re-read every KAFKA_SECRETS_REFRESH_MS: new connections use what they hold now,
 * and @phigate/bus's producers and consumers reconnect when they change. A link that is not both
 * encrypted and authenticated, to a broker that is not loopback, needs KAFKA_PLAINTEXT=true
 * (checked by {@link kafkaSecurityProblems}).
 */
export const kafkaSecurityFields = () => ({
  KAFKA_SECURITY_PROTOCOL: z.enum(KAFKA_SECURITY_PROTOCOLS).default('PLAINTEXT'),
  KAFKA_SSL_CA_FILE: z.string().min(1).optional(),
  KAFKA_SSL_CERT_FILE: z.string().min(1).optional(),
  KAFKA_SSL_KEY_FILE: z.string().min(1).optional(),
  KAFKA_SASL_MECHANISM: z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.enum(KAFKA_SASL_MECHANISMS))
    .optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  // Also read by loadConfig into KAFKA_SASL_PASSWORD; kept as a path so the client can re-read it.
  KAFKA_SASL_PASSWORD_FILE: z.string().min(1).optional(),
  KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: z.string().min(1).optional(),
  KAFKA_PLAINTEXT: fields.bool(false),
  KAFKA_SECRETS_REFRESH_MS: z.coerce.number().int().min(1000).default(60_000),
});

/** The parsed {@link kafkaSecurityFields}. */
export interface KafkaSecuritySettings {
  KAFKA_SECURITY_PROTOCOL: (typeof KAFKA_SECURITY_PROTOCOLS)[number];
  KAFKA_SSL_CA_FILE?: string | undefined;
  KAFKA_SSL_CERT_FILE?: string | undefined;
  KAFKA_SSL_KEY_FILE?: string | undefined;
  KAFKA_SASL_MECHANISM?: (typeof KAFKA_SASL_MECHANISMS)[number] | undefined;
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD?: string | undefined;
  KAFKA_SASL_PASSWORD_FILE?: string | undefined;
  KAFKA_SASL_OAUTHBEARER_TOKEN_FILE?: string | undefined;
  KAFKA_PLAINTEXT: boolean;
  /** How often the TLS files and the SASL password file are re-read (default 60 s). */
  KAFKA_SECRETS_REFRESH_MS?: number | undefined;
}

/** Whether the link is TLS-encrypted. */
export const kafkaUsesTls = (c: Pick<KafkaSecuritySettings, 'KAFKA_SECURITY_PROTOCOL'>) => c.KAFKA_SECURITY_PROTOCOL.endsWith('SSL');
/** Whether the link authenticates with SASL. */
export const kafkaUsesSasl = (c: Pick<KafkaSecuritySettings, 'KAFKA_SECURITY_PROTOCOL'>) => c.KAFKA_SECURITY_PROTOCOL.startsWith('SASL_');

function unreadable(file: string | undefined): boolean {
  if (!file) return false;
  try {
    accessSync(file, constants.R_OK);
    return false;
  } catch {
    return true;
  }
}

/**
 * What is wrong with the Kafka settings for a client of `brokers`: SASL settings only and always
 * with a SASL protocol, TLS files only with TLS, certificate and key together, files readable, and
 * a link that is unencrypted or unauthenticated only to loopback brokers unless KAFKA_PLAINTEXT=true.
 * For a schema's `superRefine`. Never quotes a secret.
 */
export function kafkaSecurityProblems(c: KafkaSecuritySettings, brokers: readonly string[]): string[] {
  const problems: string[] = [];
  const tls = kafkaUsesTls(c);
  const sasl = kafkaUsesSasl(c);
  const mech = c.KAFKA_SASL_MECHANISM;
  if (sasl && !mech)
    problems.push(`KAFKA_SASL_MECHANISM: required with KAFKA_SECURITY_PROTOCOL=${c.KAFKA_SECURITY_PROTOCOL} (${KAFKA_SASL_MECHANISMS.join(', ')})`);
  if (!sasl && (mech || c.KAFKA_SASL_USERNAME || c.KAFKA_SASL_PASSWORD || c.KAFKA_SASL_OAUTHBEARER_TOKEN_FILE))
    problems.push(`KAFKA_SASL_*: set, but KAFKA_SECURITY_PROTOCOL=${c.KAFKA_SECURITY_PROTOCOL} does not use SASL; use SASL_SSL`);
  if (sasl && mech && mech !== 'oauthbearer' && (!c.KAFKA_SASL_USERNAME || !c.KAFKA_SASL_PASSWORD))
    problems.push(`KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE): required with KAFKA_SASL_MECHANISM=${mech}`);
  if (sasl && mech === 'oauthbearer' && !c.KAFKA_SASL_OAUTHBEARER_TOKEN_FILE)
    problems.push('KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: required with KAFKA_SASL_MECHANISM=oauthbearer');
  if (mech === 'oauthbearer' && (c.KAFKA_SASL_USERNAME || c.KAFKA_SASL_PASSWORD))
    problems.push('KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD: not used with KAFKA_SASL_MECHANISM=oauthbearer; remove them');
  if (Boolean(c.KAFKA_SSL_CERT_FILE) !== Boolean(c.KAFKA_SSL_KEY_FILE)) problems.push('KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE: set both, or neither');
  if (!tls && (c.KAFKA_SSL_CA_FILE || c.KAFKA_SSL_CERT_FILE || c.KAFKA_SSL_KEY_FILE))
    problems.push(`KAFKA_SSL_*: set, but KAFKA_SECURITY_PROTOCOL=${c.KAFKA_SECURITY_PROTOCOL} does not use TLS; use SSL or SASL_SSL`);
  for (const key of ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE', 'KAFKA_SASL_OAUTHBEARER_TOKEN_FILE'] as const)
    if (unreadable(c[key])) problems.push(`${key}: cannot read ${c[key]}`);
  // Encrypted and authenticated: TLS with SASL, or TLS with a client certificate.
  const secure = tls && (sasl || Boolean(c.KAFKA_SSL_CERT_FILE));
  if (secure && c.KAFKA_PLAINTEXT) problems.push(`KAFKA_PLAINTEXT: set together with KAFKA_SECURITY_PROTOCOL=${c.KAFKA_SECURITY_PROTOCOL}; choose one`);
  if (!secure && !c.KAFKA_PLAINTEXT) {
    const remote = brokers.filter((b) => !isLoopbackAddress(b));
    if (remote.length)
      problems.push(
        `KAFKA_SECURITY_PROTOCOL=${c.KAFKA_SECURITY_PROTOCOL}${tls ? ' without a client certificate' : ''}: refused, ${remote.join(', ')} is not a loopback address (audit events, statements included, would cross the network ${tls ? 'unauthenticated' : 'in clear'}); use SASL_SSL, or set KAFKA_PLAINTEXT=true`,
      );
  }
  return problems;
}

/** The Kafka fields of a service: bootstrap servers and {@link kafkaSecurityFields}. */
export const kafkaFields = () => ({ KAFKA_BROKERS: fields.list(), ...kafkaSecurityFields() });

/** Picks the {@link KafkaSecuritySettings} out of a loaded config (for @phigate/bus's createKafka). */
export function kafkaSecurity(c: KafkaSecuritySettings): KafkaSecuritySettings {
  return {
    KAFKA_SECURITY_PROTOCOL: c.KAFKA_SECURITY_PROTOCOL,
    KAFKA_SSL_CA_FILE: c.KAFKA_SSL_CA_FILE,
    KAFKA_SSL_CERT_FILE: c.KAFKA_SSL_CERT_FILE,
    KAFKA_SSL_KEY_FILE: c.KAFKA_SSL_KEY_FILE,
    KAFKA_SASL_MECHANISM: c.KAFKA_SASL_MECHANISM,
    KAFKA_SASL_USERNAME: c.KAFKA_SASL_USERNAME,
    KAFKA_SASL_PASSWORD: c.KAFKA_SASL_PASSWORD,
    KAFKA_SASL_PASSWORD_FILE: c.KAFKA_SASL_PASSWORD_FILE,
    KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: c.KAFKA_SASL_OAUTHBEARER_TOKEN_FILE,
    KAFKA_PLAINTEXT: c.KAFKA_PLAINTEXT,
    KAFKA_SECRETS_REFRESH_MS: c.KAFKA_SECRETS_REFRESH_MS,
  };
}

/**
 * Loads the Kafka client settings from an environment (every problem together), for tools, tests
 * and the bench that build their own Kafka clients the way the services do.
 */
export const kafkaClientSchema = () =>
  z.object(kafkaFields()).superRefine((c, ctx) => {
    for (const message of kafkaSecurityProblems(c, c.KAFKA_BROKERS)) ctx.addIssue({ code: 'custom', message });
  });
