// phigate-test: stack
// Approvals on the Redis topologies besides a single node, each started for this file (TLS when the
// stack's Redis uses it): a three-primary Redis Cluster, where the vote script keeps an approval
// and its replay keys on one slot and the request and pending indexes are written outside it (no
// CROSSSLOT), and a primary found through a Sentinel.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { type TestContext, test } from 'node:test';
import { redisFromEnv } from '@phigate/redis';
import { eventually, type LocalRedis, startRedisCluster, startRedisSentinel, uniqueName } from '@phigate/testkit';
import { createRedisApprovalStore, decisionsChannel } from '../src/adapters/redis/approval-store.js';
import type { ApprovalRequest } from '../src/domain/approvals.js';

function request(over: Partial<ApprovalRequest> = {}): ApprovalRequest {
  return {
    approvalId: randomUUID(),
    requestId: randomUUID(),
    requester: 'analytics-agent',
    connection: 'clinical-pg',
    role: 'r',
    statementRedacted: 'SELECT ssn FROM patients WHERE id = ?',
    tables: ['patients'],
    phiColumns: ['ssn'],
    ruleIds: ['r1'],
    reason: 'test',
    approverGroups: ['phi-approvers'],
    quorum: 1,
    expiresAt: new Date(Date.now() + 60_000).toISOString(),
    ...over,
  };
}

test('approvals on a cluster: one per request, votes with replay keys, decisions announced, the pending index kept', async (t) => {
  await approvalsOn(t, await startRedisCluster(3));
});

test('approvals through a Sentinel: the same, on the primary it names', async (t) => {
  await approvalsOn(t, await startRedisSentinel());
});

async function approvalsOn(t: TestContext, cluster: LocalRedis): Promise<void> {
  const redis = redisFromEnv(cluster.env, { maxRetriesPerRequest: 1 });
  const sub = redisFromEnv(cluster.env);
  t.after(async () => {
    redis.disconnect();
    sub.disconnect();
    await cluster.stop();
  });
  const prefix = `${uniqueName('approval-cluster')}:`;
  const store = createRedisApprovalStore(redis, { prefix, retentionMs: 60_000, replayTtlMs: 60_000 });
  const decisions: string[] = [];
  sub.on('message', (_channel: string, message: string) => decisions.push(message));
  await sub.subscribe(decisionsChannel(prefix));

  const requests = Array.from({ length: 8 }, () => request());
  for (const r of requests) assert.equal((await store.create(r)).created, true);
  // A retried create for the same held request (a new approval id) finds the first approval.
  const [first, second] = requests as [ApprovalRequest, ApprovalRequest];
  const again = await store.create({ ...first, approvalId: randomUUID() });
  assert.equal(again.created, false);
  assert.equal(again.state.request.approvalId, first.approvalId);
  assert.equal((await store.listPending(new Date(), 100)).length, requests.length);

  const alice = { subject: 'alice', groups: ['phi-approvers'] };
  const voted = await store.vote(first.approvalId, { approver: alice, decision: 'approve' }, new Date(), 'click-1');
  assert.equal(voted.kind, 'applied');
  assert.equal((await store.vote(first.approvalId, { approver: alice, decision: 'approve' }, new Date(), 'click-1')).kind, 'replay');
  assert.equal((await store.vote(second.approvalId, { approver: alice, decision: 'deny' }, new Date(), 'click-2')).kind, 'applied');
  assert.equal((await store.get(first.approvalId))?.status, 'granted');
  assert.equal((await store.get(second.approvalId))?.status, 'denied');

  await eventually('both decisions announced', async () => (decisions.length === 2 ? true : undefined));
  assert.deepEqual(decisions.map((d) => JSON.parse(d).approvalId).sort(), [first.approvalId, second.approvalId].sort());
  const pending = (await store.listPending(new Date(), 100)).map((s) => s.request.approvalId);
  assert.deepEqual(
    pending.sort(),
    requests
      .slice(2)
      .map((r) => r.approvalId)
      .sort(),
  );
  await store.markNotified(first.approvalId, new Date());
  assert.ok((await store.get(first.approvalId))?.notifiedAt);
}
