// The held-query rules without any infrastructure: an in-memory store with the same atomic claim
// as the Redis one, two "replicas" sharing it, and an approvals port whose answers the test sets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type ApprovalsPort,
  type ApprovalView,
  type Continuation,
  type HeldOutcome,
  HeldQueries,
  type HeldState,
  type HeldStorePort,
  paramsHash,
} from './held-queries.js';
import type { DomainEvent } from './ports.js';
import type { Prepared, QueryResult } from './query-service.js';

class MemoryStore implements HeldStorePort {
  readonly states = new Map<string, HeldState>();
  down = false;
  private check() {
    if (this.down) throw new Error('store down');
  }
  async put(c: Continuation) {
    this.check();
    this.states.set(c.ctx.requestId, { status: 'pending', continuation: structuredClone(c) });
  }
  async setApproval(requestId: string, approvalId: string) {
    this.check();
    const s = this.states.get(requestId);
    if (s) s.continuation.approvalId = approvalId;
  }
  async get(requestId: string) {
    this.check();
    const s = this.states.get(requestId);
    return s ? structuredClone(s) : undefined;
  }
  async claim(requestId: string, replica: string, now: number) {
    this.check();
    const s = this.states.get(requestId);
    if (s?.status !== 'pending') return false;
    Object.assign(s, { status: 'running', claimedBy: replica, claimedAt: now });
    return true;
  }
  async finish(requestId: string, outcome: HeldOutcome) {
    this.check();
    const s = this.states.get(requestId);
    if (!s || (s.status !== 'pending' && s.status !== 'running')) return;
    Object.assign(s, { status: outcome.kind === 'result' ? 'completed' : 'failed', outcome });
  }
  async open(runningBefore: number) {
    this.check();
    return [...this.states.values()]
      .filter((s) => s.status === 'pending' || (s.status === 'running' && (s.claimedAt ?? 0) < runningBefore))
      .map((s) => ({
        requestId: s.continuation.ctx.requestId,
        status: s.status,
        approvalId: s.continuation.approvalId,
        expiresAt: Date.parse(s.continuation.expiresAt),
      }));
  }
}

function world() {
  const clock = { now: Date.parse('2026-11-29T10:00:00Z') };
  const store = new MemoryStore();
  const events: string[] = [];
  const recorded: DomainEvent[] = [];
  const executed: string[] = [];
  const approval: { view: ApprovalView | undefined; down: boolean } = { view: { status: 'pending', votes: [], notified: true }, down: false };
  const approvals: ApprovalsPort = {
    async open() {
      if (approval.down) throw new Error('approval service down');
      return { approvalId: 'a-1', notified: true };
    },
    async status() {
      if (approval.down) throw new Error('approval service down');
      return approval.view;
    },
  };
  const replica = (id: string) =>
    new HeldQueries({
      store,
      approvals,
      audit: {
        record: async (_ctx, evs: DomainEvent[]) => {
          events.push(...evs.map((e) => e.type));
          recorded.push(...evs);
        },
      },
      execute: async (p) => {
        executed.push(p.ctx.requestId);
        await new Promise((r) => setTimeout(r, 5));
        return { requestId: p.ctx.requestId, columns: [], rows: [], rowCount: 0, truncated: false, command: 'SELECT', decision: p.decision } as QueryResult;
      },
      rebind: () => {},
      replicaId: id,
      retainMs: 60_000,
      runTimeoutMs: 30_000,
      maxExpiryMs: 3_600_000,
      waitSignal: async () => {},
      now: () => clock.now,
    });
  return { clock, store, events, recorded, executed, approval, a: replica('a'), b: replica('b') };
}

function prepared(requestId = 'r-1', params: unknown[] = [7]): Prepared {
  return {
    ctx: {
      requestId,
      sessionId: requestId,
      frontDoor: 'http',
      identity: { subject: 'analytics-agent', clientId: 'analytics-agent', groups: ['ai-agents'], issuer: 'http://idp' },
      connection: 'clinical-pg',
      role: 'analytics_reader',
      traceparent: '',
    },
    sql: 'SELECT id, ssn FROM patients WHERE id = $1',
    params,
    analysis: { dialect: 'postgresql', fingerprint: 'fp', understood: true, error: '', statements: [] },
    decision: {
      decisionId: 'd-1',
      action: 'require_approval',
      ruleIds: ['ai-agent-ssn-needs-approval'],
      reasons: ['needs a human'],
      policyRevision: 'rev',
      maskingPlan: { columns: [], unknownSourceStrategy: 'redact' },
      rowLimit: 0,
      approverGroups: ['phi-approvers'],
      approval: { groups: ['phi-approvers'], quorum: 1, expiresInSec: 900 },
    },
    transaction: false,
    started: 0,
  };
}

test('holding stores a sealed-at-the-edge continuation bound to the statement and parameters, and records approval.requested', async () => {
  const w = world();
  const held = await w.a.hold(prepared());
  assert.deepEqual(held, { requestId: 'r-1', approvalId: 'a-1', expiresAt: '2026-11-29T10:15:00.000Z' });
  const s = w.store.states.get('r-1');
  assert.equal(s?.status, 'pending');
  assert.equal(s?.continuation.paramsHash, paramsHash([7]));
  assert.notEqual(paramsHash([7]), paramsHash([8]));
  assert.equal(s?.continuation.fingerprint, 'fp');
  assert.deepEqual(w.events, ['approval.requested']);
});

