// phigate-test: stack
// The gateway's Redis state on a real Redis Cluster (three primaries started for this file, TLS when
// the stack's Redis uses it): held requests, their scripts and index, the rate limit and the
// Snowflake door's sessions, and the PHI budgets never touch two slots in one command (no CROSSSLOT).
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { type RedisClient, redisFromEnv } from '@phigate/redis';
import { eventually, type LocalRedis, startRedisCluster, uniqueName } from '@phigate/testkit';
import { createRedisBudgets } from '../src/adapters/redis/budgets.js';
import { createRedisHeldStore, outcomesChannel } from '../src/adapters/redis/held-store.js';
import { createRedisRateLimit } from '../src/adapters/redis/rate-limit.js';
import { SfStore } from '../src/adapters/snowflake/store.js';
import type { Budget, BudgetScope } from '../src/domain/budgets.js';
import type { Continuation } from '../src/domain/held-queries.js';
import type { Keyring } from '../src/domain/sealing.js';

let cluster: LocalRedis;
let redis: RedisClient;
const keyring: Keyring = { activeKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) };

before(async () => {
  cluster = await startRedisCluster(3);
  redis = redisFromEnv(cluster.env, { maxRetriesPerRequest: 1 });
});
after(async () => {
  redis?.disconnect();
  await cluster?.stop();
});

test('the cluster is real: a script over two hash tags is refused with CROSSSLOT', async () => {
  assert.equal(cluster.nodes.length, 3);
  await assert.rejects(redis.eval("return redis.call('MGET', KEYS[1], KEYS[2])", 2, '{a}:x', '{b}:x'), /CROSSSLOT/);
});

function continuation(requestId: string, expiresAt: number): Continuation {
  // Only what the store reads; the rest is sealed as it is.
  return { ctx: { requestId }, sql: 'SELECT 1', params: [], approvalId: '', expiresAt: new Date(expiresAt).toISOString() } as unknown as Continuation;
}

test('held requests: put, claim, finish and the open index across slots; the outcome is announced', async (t) => {
  const prefix = `${uniqueName('held-cluster')}:`;
  const store = createRedisHeldStore(redis, { prefix, keyring: () => keyring });
  const sub = redisFromEnv(cluster.env);
  t.after(() => sub.disconnect());
  const announced: string[] = [];
  sub.on('message', (_channel: string, id: string) => announced.push(id));
  await sub.subscribe(outcomesChannel(prefix));

  const now = Date.now();
  const ids = Array.from({ length: 12 }, () => randomUUID());
  for (const id of ids) await store.put(continuation(id, now + 60_000), now + 120_000);
  // Twelve request ids land on more than one slot owner; each request's keys stay on one.
  const owners = new Set(ids.map((id) => (redis as unknown as { slots: string[][] }).slots[slotOf(`${prefix}held:{${id}}`)]?.[0]));
  assert.ok(owners.size > 1, 'the requests should spread over the primaries');

  const [first, second] = ids as [string, string];
  await store.setApproval(first, 'approval-1');
  assert.equal((await store.get(first))?.continuation.approvalId, 'approval-1');
  assert.equal(await store.claim(first, 'replica-a', now), true);
  assert.equal(await store.claim(first, 'replica-b', now), false, 'exactly one claim');
  await store.finish(first, { kind: 'error', code: 'GATEWAY_APPROVAL_DENIED', message: 'denied', details: {} });
  await store.finish(second, { kind: 'error', code: 'GATEWAY_APPROVAL_EXPIRED', message: 'expired', details: {} });
  assert.equal((await store.get(first))?.status, 'failed');
  assert.equal((await store.get(first))?.outcome?.kind, 'error');

  const open = await store.open(now + 1);
  assert.deepEqual(open.map((o) => o.requestId).sort(), ids.slice(2).sort());
  await eventually('both outcomes announced', async () => (announced.includes(first) && announced.includes(second) ? true : undefined));

  // A finished request left in the index (its removal after the script failed) is dropped by the reconciler.
  await redis.zadd(`${prefix}held-open`, now, first);
  assert.ok(!(await store.open(now + 1)).some((o) => o.requestId === first));
  assert.equal(await redis.zscore(`${prefix}held-open`, first), null);
});

test('the rate limit leases budget from one key per identity and window', async () => {
  const limit = createRedisRateLimit(redis, 3, `${uniqueName('rl-cluster')}:`);
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push((await limit.take('someone')).allowed);
  assert.deepEqual(answers, [true, true, true, false]);
});

test('PHI budgets: one script per statement over every budget of an identity, on one slot, all or nothing', async () => {
  const budgets = createRedisBudgets(redis, { prefix: `${uniqueName('budget-cluster')}:`, keyring: () => keyring });
  const budget = (id: string, limits: Budget['limits']): BudgetScope => ({
    counter: id,
    budget: { id, windowSec: 600, limits, columns: ['*.patients.*'], clear: ['none'], patientColumns: ['*.patients.id'], onExceed: 'deny', alertAt: 0.8 },
  });
  const scopes = [budget('rows', { rows: 10 }), budget('patients', { patients: 3 })];
  // Identities land on different primaries; each one's budgets stay on its slot.
  for (const subject of ['agent-a', 'agent-b', 'agent-c', 'agent-d']) {
    const patients = ['1', '2', '3'].map((v) => budgets.patientHash('c', v));
    assert.equal((await budgets.consume(subject, scopes, { rows: 5, bytes: 0, patients })).allowed, true);
    const over = await budgets.consume(subject, scopes, { rows: 1, bytes: 0, patients: [budgets.patientHash('c', '4')] });
    assert.equal(over.allowed, false, 'the patients budget refuses, and the rows budget consumes nothing');
    assert.equal((await budgets.consume(subject, scopes, { rows: 5, bytes: 0, patients: [] })).states[0]?.before.rows, 5);
  }
});

test('Snowflake door sessions: created, found by either token, renewed and ended across slots', async () => {
  const store = new SfStore(redis, { prefix: `${uniqueName('sf-cluster')}:`, keyring: () => keyring, resultTtlMs: 60_000 });
  const now = Date.now();
  const { session, token, masterToken } = await store.createSession({
    identity: { subject: 'etl-pipeline', groups: [] },
    connection: 'clinical-sf',
    role: 'r',
    database: 'D',
    schema: 'S',
    warehouse: 'W',
    tokenExpires: now + 60_000,
    masterExpires: now + 120_000,
  } as unknown as Parameters<SfStore['createSession']>[0]);
  assert.equal((await store.sessionByToken(token))?.id, session.id);
  assert.equal((await store.sessionByMaster(masterToken))?.id, session.id);
  const renewed = await store.renew(session, 60_000);
  assert.equal(await store.sessionByToken(token), undefined, 'the old session token stops working');
  assert.equal((await store.sessionByToken(renewed.token))?.id, session.id);
  await store.endSession(renewed.session);
  assert.equal(await store.sessionByMaster(masterToken), undefined);
  assert.equal(await store.sessionAlive(session.id), false);
});

// CRC16/XMODEM of the key's hash tag, as Redis Cluster computes slots.
function slotOf(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const tagged = open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(tagged)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
