import { AppError } from '@phigate/errors';
import type { RedisClient } from '@phigate/redis';
import type { RateLimitPort } from '../../domain/ports.js';

interface Lease {
  window: number;
  /** Requests this replica may still admit in `window` without asking Redis. */
  left: number;
  /** Size of the next lease: doubles while the identity keeps asking, up to the cap. */
  next: number;
}

/**
 * Per-identity fixed-window limit shared by every gateway replica through Redis, without a Redis
 * round trip per request: a replica takes a lease of budget (INCRBY) and spends it locally. Leases
 * start at one request and double while an identity keeps asking (up to 1/50 of the limit), so a
 * quiet identity costs one Redis call per request and a busy one one call per lease. What a
 * replica leased counts against the limit whether it is used or not, so the limit is never
 * exceeded across replicas; at worst a replica's unused lease is lost at the end of the window.
 * When Redis cannot grant a lease, the request is refused (fail closed) rather than let through.
 * `defaultPerMinute` applies to identities whose binding declares no limit of its own.
 */
export function createRedisRateLimit(redis: RedisClient, defaultPerMinute: number, prefix = 'phigate:rl:'): RateLimitPort {
  const leases = new Map<string, Lease>();
  let lastSweep = 0;
  return {
    async take(subject, bindingPerMinute) {
      const perMinute = bindingPerMinute ?? defaultPerMinute;
      const cap = Math.max(1, Math.floor(perMinute / 50));
      const now = Date.now();
      const window = Math.floor(now / 60_000);
      const retryAfterSec = Math.max(1, Math.ceil(((window + 1) * 60_000 - now) / 1000));
      const resetsAt = new Date((window + 1) * 60_000).toISOString();
      if (window !== lastSweep) {
        // Old windows' leases are worthless: drop them so the map stays bounded by active identities.
        for (const [k, l] of leases) if (l.window !== window) leases.delete(k);
        lastSweep = window;
      }
      let lease = leases.get(subject);
      if (lease?.window !== window) {
        lease = { window, left: 0, next: 1 };
        leases.set(subject, lease);
      }
      if (lease.left > 0) {
        lease.left--;
        return { allowed: true, retryAfterSec, resetsAt, perMinute };
      }
      const size = lease.next;
      // One key per identity and window: the transaction below stays on one Cluster slot.
      const key = `${prefix}${subject}:${window}`;
      let total: number;
      try {
        const res = await redis.multi().incrby(key, size).pexpire(key, 61_000).exec();
        total = Number(res?.[0]?.[1]);
        if (!Number.isFinite(total)) throw new Error('unexpected reply');
      } catch (cause) {
        throw new AppError('GATEWAY_RATE_LIMIT_UNAVAILABLE', { cause });
      }
      // Only the part of this lease that fits under the limit is usable.
      const granted = Math.min(size, perMinute - (total - size));
      if (granted <= 0) return { allowed: false, retryAfterSec, resetsAt, perMinute };
      // Another request of the same identity may have taken a lease meanwhile: add, never overwrite.
      const current = leases.get(subject);
      const target = current?.window === window ? current : lease;
      target.left += granted - 1;
      target.next = Math.min(cap, size * 2);
      if (target !== current) leases.set(subject, target);
      return { allowed: true, retryAfterSec, resetsAt, perMinute };
    },
  };
}
