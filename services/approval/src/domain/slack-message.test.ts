import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ApprovalRequest, decide, openApproval } from './approvals.js';
import { ACTION_ID, approvalMessage, type Block, decisionUpdate, ephemeralNotice } from './slack-message.js';

const NOW = new Date('2025-03-01T12:00:00Z');

function request(over: Partial<ApprovalRequest> = {}): ApprovalRequest {
  return {
    approvalId: '0b9c1c52-2f1e-4a57-9a55-5d0f3e2b7a10',
    requestId: 'req-42',
    requester: 'analytics-agent',
    connection: 'clinical-pg',
    role: 'analyst',
    // As if a caller forgot to redact: the message must still show no literal.
    statementRedacted: "SELECT name, ssn FROM patients WHERE ssn = '078-05-1120' AND mrn = 4455667",
    tables: ['public.patients'],
    phiColumns: ['public.patients.ssn', 'public.patients.name'],
    ruleIds: ['ai-ssn-needs-approval'],
    reason: 'AI agents need a human to approve <SSN> access & more',
    approverGroups: ['phi-approvers'],
    quorum: 1,
    expiresAt: '2025-03-01T12:30:00.000Z',
    ...over,
  };
}

const actions = (blocks: Block[] = []) => blocks.filter((b) => b.type === 'actions');

test('the request message shows who, where, what, why and until when', () => {
  const m = approvalMessage(openApproval(request()), NOW);
  const text = JSON.stringify(m);
  for (const s of ['analytics-agent', 'clinical-pg', 'analyst', 'public.patients', 'public.patients.ssn', 'ai-ssn-needs-approval', 'phi-approvers']) {
    assert.ok(text.includes(s), `${s} is shown`);
  }
  assert.ok(text.includes('SELECT name, ssn FROM patients WHERE ssn = ? AND mrn = ?'), 'the statement is shown redacted');
  assert.ok(text.includes('<!date^1740832200^'), 'the expiry is a Slack date');
  assert.ok(text.includes('2025-03-01T12:30:00.000Z'), 'with an ISO fallback');
  assert.match(m.text, /analytics-agent/);
  assert.doesNotMatch(m.text, /SELECT/, 'the notification text carries no statement');
});

test('no literal from the statement appears anywhere in the message', () => {
  const text = JSON.stringify(approvalMessage(openApproval(request()), NOW));
  assert.ok(!text.includes('078-05-1120'));
  assert.ok(!text.includes('4455667'));
});

test('Approve and Deny buttons carry only the approval id', () => {
  const m = approvalMessage(openApproval(request()), NOW);
  const [block] = actions(m.blocks);
  assert.ok(block && block.type === 'actions');
  assert.deepEqual(
    block.elements.map((e) => [e.action_id, e.value, e.style]),
    [
      [ACTION_ID.APPROVE, request().approvalId, 'primary'],
      [ACTION_ID.DENY, request().approvalId, 'danger'],
    ],
  );
  assert.deepEqual(ACTION_ID, { APPROVE: 'approve', DENY: 'deny' });
});

test('text from the request cannot inject Slack markup', () => {
  const text = JSON.stringify(approvalMessage(openApproval(request({ reason: '<!channel> see <https://evil.example|this>' })), NOW));
  assert.ok(!text.includes('<!channel>'));
  assert.ok(!text.includes('<https://evil'));
  assert.ok(text.includes('&lt;!channel&gt;'));
});

test('after a grant the update replaces the message, names the approver and the time, and has no buttons', () => {
  const s = decide(openApproval(request()), { approver: { subject: 'alice', groups: ['phi-approvers'] }, decision: 'approve' }, NOW).state;
  const m = decisionUpdate(s, NOW);
  assert.equal(m.replace_original, true);
  assert.equal(actions(m.blocks).length, 0);
  const text = JSON.stringify(m);
  assert.match(text, /Approved\* by `alice` at <!date\^1740830400\^/);
  assert.ok(!text.includes('078-05-1120'));
});

test('after a denial the update names who denied', () => {
  const s = decide(openApproval(request()), { approver: { subject: 'bob', groups: ['phi-approvers'] }, decision: 'deny' }, NOW).state;
  const text = JSON.stringify(decisionUpdate(s, NOW));
  assert.match(text, /Denied\* by `bob`/);
  assert.match(decisionUpdate(s, NOW).text, /^Denied/);
});

test('a partial quorum keeps the buttons and shows progress', () => {
  const s = decide(openApproval(request({ quorum: 2 })), { approver: { subject: 'alice', groups: ['phi-approvers'] }, decision: 'approve' }, NOW).state;
  const m = decisionUpdate(s, NOW);
  assert.equal(actions(m.blocks).length, 1);
  assert.match(JSON.stringify(m), /Approved so far by `alice` \(1 of 2\)/);
});

test('a pending request past its expiry renders as expired, without buttons', () => {
  const m = approvalMessage(openApproval(request()), new Date('2025-03-01T13:00:00Z'));
  assert.equal(actions(m.blocks).length, 0);
  assert.match(m.text, /^Expired/);
});

test('long statements and lists are clipped to Slack limits', () => {
  const long = `SELECT ${Array.from({ length: 2000 }, (_, i) => `c${i}`).join(', ')} FROM t`;
  const m = approvalMessage(openApproval(request({ statementRedacted: long, tables: Array.from({ length: 40 }, (_, i) => `t${i}`) })), NOW);
  for (const b of m.blocks ?? []) {
    if (b.type === 'section' && b.text) assert.ok(b.text.text.length <= 3000);
    if (b.type === 'section' && b.fields) for (const f of b.fields) assert.ok(f.text.length <= 2000);
    if (b.type === 'header') assert.ok(b.text.text.length <= 150);
  }
  assert.match(JSON.stringify(m), /and 15 more/);
});

test('an ephemeral notice leaves the original message alone', () => {
  assert.deepEqual(ephemeralNotice('no'), { response_type: 'ephemeral', replace_original: false, text: 'no' });
});

test('the approver sees the purpose of use the requester stated, or that none was', () => {
  const stated = JSON.stringify(approvalMessage(openApproval(request({ purpose: 'population-health' })), NOW));
  assert.ok(stated.includes('Purpose of use') && stated.includes('`population-health`'), stated);
  assert.ok(JSON.stringify(approvalMessage(openApproval(request()), NOW)).includes('_none stated_'));
});
