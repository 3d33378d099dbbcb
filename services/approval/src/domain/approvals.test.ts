import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ApprovalRequest, type ApprovalState, type Approver, decide, effectiveStatus, expireIfDue, openApproval, refusalText } from './approvals.js';

const T0 = new Date('2025-03-01T12:00:00Z');
const at = (sec: number) => new Date(T0.getTime() + sec * 1000);

function request(over: Partial<ApprovalRequest> = {}): ApprovalRequest {
  return {
    approvalId: 'ap-1',
    requestId: 'req-1',
    requester: 'analytics-agent',
    connection: 'clinical-pg',
    role: 'analyst',
    statementRedacted: 'SELECT ssn FROM patients WHERE id = ?',
    tables: ['public.patients'],
    phiColumns: ['public.patients.ssn'],
    ruleIds: ['ai-ssn-needs-approval'],
    reason: 'AI agents need a human to approve SSN access',
    approverGroups: ['phi-approvers'],
    quorum: 1,
    expiresAt: at(1800).toISOString(),
    ...over,
  };
}

const alice: Approver = { subject: 'alice', groups: ['phi-approvers'] };
const bob: Approver = { subject: 'bob', groups: ['phi-approvers', 'other'] };
const carol: Approver = { subject: 'carol', groups: [] };
const dave: Approver = { subject: 'dave', groups: ['compliance'] };

test('one eligible approval grants a quorum-of-one request', () => {
  const r = decide(openApproval(request()), { approver: alice, decision: 'approve' }, at(10));
  assert.deepEqual(r.outcome, { kind: 'granted', approvers: ['alice'] });
  assert.equal(r.changed, true);
  assert.equal(r.state.status, 'granted');
  assert.equal(r.state.decidedAt, at(10).toISOString());
  assert.deepEqual(r.state.votes, [{ approver: 'alice', decision: 'approve', at: at(10).toISOString() }]);
});

test('decide does not modify the state it is given', () => {
  const s = openApproval(request());
  const copy = structuredClone(s);
  decide(s, { approver: alice, decision: 'approve' }, at(10));
  assert.deepEqual(s, copy);
});

test('a quorum of two needs two distinct eligible approvers', () => {
  let s: ApprovalState = openApproval(request({ quorum: 2 }));
  let r = decide(s, { approver: alice, decision: 'approve' }, at(1));
  assert.deepEqual(r.outcome, { kind: 'recorded', grants: 1, quorum: 2 });
  assert.equal(r.state.status, 'pending');
  s = r.state;
  r = decide(s, { approver: alice, decision: 'approve' }, at(2));
  assert.deepEqual(r.outcome, { kind: 'duplicate' }, 'the same approver twice does not count twice');
  assert.equal(r.changed, false);
  assert.equal(r.state, s);
  r = decide(s, { approver: carol, decision: 'approve' }, at(3));
  assert.equal(r.outcome.kind, 'refused', 'an ineligible grant does not count towards the quorum');
  r = decide(s, { approver: bob, decision: 'approve' }, at(4));
  assert.deepEqual(r.outcome, { kind: 'granted', approvers: ['alice', 'bob'] });
  assert.equal(r.state.status, 'granted');
});

test('approvers may come from different approver groups', () => {
  const s = openApproval(request({ quorum: 2, approverGroups: ['phi-approvers', 'compliance'] }));
  const r1 = decide(s, { approver: alice, decision: 'approve' }, at(1));
  const r2 = decide(r1.state, { approver: dave, decision: 'approve' }, at(2));
  assert.equal(r2.state.status, 'granted');
});

test('one eligible denial denies, even after partial grants', () => {
  const s = decide(openApproval(request({ quorum: 2 })), { approver: alice, decision: 'approve' }, at(1)).state;
  const r = decide(s, { approver: bob, decision: 'deny' }, at(2));
  assert.deepEqual(r.outcome, { kind: 'denied', approver: 'bob' });
  assert.equal(r.state.status, 'denied');
  assert.equal(r.state.decidedAt, at(2).toISOString());
});

test('an approver not in any approver group is refused and nothing changes', () => {
  const s = openApproval(request());
  for (const decision of ['approve', 'deny'] as const) {
    const r = decide(s, { approver: carol, decision }, at(1));
    assert.deepEqual(r.outcome, { kind: 'refused', reason: 'not_eligible', status: 'pending' });
    assert.equal(r.changed, false);
    assert.equal(r.state, s);
  }
});

test('the requester cannot decide their own request, even as an approver', () => {
  const s = openApproval(request({ requester: 'alice' }));
  const r = decide(s, { approver: alice, decision: 'approve' }, at(1));
  assert.deepEqual(r.outcome, { kind: 'refused', reason: 'self_approval', status: 'pending' });
  assert.equal(r.changed, false);
});

test('votes after a final status are refused; the deciding vote repeated is idempotent', () => {
  const granted = decide(openApproval(request()), { approver: alice, decision: 'approve' }, at(1)).state;
  assert.deepEqual(decide(granted, { approver: bob, decision: 'deny' }, at(2)).outcome, { kind: 'refused', reason: 'already_final', status: 'granted' });
  assert.deepEqual(decide(granted, { approver: bob, decision: 'approve' }, at(2)).outcome, { kind: 'refused', reason: 'already_final', status: 'granted' });
  assert.deepEqual(decide(granted, { approver: alice, decision: 'deny' }, at(2)).outcome, { kind: 'refused', reason: 'already_final', status: 'granted' });
  assert.deepEqual(decide(granted, { approver: alice, decision: 'approve' }, at(2)).outcome, { kind: 'duplicate' });
  const denied = decide(openApproval(request()), { approver: bob, decision: 'deny' }, at(1)).state;
  assert.deepEqual(decide(denied, { approver: alice, decision: 'approve' }, at(2)).outcome, { kind: 'refused', reason: 'already_final', status: 'denied' });
});

test('a vote at or after the expiry is refused and ends the request as expired', () => {
  const s = openApproval(request());
  const r = decide(s, { approver: alice, decision: 'approve' }, at(1800));
  assert.deepEqual(r.outcome, { kind: 'refused', reason: 'expired', status: 'expired', expired: true });
  assert.equal(r.changed, true);
  assert.equal(r.state.status, 'expired');
  assert.deepEqual(r.state.votes, []);
  const again = decide(r.state, { approver: bob, decision: 'approve' }, at(1900));
  assert.deepEqual(again.outcome, { kind: 'refused', reason: 'already_final', status: 'expired' });
  assert.equal(again.changed, false);
});

test('a pending request past its expiry reads as expired, and a sweeper can end it', () => {
  const s = openApproval(request());
  assert.equal(effectiveStatus(s, at(1799)), 'pending');
  assert.equal(effectiveStatus(s, at(1800)), 'expired');
  assert.equal(expireIfDue(s, at(1799)).expired, false);
  const swept = expireIfDue(s, at(1801));
  assert.equal(swept.expired, true);
  assert.equal(swept.state.status, 'expired');
  assert.equal(expireIfDue(swept.state, at(1900)).expired, false, 'expiring twice reports once');
});

test('a quorum below one is treated as one', () => {
  const r = decide(openApproval(request({ quorum: 0 })), { approver: alice, decision: 'approve' }, at(1));
  assert.equal(r.state.status, 'granted');
});

test('every refusal has a sentence for the voter', () => {
  for (const reason of ['not_eligible', 'self_approval', 'already_final', 'expired'] as const) {
    assert.ok(refusalText(reason, 'granted').length > 10);
  }
  assert.match(refusalText('already_final', 'denied'), /already denied/);
});
