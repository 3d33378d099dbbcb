// phigate-test: stack
// The held-request store against the stack's Redis (a single node): requests held by a gateway
// before the hash-tag key layout are adopted by the reconciler, not lost at the upgrade.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { redisFromEnv } from '@phigate/redis';
import { need, stackEnv, uniqueName } from '@phigate/testkit';
import { createRedisHeldStore } from '../src/adapters/redis/held-store.js';
import type { Continuation } from '../src/domain/held-queries.js';
import type { Keyring } from '../src/domain/sealing.js';

test('a request held under the old key (held:<id>) is found by the reconciler, renamed, and can be claimed', async (t) => {
  need('REDIS_URL');
  const redis = redisFromEnv(stackEnv(), { maxRetriesPerRequest: 1 });
  const prefix = `${uniqueName('held-legacy')}:`;
  t.after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  const keyring: Keyring = { activeKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) };
  const store = createRedisHeldStore(redis, { prefix, keyring: () => keyring });
  const id = randomUUID();
  const now = Date.now();
  const c = { ctx: { requestId: id }, sql: 'SELECT 1', params: [], approvalId: 'a1', expiresAt: new Date(now + 60_000).toISOString() };
  await store.put(c as unknown as Continuation, now + 120_000);
  await redis.rename(`${prefix}held:{${id}}`, `${prefix}held:${id}`);

  assert.deepEqual(
    (await store.open(now)).map((o) => [o.requestId, o.status, o.approvalId]),
    [[id, 'pending', 'a1']],
  );
  assert.equal(await redis.exists(`${prefix}held:{${id}}`), 1, 'renamed to the new key');
  assert.equal(await store.claim(id, 'replica-a', now), true);
});
