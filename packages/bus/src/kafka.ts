import { readFileSync } from 'node:fs';
import type { KafkaSecuritySettings } from '@phigate/config';
import { Kafka, type KafkaConfig, type LogEntry, logLevel, type OauthbearerProviderResponse, type SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';

/** Options shared by producers and consumers. */
export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  log: Logger;
  /** TLS and SASL (@phigate/config's kafkaSecurityFields); unset: PLAINTEXT. */
  security?: KafkaSecuritySettings | undefined;
  /**
   * For KAFKA_SASL_MECHANISM=oauthbearer: where tokens come from. Default: the contents of
   * KAFKA_SASL_OAUTHBEARER_TOKEN_FILE, re-read each time the client asks (on connect and re-auth).
   */
  oauthBearerProvider?: (() => Promise<OauthbearerProviderResponse>) | undefined;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * The kafkajs `ssl` and `sasl` options for the settings. Files (CA, client certificate, key) are
 * read here, once per client; the OAUTHBEARER token file on every token request.
 */
export function kafkaSecurityOptions(s: KafkaSecuritySettings | undefined, oauthBearerProvider?: KafkaOptions['oauthBearerProvider']): Partial<KafkaConfig> {
  if (!s || s.KAFKA_SECURITY_PROTOCOL === 'PLAINTEXT') return {};
  const out: Partial<KafkaConfig> = {};
  if (s.KAFKA_SECURITY_PROTOCOL.endsWith('SSL')) {
    const read = (f: string | undefined) => (f ? readFileSync(f, 'utf8') : undefined);
    const ca = read(s.KAFKA_SSL_CA_FILE);
    const cert = read(s.KAFKA_SSL_CERT_FILE);
    const key = read(s.KAFKA_SSL_KEY_FILE);
    // Without a CA file Node's own CA list applies (public CAs, as Confluent Cloud and Aiven's
    // Let's Encrypt listeners use); the broker's name is always verified.
    out.ssl = ca || cert ? { ...(ca ? { ca } : {}), ...(cert && key ? { cert, key } : {}) } : true;
  }
  if (s.KAFKA_SECURITY_PROTOCOL.startsWith('SASL_')) {
    const mechanism = s.KAFKA_SASL_MECHANISM;
    if (mechanism === 'oauthbearer') {
      const file = s.KAFKA_SASL_OAUTHBEARER_TOKEN_FILE;
      out.sasl = {
        mechanism,
        oauthBearerProvider: oauthBearerProvider ?? (async () => ({ value: file ? readFileSync(file, 'utf8').trim() : '' })),
      };
    } else if (mechanism) {
      out.sasl = { mechanism, username: s.KAFKA_SASL_USERNAME ?? '', password: s.KAFKA_SASL_PASSWORD ?? '' } as SASLOptions;
    }
  }
  return out;
}

/** A kafkajs client whose logs go through our pino logger (constant message, no payloads, no secrets). */
export function createKafka(opts: KafkaOptions, extra: Partial<KafkaConfig> = {}): Kafka {
  const log = opts.log.child({ component: 'kafka' });
  return new Kafka({
    clientId: opts.clientId,
    brokers: opts.brokers,
    connectionTimeout: 3000,
    // TLS and SASL add two round trips to each new connection; the TLS handshake alone can take
    // more than the plaintext timeout on a loaded 2-core machine.
    ...(opts.security && opts.security.KAFKA_SECURITY_PROTOCOL !== 'PLAINTEXT' ? { connectionTimeout: 5000, authenticationTimeout: 5000 } : {}),
    requestTimeout: 10_000,
    retry: { initialRetryTime: 100, retries: 5, maxRetryTime: 2000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, broker, error, groupId, topic } = entry as Record<string, unknown>;
        log[LEVELS[level] ?? 'info']({ kafka: String(message), broker, error, groupId, topic }, 'kafka client');
      },
    ...kafkaSecurityOptions(opts.security, opts.oauthBearerProvider),
    ...extra,
  });
}
