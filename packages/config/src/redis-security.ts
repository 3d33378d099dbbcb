import { z } from 'zod';
import { fields, isLoopbackAddress } from './index.js';

// Redis link settings shared by every service that uses Redis (gateway, approval). The client
// factory that turns them into an ioredis connection is @phigate/redis, so that this package stays
// free of client libraries.

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/;
const hostPortList = () =>
  fields.list().pipe(z.array(z.string().regex(HOST_PORT, 'must be a comma-separated list of host:port')).min(1, 'must name at least one host:port'));

/**
 * How a service reaches Redis. REDIS_URL's scheme decides TLS (`rediss://`) and its user and
 * password authenticate (Redis 6 ACL); REDIS_MODE chooses a single node, Sentinel or Redis Cluster.
 * Plaintext (`redis://`) to an address that is not loopback needs REDIS_PLAINTEXT=true (checked by
 * {@link redisProblems}).
 */
export const redisFields = () => ({
  REDIS_URL: z.url().refine((u) => /^rediss?:\/\//.test(u), 'must be a redis:// or rediss:// URL'),
  REDIS_MODE: z.enum(['standalone', 'sentinel', 'cluster']).default('standalone'),
  REDIS_USERNAME: z.string().min(1).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  REDIS_TLS_CERT_FILE: z.string().min(1).optional(),
  REDIS_TLS_KEY_FILE: z.string().min(1).optional(),
  REDIS_SENTINELS: hostPortList().optional(),
  REDIS_SENTINEL_NAME: z.string().min(1).optional(),
  REDIS_SENTINEL_USERNAME: z.string().min(1).optional(),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  REDIS_CLUSTER_NODES: hostPortList().optional(),
  REDIS_PLAINTEXT: fields.bool(false),
});

/** The parsed {@link redisFields}. */
export interface RedisSettings {
  REDIS_URL: string;
  REDIS_MODE: 'standalone' | 'sentinel' | 'cluster';
  REDIS_USERNAME?: string | undefined;
  REDIS_PASSWORD?: string | undefined;
  REDIS_TLS_CA_FILE?: string | undefined;
  REDIS_TLS_CERT_FILE?: string | undefined;
  REDIS_TLS_KEY_FILE?: string | undefined;
  REDIS_SENTINELS?: readonly string[] | undefined;
  REDIS_SENTINEL_NAME?: string | undefined;
  REDIS_SENTINEL_USERNAME?: string | undefined;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
  REDIS_CLUSTER_NODES?: readonly string[] | undefined;
  REDIS_PLAINTEXT: boolean;
}

/** Whether the settings ask for TLS (a `rediss://` URL). */
export function redisUsesTls(c: Pick<RedisSettings, 'REDIS_URL'>): boolean {
  return c.REDIS_URL.startsWith('rediss://');
}

/** Every address the client dials: the URL's host (not in sentinel mode), the sentinels, the cluster seeds. */
export function redisAddresses(c: RedisSettings): string[] {
  const u = new URL(c.REDIS_URL);
  const own = `${u.hostname}:${u.port || '6379'}`;
  if (c.REDIS_MODE === 'sentinel') return [...(c.REDIS_SENTINELS ?? [])];
  if (c.REDIS_MODE === 'cluster') return [own, ...(c.REDIS_CLUSTER_NODES ?? [])];
  return [own];
}

/**
 * What is wrong with the Redis settings: the mode's own settings, client certificate and key
 * together, TLS files only with `rediss://`, and plaintext only on loopback unless REDIS_PLAINTEXT
 * says otherwise. For a schema's `superRefine`, or called after loading.
 */
export function redisProblems(c: RedisSettings): string[] {
  const problems: string[] = [];
  const tls = redisUsesTls(c);
  if (c.REDIS_MODE === 'sentinel' && (!c.REDIS_SENTINELS?.length || !c.REDIS_SENTINEL_NAME))
    problems.push('REDIS_SENTINELS and REDIS_SENTINEL_NAME: required when REDIS_MODE=sentinel');
  if (c.REDIS_MODE !== 'sentinel' && (c.REDIS_SENTINELS || c.REDIS_SENTINEL_NAME || c.REDIS_SENTINEL_USERNAME || c.REDIS_SENTINEL_PASSWORD))
    problems.push('REDIS_SENTINELS, REDIS_SENTINEL_*: only with REDIS_MODE=sentinel');
  if (c.REDIS_MODE !== 'cluster' && c.REDIS_CLUSTER_NODES) problems.push('REDIS_CLUSTER_NODES: only with REDIS_MODE=cluster');
  if (Boolean(c.REDIS_TLS_CERT_FILE) !== Boolean(c.REDIS_TLS_KEY_FILE)) problems.push('REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE: set both, or neither');
  if (!tls && (c.REDIS_TLS_CA_FILE || c.REDIS_TLS_CERT_FILE || c.REDIS_TLS_KEY_FILE))
    problems.push('REDIS_TLS_*: set, but REDIS_URL is redis:// (plaintext); use rediss://');
  if (tls && c.REDIS_PLAINTEXT) problems.push('REDIS_PLAINTEXT: set together with a rediss:// REDIS_URL; choose one');
  if (!tls && !c.REDIS_PLAINTEXT) {
    const remote = redisAddresses(c).filter((a) => !isLoopbackAddress(a));
    if (remote.length)
      problems.push(
        `REDIS_URL: plaintext redis:// refused, ${remote.join(', ')} is not a loopback address (held statements and credentials would cross the network in clear); use rediss:// or set REDIS_PLAINTEXT=true`,
      );
  }
  return problems;
}

/**
 * {@link redisFields} wrapped for a service's schema: `z.object({...}).superRefine(redisRefine)` adds
 * {@link redisProblems} to the problems loadConfig reports.
 */
export function redisRefine(c: RedisSettings, ctx: z.RefinementCtx): void {
  for (const message of redisProblems(c)) ctx.addIssue({ code: 'custom', message });
}

/** REDIS_URL without its password, for logs and readiness. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}
