import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { type Env, loadConfig, type RedisSettings, redisFields, redisRefine, z } from '@phigate/config';
import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** What the services use: one node (or the Sentinel-elected primary) or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** Connection behaviour the caller chooses; the link (address, TLS, credentials) comes from the settings. */
export interface RedisClientOptions {
  lazyConnect?: boolean;
  connectTimeout?: number;
  /** null: retry a command until the link is back (subscribers); a number: fail fast (fail closed). */
  maxRetriesPerRequest?: number | null;
  enableOfflineQueue?: boolean;
}

/**
 * An ioredis client for {@link RedisSettings}, validated beforehand by `redisProblems`: a single
 * node, the primary Sentinel names, or a Cluster; TLS when REDIS_URL is `rediss://` (REDIS_TLS_CA_FILE
 * trusted besides the system CAs, a client certificate when given); ACL user and password from the
 * URL, or REDIS_USERNAME / REDIS_PASSWORD(_FILE). The files are read once, here.
 */
export function createRedisClient(c: RedisSettings, options: RedisClientOptions = {}): RedisClient {
  const u = new URL(c.REDIS_URL);
  const tls = tlsOptions(c);
  const auth: Pick<RedisOptions, 'username' | 'password'> = {};
  const username = c.REDIS_USERNAME ?? (u.username ? decodeURIComponent(u.username) : undefined);
  const password = c.REDIS_PASSWORD ?? (u.password ? decodeURIComponent(u.password) : undefined);
  if (username) auth.username = username;
  if (password) auth.password = password;
  const db = Number(u.pathname.slice(1) || 0);
  const common: RedisOptions = {
    ...auth,
    ...(tls ? { tls } : {}),
    ...(options.connectTimeout !== undefined ? { connectTimeout: options.connectTimeout } : {}),
  };
  if (options.maxRetriesPerRequest !== undefined) common.maxRetriesPerRequest = options.maxRetriesPerRequest;

  if (c.REDIS_MODE === 'cluster') {
    const seeds = [`${u.hostname}:${u.port || 6379}`, ...(c.REDIS_CLUSTER_NODES ?? [])].map(hostPort);
    return new Cluster(seeds, {
      redisOptions: common,
      lazyConnect: options.lazyConnect ?? false,
      enableOfflineQueue: options.enableOfflineQueue ?? true,
      // With TLS, keep the node names as given so certificates are checked against them, not
      // against the addresses they resolve to (ElastiCache, Azure and Redis Cloud certificates name hosts).
      ...(tls ? { dnsLookup: (address: string, callback: (err: Error | null, address: string) => void) => callback(null, address) } : {}),
    });
  }
  const base: RedisOptions = {
    ...common,
    db,
    lazyConnect: options.lazyConnect ?? false,
    enableOfflineQueue: options.enableOfflineQueue ?? true,
  };
  if (c.REDIS_MODE === 'sentinel') {
    return new Redis({
      ...base,
      sentinels: (c.REDIS_SENTINELS ?? []).map(hostPort),
      name: c.REDIS_SENTINEL_NAME ?? '',
      // The same TLS for the sentinels as for the primary they name; their own credentials, if any.
      ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
      ...(c.REDIS_SENTINEL_USERNAME ? { sentinelUsername: c.REDIS_SENTINEL_USERNAME } : {}),
      ...(c.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: c.REDIS_SENTINEL_PASSWORD } : {}),
    });
  }
  return new Redis({ ...base, host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379) });
}

function tlsOptions(c: RedisSettings): ConnectionOptions | undefined {
  if (!c.REDIS_URL.startsWith('rediss://')) return undefined;
  const tls: ConnectionOptions = {};
  if (c.REDIS_TLS_CA_FILE) tls.ca = readFileSync(c.REDIS_TLS_CA_FILE);
  if (c.REDIS_TLS_CERT_FILE && c.REDIS_TLS_KEY_FILE) {
    tls.cert = readFileSync(c.REDIS_TLS_CERT_FILE);
    tls.key = readFileSync(c.REDIS_TLS_KEY_FILE);
  }
  return tls;
}

function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/**
 * The hash tag that keeps every key of one held request, approval or session on one Redis Cluster
 * slot, so the atomic scripts and transactions over them never fail with CROSSSLOT: `{id}`. Every
 * key of one id starts its tag the same way, so they share a slot even when the id holds a brace
 * (Redis hashes what lies between the first `{` and the next `}`).
 */
export function hashTag(id: string): string {
  return `{${id}}`;
}

/**
 * The REDIS_* variables of `env` (and their `_FILE` forms): what a test or tool hands on to a
 * service's config so it reaches the same Redis the same way (TLS, CA, credentials, mode).
 */
export function redisEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('REDIS_') && v !== undefined) out[k] = v;
  return out;
}

/** A client for the Redis that `env`'s REDIS_* variables name, validated as a service's would be. */
export function redisFromEnv(env: Env, options: RedisClientOptions = {}): RedisClient {
  return createRedisClient(loadConfig(z.object(redisFields()).superRefine(redisRefine), redisEnv(env)), options);
}
