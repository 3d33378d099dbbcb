// docs/configuration.md, generated from what each service actually validates at start-up: the
// zod schema in services/<name>/src/config.ts says whether a variable is required and its
// default; the doc comment above it in that file says what it means.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '@phigate/testkit';

export const SERVICES = [
  { name: 'gateway', exportName: 'gatewayConfigSchema' },
  { name: 'policy', exportName: 'policyConfigSchema' },
  { name: 'masking', exportName: 'maskingConfigSchema' },
  { name: 'audit', exportName: 'auditConfigSchema' },
  { name: 'approval', exportName: 'approvalConfigSchema' },
] as const;

// Fields shared through @phigate/config, described once.
const SHARED: Record<string, string> = {
  LOG_LEVEL: 'fatal, error, warn, info, debug, trace or silent',
  KAFKA_BROKERS: 'comma-separated Kafka bootstrap servers (host:port)',
  KAFKA_SECURITY_PROTOCOL:
    'PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (managed Kafka services: SASL_SSL); a link that is not both encrypted and authenticated is refused to brokers that are not loopback unless KAFKA_PLAINTEXT',
  KAFKA_SSL_CA_FILE: "PEM of the CA that signs the brokers' certificates (SSL, SASL_SSL); unset: the system CAs",
  KAFKA_SSL_CERT_FILE: 'client certificate (PEM) presented to the brokers, with KAFKA_SSL_KEY_FILE (SSL, SASL_SSL)',
  KAFKA_SSL_KEY_FILE: 'private key (PEM) of KAFKA_SSL_CERT_FILE',
  KAFKA_SASL_MECHANISM: 'plain, scram-sha-256, scram-sha-512 or oauthbearer (SASL_SSL, SASL_PLAINTEXT)',
  KAFKA_SASL_USERNAME: 'SASL user (plain, scram-*)',
  KAFKA_SASL_PASSWORD: 'SASL password (plain, scram-*); usually KAFKA_SASL_PASSWORD_FILE',
  KAFKA_SASL_PASSWORD_FILE:
    'file holding the SASL password, re-read every KAFKA_SECRETS_REFRESH_MS: a changed password is used by new connections, and producers and consumers reconnect with it',
  KAFKA_SASL_OAUTHBEARER_TOKEN_FILE:
    'oauthbearer: a file holding the current access token, re-read whenever the client needs one (kept fresh by a sidecar, a projected token or a job)',
  KAFKA_SECRETS_REFRESH_MS:
    'how often KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE, KAFKA_SSL_KEY_FILE and KAFKA_SASL_PASSWORD_FILE are re-read: rotated files take effect without a restart',
  KAFKA_PLAINTEXT:
    'true: allow a Kafka link that is unencrypted or unauthenticated to brokers that are not loopback (audit events, statements included, would cross the network in clear)',
  REDIS_URL:
    'Redis URL: rediss://[user:password@]host:port[/db] for TLS, redis:// for plaintext (refused unless loopback or REDIS_PLAINTEXT); in cluster mode a seed node, in sentinel mode only its scheme and credentials count',
  REDIS_MODE: 'standalone (one node), sentinel (the primary REDIS_SENTINEL_NAME that REDIS_SENTINELS name) or cluster (Redis Cluster)',
  REDIS_USERNAME: 'Redis ACL user (instead of the one in REDIS_URL)',
  REDIS_PASSWORD: 'Redis password (instead of the one in REDIS_URL); usually REDIS_PASSWORD_FILE',
  REDIS_TLS_CA_FILE: 'PEM of the CA that signs the Redis server certificate, trusted besides the system CAs (rediss:// only)',
  REDIS_TLS_CERT_FILE: 'client certificate (PEM) presented to Redis, with REDIS_TLS_KEY_FILE (rediss:// only)',
  REDIS_TLS_KEY_FILE: 'private key (PEM) of REDIS_TLS_CERT_FILE',
  REDIS_SENTINELS: 'sentinel mode: comma-separated host:port of the sentinels (reached with the same TLS as the primary)',
  REDIS_SENTINEL_NAME: 'sentinel mode: the name of the monitored primary',
  REDIS_SENTINEL_USERNAME: 'sentinel mode: ACL user of the sentinels, when they require one',
  REDIS_SENTINEL_PASSWORD: 'sentinel mode: password of the sentinels, when they require one; usually REDIS_SENTINEL_PASSWORD_FILE',
  REDIS_CLUSTER_NODES: 'cluster mode: more comma-separated host:port seed nodes besides REDIS_URL',
  REDIS_PLAINTEXT: 'true: allow redis:// to an address that is not loopback (held statements and results would cross the network in clear)',
  OIDC_ISSUER: 'the trusted token issuer (iss), a URL',
  OIDC_AUDIENCE: 'the audience (aud) a token must carry',
  OIDC_JWKS_URI: "the issuer's JWKS URL",
  OIDC_EXTRA_ISSUERS: 'more trusted issuers: JSON array of {issuer, audience, jwksUri, groupsClaim?}',
  OIDC_CLOCK_SKEW_SEC: 'tolerated clock skew for exp/nbf, 0–300 seconds',
  INTERNAL_TLS_CA_FILE:
    "internal mutual TLS (gRPC between gateway, policy and masking; HTTPS from the gateway to approval's internal API): PEM of the CA that signs every service's certificate; set with CERT and KEY, or INTERNAL_PLAINTEXT",
  INTERNAL_TLS_CERT_FILE: "internal mutual TLS: this service's certificate (PEM), presented as server and as client",
  INTERNAL_TLS_KEY_FILE: "internal mutual TLS: this service's private key (PEM)",
  INTERNAL_TLS_REFRESH_MS: 'how often the internal TLS files are re-read: a rotated certificate takes effect without a restart',
  INTERNAL_PLAINTEXT: 'true: internal gRPC and HTTP without TLS, refused unless every internal address is loopback',
};

