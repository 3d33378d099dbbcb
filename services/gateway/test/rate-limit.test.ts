// phigate-test: stack
// The shared rate limit against the real Redis: two replicas leasing budget from one counter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redisFromEnv } from '@phigate/redis';
import { need, stackEnv, uniqueName } from '@phigate/testkit';
import { Redis } from 'ioredis';
import { createRedisRateLimit } from '../src/adapters/redis/rate-limit.js';

test('two replicas leasing from one budget never admit more than the limit, and admit nearly all of it', async (t) => {
  need('REDIS_URL');
  const redis = redisFromEnv(stackEnv(), { maxRetriesPerRequest: 1 });
  t.after(() => redis.disconnect());
  const prefix = `${uniqueName('rl-test')}:`;
  const limit = 500;
  const a = createRedisRateLimit(redis, limit, prefix);
  const b = createRedisRateLimit(redis, limit, prefix);
  // Stay inside one minute window, or the budget resets half-way.
  const msLeft = 60_000 - (Date.now() % 60_000);
  if (msLeft < 5000) await new Promise((r) => setTimeout(r, msLeft + 50));
  let admitted = 0;
  const calls: Promise<void>[] = [];
  for (let i = 0; i < 700; i++) {
    const replica = i % 3 === 0 ? b : a;
    calls.push(replica.take('svc').then((r) => void (r.allowed && admitted++)));
  }
  await Promise.all(calls);
  assert.ok(admitted <= limit, `admitted ${admitted} > ${limit}`);
  // Each replica may strand at most one lease (1/50 of the limit) unused.
  assert.ok(admitted >= limit - 2 * (limit / 50), `admitted only ${admitted}`);
  const refused = await a.take('svc');
  assert.equal(refused.allowed, false);
  assert.ok(refused.retryAfterSec >= 1);
  assert.equal((await a.take('other')).allowed, true, 'other identities have their own budget');
});

test('without Redis, requests are refused (fail closed)', async () => {
  const dead = new Redis('redis://127.0.0.1:9', { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  dead.on('error', () => {});
  const limiter = createRedisRateLimit(dead, 100, `${uniqueName('rl-dead')}:`);
  await assert.rejects(limiter.take('svc'), { code: 'GATEWAY_RATE_LIMIT_UNAVAILABLE' });
  dead.disconnect();
});
