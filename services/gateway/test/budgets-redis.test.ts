// phigate-test: stack
// PHI budgets against the real Redis (adapters/redis/budgets.ts): two replicas consuming one
// identity's budgets concurrently stop exactly at the limit, all or nothing across budgets,
// distinct patients counted exactly over a sliding window, and no Redis means no rows (fail closed).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type TestContext, test } from 'node:test';
import { redisFromEnv } from '@phigate/redis';
import { need, stackEnv, uniqueName } from '@phigate/testkit';
import { Redis } from 'ioredis';
import { createRedisBudgets } from '../src/adapters/redis/budgets.js';
import type { Budget, BudgetScope } from '../src/domain/budgets.js';

const keyring = { activeKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) };

function budget(over: Partial<Budget>): Budget {
  return {
    id: 'b',
    windowSec: 3600,
    limits: {},
    columns: ['*.patients.*'],
    clear: ['none'],
    patientColumns: ['*.patients.id'],
    onExceed: 'deny',
    alertAt: 0.8,
    ...over,
  };
}
const scope = (b: Budget): BudgetScope => ({ budget: b, counter: b.id });

/** The stack's Redis, disconnected when the test ends. */
function stackRedis(t: TestContext) {
  need('REDIS_URL');
  const redis = redisFromEnv(stackEnv(), { maxRetriesPerRequest: 1 });
  t.after(() => redis.disconnect());
  return redis;
}

test('two replicas consuming one budget concurrently stop exactly at its limit', async (t) => {
  const redis = stackRedis(t);
  const prefix = `${uniqueName('budget-test')}:`;
  const a = createRedisBudgets(redis, { prefix, keyring: () => keyring });
  const b = createRedisBudgets(redis, { prefix, keyring: () => keyring });
  const rows = scope(budget({ id: 'rows', limits: { rows: 1000 } }));
  const pages = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? b : a).consume('svc', [rows], { rows: 100, bytes: 0, patients: [] }));
  const results = await Promise.all(pages);
  assert.equal(results.filter((r) => r.allowed).length, 10, 'exactly 10 pages of 100 fit in 1,000 rows');
  const refused = results.find((r) => !r.allowed)!;
  assert.deepEqual(refused.states[0]!.exceeded, ['rows']);
  assert.equal(refused.states[0]!.before.rows, 1000);
  const thresholds = results.filter((r) => r.states[0]!.thresholds.includes('rows'));
  assert.equal(thresholds.length, 1, 'the 80% threshold is crossed once');
  assert.equal((await a.consume('other', [rows], { rows: 100, bytes: 0, patients: [] })).allowed, true, 'each identity has its own budget');
});

test('all or nothing across budgets; alert budgets are exceeded and served; patients are distinct keyed hashes', async (t) => {
  const redis = stackRedis(t);
  const prefix = `${uniqueName('budget-test')}:`;
  const port = createRedisBudgets(redis, { prefix, keyring: () => keyring });
  const h = (n: number) => port.patientHash('clinical-pg', String(n));
  assert.equal(h(1), h(1));
  assert.notEqual(h(1), port.patientHash('clinical-sf', '1'), 'keyed per connection');
  assert.doesNotMatch(h(12345), /12345/);
  const patients = scope(budget({ id: 'patients', limits: { patients: 5 } }));
  const alert = scope(budget({ id: 'bytes-alert', limits: { bytes: 10 }, onExceed: 'alert' }));
  const first = await port.consume('svc', [patients, alert], { rows: 3, bytes: 8, patients: [h(1), h(2), h(3)] });
  assert.equal(first.allowed, true);
  // The same patients again are not new; two more make five.
  const again = await port.consume('svc', [patients, alert], { rows: 3, bytes: 8, patients: [h(1), h(4), h(5)] });
  assert.equal(again.allowed, true);
  assert.deepEqual(again.states[1]!.exceeded, ['bytes'], 'the alert budget is exceeded, and the statement served');
  assert.equal(again.states[0]!.after.patients, 5);
  // A sixth patient would exceed the deny budget: nothing is consumed from either budget.
  const refused = await port.consume('svc', [patients, alert], { rows: 1, bytes: 100, patients: [h(6)] });
  assert.equal(refused.allowed, false);
  const after = await port.consume('svc', [patients, alert], { rows: 1, bytes: 1, patients: [h(5)] });
  assert.equal(after.allowed, true, 'a patient already in the window costs nothing new');
  assert.equal(after.states[1]!.before.bytes, 16, 'the refused statement consumed no bytes');
  const keys = await redis.keys(`${prefix}*`);
  assert.ok(keys.length > 0 && keys.every((k) => k.startsWith(`${prefix}{svc}:`)), `one hash tag per identity: ${keys.join(', ')}`);
});

test('the window slides: use older than the window no longer counts', async (t) => {
  const redis = stackRedis(t);
  let now = 1_800_000_000_000;
  const port = createRedisBudgets(redis, { prefix: `${uniqueName('budget-test')}:`, keyring: () => keyring, now: () => now });
  const b = scope(budget({ id: 'w', windowSec: 600, limits: { rows: 100, patients: 2 } }));
  assert.equal((await port.consume('svc', [b], { rows: 100, bytes: 0, patients: ['p1', 'p2'] })).allowed, true);
  now += 300_000;
  assert.equal((await port.consume('svc', [b], { rows: 1, bytes: 0, patients: [] })).allowed, false, 'half a window later, still full');
  now += 300_000 + 10_000; // one bucket (10 s of a 600 s window) past the window
  const later = await port.consume('svc', [b], { rows: 100, bytes: 0, patients: ['p3', 'p4'] });
  assert.equal(later.allowed, true, 'a window later, the budget is whole again');
  assert.deepEqual([later.states[0]!.before.rows, later.states[0]!.before.patients], [0, 0]);
});

test('without Redis, a budgeted result is refused (fail closed)', async () => {
  const dead = new Redis('redis://127.0.0.1:9', { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  dead.on('error', () => {});
  const port = createRedisBudgets(dead, { prefix: `${uniqueName('budget-dead')}:`, keyring: () => keyring });
  await assert.rejects(port.consume('svc', [scope(budget({ limits: { rows: 10 } }))], { rows: 1, bytes: 0, patients: [] }), {
    code: 'GATEWAY_BUDGET_UNAVAILABLE',
  });
});
