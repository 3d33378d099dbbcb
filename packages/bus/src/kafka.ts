import { readFileSync } from 'node:fs';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { createSecureContext, connect as tlsConnect } from 'node:tls';
import { type KafkaSecuritySettings, type WatchedFiles, watchFiles } from '@phigate/config';
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
  /** The link's files as they are now (see {@link kafkaSecrets}); default: watched by this client itself. */
  secrets?: KafkaSecrets | undefined;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

type SecretFile = 'ca' | 'cert' | 'key' | 'password';

/**
 * The Kafka link's files (CA, client certificate and key, SASL password file) as they are now:
 * re-read every KAFKA_SECRETS_REFRESH_MS through @phigate/config's watchFiles, the mechanism the
 * internal mutual TLS files use. Every new connection takes the current material (a TLS socket
 * factory, a SASL password read at each authentication); `onChange` tells producers and consumers
 * to reconnect, so connections opened before a rotation do not outlive it.
 */
export interface KafkaSecrets {
  /** TLS options for a new connection: ca, cert, key as the files hold them now. */
  tls(): { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** The SASL password as the file holds it now (or the configured value). */
  password(): string;
  /** Called after the files changed and the new contents were accepted. */
  onChange(listener: () => void): void;
  /** Changes taken since start. */
  readonly generation: number;
  close(): void;
}

/** Watches the files the settings name (none: a fixed, empty set). */
export function kafkaSecrets(s: KafkaSecuritySettings | undefined): KafkaSecrets {
  const paths: Partial<Record<SecretFile, string>> = {};
  if (s?.KAFKA_SECURITY_PROTOCOL.endsWith('SSL')) {
    if (s.KAFKA_SSL_CA_FILE) paths.ca = s.KAFKA_SSL_CA_FILE;
    if (s.KAFKA_SSL_CERT_FILE && s.KAFKA_SSL_KEY_FILE) Object.assign(paths, { cert: s.KAFKA_SSL_CERT_FILE, key: s.KAFKA_SSL_KEY_FILE });
  }
  // loadConfig fills KAFKA_SASL_PASSWORD from the file unless it was given inline; only a password
  // that came from the file follows the file.
  const pwFile = s?.KAFKA_SASL_PASSWORD_FILE;
  if (s?.KAFKA_SECURITY_PROTOCOL.startsWith('SASL_') && pwFile && readFileSync(pwFile, 'utf8').replace(/\r?\n$/, '') === s.KAFKA_SASL_PASSWORD)
    paths.password = pwFile;
  const listeners: Array<() => void> = [];
  let generation = 0;
  const watched: WatchedFiles<SecretFile> | undefined =
    Object.keys(paths).length > 0
      ? watchFiles(paths as Record<SecretFile, string>, s?.KAFKA_SECRETS_REFRESH_MS ?? 60_000, (m) => {
          // A certificate that does not match its key (a rotation caught half-way) is not taken yet.
          if (m.cert && m.key) createSecureContext({ cert: m.cert, key: m.key });
          if (m.password && m.password.toString('utf8').trim() === '') throw new Error('empty password file');
        })
      : undefined;
  watched?.onChange(() => {
    generation += 1;
    for (const l of listeners) l();
  });
  return {
    tls() {
      const m = watched?.current();
      return { ...(m?.ca ? { ca: m.ca } : {}), ...(m?.cert && m.key ? { cert: m.cert, key: m.key } : {}) };
    },
    password() {
      const m = watched?.current();
      return m?.password ? m.password.toString('utf8').replace(/\r?\n$/, '') : (s?.KAFKA_SASL_PASSWORD ?? '');
    },
    onChange: (l) => void listeners.push(l),
    get generation() {
      return generation;
    },
    close: () => watched?.close(),
  };
}

/**
 * The kafkajs `ssl`, `sasl` and `socketFactory` options for the settings. TLS material comes from
 * `secrets` for each new connection; the SASL password at each authentication; the OAUTHBEARER
 * token file on every token request.
 */
export function kafkaSecurityOptions(
  s: KafkaSecuritySettings | undefined,
  oauthBearerProvider?: KafkaOptions['oauthBearerProvider'],
  secrets: KafkaSecrets = kafkaSecrets(s),
): Partial<KafkaConfig> {
  if (!s || s.KAFKA_SECURITY_PROTOCOL === 'PLAINTEXT') return {};
  const out: Partial<KafkaConfig> = {};
  if (s.KAFKA_SECURITY_PROTOCOL.endsWith('SSL')) {
    // Without a CA file Node's own CA list applies (public CAs, as Confluent Cloud and Aiven's
    // Let's Encrypt listeners use); the broker's name is always verified.
    out.ssl = true;
    // kafkajs's own factory with the files as they are now, instead of as they were at start.
    out.socketFactory = ({ host, port, ssl, onConnect }) => {
      const socket: Socket = ssl
        ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...secrets.tls() }, onConnect)
        : netConnect({ host, port }, onConnect);
      socket.setKeepAlive(true, 60_000);
      return socket;
    };
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
      // kafkajs's PLAIN and SCRAM authenticators read `password` from this object at each
      // authentication: a getter hands them the file's current contents.
      const sasl = { mechanism, username: s.KAFKA_SASL_USERNAME ?? '' };
      Object.defineProperty(sasl, 'password', { enumerable: true, get: () => secrets.password() });
      out.sasl = sasl as SASLOptions;
    }
  }
  return out;
}

