import { AppError } from '@phigate/errors';
import type { Redis } from 'ioredis';
import type { RateLimitPort } from '../../domain/ports.js';

/**
 * Per-identity fixed-window limit shared by every gateway replica through Redis. When Redis cannot
 * answer, the request is refused (fail closed) rather than let through unlimited.
 */
export function createRedisRateLimit(redis: Redis, perMinute: number, prefix = 'phigate:rl:'): RateLimitPort {
  return {
    async take(subject) {
      const now = Date.now();
      const window = Math.floor(now / 60_000);
      const key = `${prefix}${subject}:${window}`;
      let count: number;
      try {
        const res = await redis.multi().incr(key).pexpire(key, 61_000).exec();
        count = Number(res?.[0]?.[1]);
        if (!Number.isFinite(count)) throw new Error('unexpected reply');
      } catch (cause) {
        throw new AppError('GATEWAY_RATE_LIMIT_UNAVAILABLE', { cause });
      }
      return { allowed: count <= perMinute, retryAfterSec: Math.max(1, Math.ceil(((window + 1) * 60_000 - now) / 1000)) };
    },
  };
}