interface Field {
  key: string;
  requirement: 'required' | 'optional' | 'default';
  defaultValue: string;
  meaning: string;
}

type Schema = { shape: Record<string, { safeParse(v: unknown): { success: boolean; data?: unknown } }> };

/** Doc comments above `KEY:` lines in a config source file. */
export function comments(source: string): Map<string, string> {
  const out = new Map<string, string>();
  // One comment's text never spans a `*/`: a comment above a helper must not run on to the next key.
  const re = /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*\n\s*([A-Z][A-Z0-9_]+)\s*:/g;
  for (const m of source.matchAll(re)) {
    const text = (m[1] ?? '')
      .split('\n')
      .map((l) => l.replace(/^\s*\*\s?/, '').trim())
      .filter(Boolean)
      .join(' ');
    if (m[2]) out.set(m[2], text);
  }
  return out;
}

function bySuffix(key: string): string {
  if (key.endsWith('_HOST')) return 'listen address';
  if (key.endsWith('_HTTP_PORT')) return 'HTTP port (API and ops routes)';
  if (key.endsWith('_OPS_PORT')) return 'ops port (/livez, /readyz, /metrics)';
  if (key.endsWith('_GRPC_PORT')) return 'gRPC port';
  if (key.endsWith('_GRPC_ADDR')) return 'host:port of that gRPC service';
  return '';
}

function show(v: unknown): string {
  if (Array.isArray(v)) return v.join(',');
  if (v && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export async function fieldsOf(service: (typeof SERVICES)[number]): Promise<Field[]> {
  const dir = join(REPO_ROOT, 'services', service.name);
  const mod = (await import(pathToFileURL(join(dir, 'dist/src/config.js')).href)) as Record<string, Schema>;
  const schema = mod[service.exportName];
  if (!schema?.shape) throw new Error(`services/${service.name}: no ${service.exportName} in dist/src/config.js (build first)`);
  const docs = comments(readFileSync(join(dir, 'src/config.ts'), 'utf8'));
  return Object.entries(schema.shape).map(([key, field]) => {
    const r = field.safeParse(undefined);
    const requirement = !r.success ? 'required' : r.data === undefined ? 'optional' : 'default';
    return {
      key,
      requirement,
      defaultValue: requirement === 'default' ? show(r.data) : '',
      meaning: (docs.get(key) ?? SHARED[key] ?? bySuffix(key)).replaceAll('|', '\\|'),
    };
  });
}

export async function render(): Promise<string> {
  const parts = [
    '# Configuration reference',
    '',
    "<!-- Generated by tools/reference (npm run docs:config) from each service's config schema; do not edit by hand. -->",
    '',
    'Every service reads its configuration from environment variables once, at start-up, validates',
    'all of it, and refuses to start (exit 1, one JSON log line listing every problem) when anything',
    'is wrong. Any variable may instead be given as `<NAME>_FILE`, the path of a file holding the',
    'value (used when `<NAME>` is unset or empty; one trailing newline is trimmed): use that for',
    'every secret. "required" means the service does not start without it.',
  ];
  for (const s of SERVICES) {
    parts.push('', `## ${s.name}`, '', `Schema: [services/${s.name}/src/config.ts](../services/${s.name}/src/config.ts).`, '');
    parts.push('| variable | default | meaning |', '| --- | --- | --- |');
    for (const f of await fieldsOf(s)) {
      const def = f.requirement === 'required' ? '**required**' : f.requirement === 'optional' ? '(unset)' : `\`${f.defaultValue || '""'}\``;
      parts.push(`| \`${f.key}\` | ${def} | ${f.meaning} |`);
    }
  }
  return `${parts.join('\n')}\n`;
}