test('a granted approval resumed by two replicas at once runs exactly once', async () => {
  const w = world();
  await w.a.hold(prepared());
  w.approval.view = { status: 'granted', votes: [{ approver: 'alice', decision: 'approve', at: '' }], notified: true };
  await Promise.all([w.a.resume('r-1'), w.b.resume('r-1'), w.a.resume('r-1'), w.b.reconcile(), w.a.reconcile()]);
  assert.deepEqual(w.executed, ['r-1']);
  assert.equal(w.store.states.get('r-1')?.status, 'completed');
  assert.deepEqual(w.events, ['approval.requested', 'approval.granted']);
  await w.b.resume('r-1');
  assert.deepEqual(w.executed, ['r-1'], 'a late signal does nothing');
});

test('a denial and an expiry end the request without running it', async () => {
  const w = world();
  await w.a.hold(prepared('r-deny'));
  w.approval.view = { status: 'denied', votes: [{ approver: 'bob', decision: 'deny', at: '' }], notified: true };
  await w.b.resume('r-deny');
  const denied = w.store.states.get('r-deny');
  assert.equal(denied?.outcome?.kind === 'error' && denied.outcome.code, 'GATEWAY_APPROVAL_DENIED');

  w.approval.view = { status: 'pending', votes: [], notified: false };
  await w.a.hold(prepared('r-late'));
  await w.a.reconcile();
  assert.equal(w.store.states.get('r-late')?.status, 'pending', 'not yet expired');
  w.clock.now += 901_000;
  w.approval.down = true; // the approval service is gone too: expiry still ends it
  await w.b.reconcile();
  const expired = w.store.states.get('r-late');
  assert.equal(expired?.outcome?.kind === 'error' && expired.outcome.code, 'GATEWAY_APPROVAL_EXPIRED');
  assert.deepEqual(w.executed, []);
  assert.ok(w.events.includes('approval.denied') && w.events.includes('approval.expired'));
});

test('a run whose replica died is declared unknown and never run again', async () => {
  const w = world();
  await w.a.hold(prepared());
  assert.ok(await w.store.claim('r-1', 'dead-replica', w.clock.now));
  w.clock.now += 31_000;
  await w.b.reconcile();
  const s = w.store.states.get('r-1');
  assert.equal(s?.outcome?.kind === 'error' && s.outcome.code, 'GATEWAY_APPROVAL_OUTCOME_UNKNOWN');
  assert.deepEqual(w.executed, []);
});

test('when the store or the approval service is down, holding fails closed', async () => {
  const w = world();
  w.store.down = true;
  await assert.rejects(w.a.hold(prepared('r-x')), { code: 'GATEWAY_APPROVAL_UNAVAILABLE' });
  w.store.down = false;
  w.approval.down = true;
  await assert.rejects(w.a.hold(prepared('r-y')), { code: 'GATEWAY_APPROVAL_UNAVAILABLE' });
  assert.equal(w.store.states.get('r-y')?.status, 'failed', 'the continuation is closed, never left pending');
  assert.deepEqual(w.executed, []);
});

test('only the requester can see a held request', async () => {
  const w = world();
  await w.a.hold(prepared());
  assert.ok(await w.b.view('r-1', 'analytics-agent', 'http://idp'));
  assert.equal(await w.b.view('r-1', 'analytics-agent', 'http://other-idp'), undefined);
  assert.equal(await w.b.view('r-1', 'etl-pipeline', 'http://idp'), undefined);
});

test('a cancelled held request ends as cancelled and a later approval does not run it', async () => {
  const w = world();
  await w.a.hold(prepared());
  assert.equal(await w.b.cancel('r-1', 'etl-pipeline', 'http://idp'), false, 'only the requester can cancel');
  assert.equal(await w.b.cancel('r-1', 'analytics-agent', 'http://idp'), true);
  const s = w.store.states.get('r-1');
  assert.equal(s?.status, 'failed');
  assert.equal(s?.outcome?.kind === 'error' && s.outcome.code, 'GATEWAY_APPROVAL_CANCELLED');
  assert.deepEqual(
    w.recorded.filter((e) => e.type === 'query.failed'),
    [{ type: 'query.failed', code: 'GATEWAY_APPROVAL_CANCELLED', message: 'the client cancelled the held statement; it will not run', stage: 'approval' }],
  );
  w.approval.view = { status: 'granted', votes: [{ approver: 'alice', decision: 'approve', at: '2026-11-29T10:01:00Z' }], notified: true };
  await Promise.all([w.a.resume('r-1'), w.b.reconcile()]);
  assert.deepEqual(w.executed, [], 'the approval came too late: nothing runs');
  assert.equal(await w.a.cancel('r-1', 'analytics-agent', 'http://idp'), false, 'a finished request cannot be cancelled again');
});