/**
 * Why a Kafka link failed, in words safe for readiness and logs: never the broker's message (it may
 * name the user) nor anything from the settings.
 */
export function kafkaFailureReason(err: unknown): string {
  const seen = new Set<unknown>();
  let e = err as { name?: string; code?: string | number; type?: string; message?: string; cause?: unknown; originalError?: unknown } | undefined;
  const chain: NonNullable<typeof e>[] = [];
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e);
    chain.push(e);
    e = (e.originalError ?? e.cause) as typeof e;
  }
  const any = (p: (x: NonNullable<typeof e>) => boolean) => chain.find(p);
  if (any((x) => x.name === 'KafkaJSSASLAuthenticationError' || /SASL .*authentication failed/i.test(String(x.message))))
    return 'authentication failed (SASL credentials refused by the broker)';
  const tls = any((x) => typeof x.code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(x.code));
  if (tls) return `TLS handshake failed (${tls.code})`;
  if (any((x) => /AUTHORIZATION_FAILED/.test(String(x.type)) || x.name === 'KafkaJSGroupCoordinatorNotFound'))
    return 'not authorized (a topic or group ACL refuses this principal)';
  if (any((x) => x.name === 'KafkaJSConnectionError' || x.name === 'KafkaJSConnectionClosedError' || x.name === 'KafkaJSBrokerNotFound'))
    return 'unreachable (no connection to the brokers)';
  if (any((x) => x.code === 'BUS_PUBLISH_FAILED' || x.name === 'KafkaJSRequestTimeoutError')) return 'no answer in time';
  return `failed (${chain[0]?.name ?? 'error'})`;
}

/** Whether a failure is one an operator must fix (credentials, certificates, ACLs), not an outage. */
export function kafkaRefused(reason: string): boolean {
  return /^(authentication failed|TLS handshake failed|not authorized)/.test(reason);
}

/** The state of one client's link to Kafka, for readiness: up, or down with the last reason. */
export class KafkaLink {
  private state: { up: boolean; reason?: string } = { up: false, reason: 'not connected yet' };
  up(): void {
    this.state = { up: true };
  }
  down(err: unknown): string {
    const reason = kafkaFailureReason(err);
    this.state = { up: false, reason };
    return reason;
  }
  get status(): { up: boolean; reason?: string } {
    return this.state;
  }
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
    ...kafkaSecurityOptions(opts.security, opts.oauthBearerProvider, opts.secrets ?? kafkaSecrets(opts.security)),
    ...extra,
  });
}
