// phigate-test: stack
// Held statements end to end on the local stack, with two gateway replicas (the stack's, and one
// this file starts): a require_approval decision answers 202, Slack gets the message, signed
// clicks decide it through the real approval service, and exactly one replica runs it, once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { deliverClick, signedClick } from '@phigate/slack-sink/click';
import { demoToken, eventually, need, type SpawnedApp, spawnApp } from '@phigate/testkit';

const SSN_QUERY = 'SELECT id, ssn FROM patients WHERE id = 7';

interface Answer {
  status: number;
  body: Record<string, any>;
}

/** A statement with its purpose of use (X-Phigate-Purpose), which the analytics agent's binding requires. */
async function query(base: string, token: string, sql: string, connection = 'clinical-pg'): Promise<Answer> {
  const res = await fetch(`${base}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-phigate-purpose': 'population-health' },
    body: JSON.stringify({ connection, sql }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function request(base: string, token: string, id: string, wait = 0): Promise<Answer> {
  const res = await fetch(`${base}/v1/requests/${id}${wait ? `?wait=${wait}` : ''}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

function click(user: string, action: 'approve' | 'deny', approvalId: string, over: { secret?: string; timestampSec?: number } = {}) {
  return signedClick({ approvalUrl: need('APPROVAL_URL'), secret: over.secret ?? need('SLACK_SIGNING_SECRET'), user, action, approvalId, ...over });
}

async function timeline(requestId: string): Promise<string[]> {
  const auditor = await demoToken('audra');
  const res = await fetch(`${need('AUDIT_URL')}/v1/requests/${requestId}`, { headers: { authorization: `Bearer ${auditor}` } });
  if (!res.ok) return [];
  return ((await res.json()) as { events: Array<{ type: string }> }).events.map((e) => e.type);
}

let port = 18_180;
async function replica(overrides: Record<string, string> = {}): Promise<SpawnedApp> {
  port += 1;
  return spawnApp('gateway', 'services/gateway/dist/src/main.js', port, {
    GATEWAY_HTTP_PORT: String(port),
    GATEWAY_REPLICA_ID: `test-replica-${port}`,
    GATEWAY_PG_PORT: '0',
    GATEWAY_HELD_RECONCILE_MS: '300',
    ...overrides,
  });
}

test('a held statement: forged, stale, wrongly keyed and ineligible clicks change nothing; one approval runs it exactly once', async (t) => {
  const b = await replica();
  t.after(() => b.kill('SIGTERM'));
  const a = need('GATEWAY_URL');
  const agent = await demoToken('analytics-agent');

  const held = await query(a, agent, SSN_QUERY);
  assert.equal(held.status, 202, JSON.stringify(held.body));
  assert.equal(held.body.status, 'pending_approval');
  assert.match(held.body.approvalId, /^[0-9a-f-]{36}$/);
  assert.equal(held.body.statusUrl, `/v1/requests/${held.body.requestId}`);
  const id = held.body.requestId as string;
  const approvalId = held.body.approvalId as string;

  // The Slack message names the approval in its buttons and carries no literal.
  const messages = await eventually('the approval message in the Slack sink', async () => {
    const res = await fetch(`${need('SLACK_SINK_URL')}/messages`);
    const all = (await res.json()) as Array<{ blocks?: Array<{ type: string; elements?: Array<{ action_id: string; value: string }> }> }>;
    const mine = all.filter((m) => JSON.stringify(m).includes(approvalId));
    return mine.length ? mine : undefined;
  });
  const buttons = messages[0]?.blocks?.find((b) => b.type === 'actions')?.elements ?? [];
  assert.deepEqual(
    buttons.map((e) => [e.action_id, e.value]),
    [
      ['approve', approvalId],
      ['deny', approvalId],
    ],
  );
  assert.ok(!JSON.stringify(messages).includes('= 7'), 'the literal is redacted in Slack');

  // Any replica reports it pending, to its requester only.
  assert.equal((await request(b.url, agent, id)).status, 202);
  assert.equal((await request(b.url, await demoToken('etl-pipeline'), id)).status, 404, 'another identity cannot see it');

  const approvalUrl = need('APPROVAL_URL');
  const forged = click('U0ALICE', 'approve', approvalId);
  forged.headers['x-slack-signature'] = `v0=${'0'.repeat(64)}`;
  assert.equal((await deliverClick(approvalUrl, forged)).status, 401, 'forged signature');
  const stale = click('U0ALICE', 'approve', approvalId, { timestampSec: Math.floor(Date.now() / 1000) - 600 });
  assert.equal((await deliverClick(approvalUrl, stale)).status, 401, 'stale timestamp');
  const wrongKey = click('U0ALICE', 'approve', approvalId, { secret: 'not-the-signing-secret-of-this-app' });
  assert.equal((await deliverClick(approvalUrl, wrongKey)).status, 401, 'wrong secret');
  const carol = await deliverClick(approvalUrl, click('U0CAROL', 'approve', approvalId));
  assert.equal(carol.status, 200);
  assert.equal(carol.body.outcome, 'refused', 'a non-approver is refused');
  await sleep(700);
  const still = await request(b.url, agent, id);
  assert.equal(still.status, 202);
  assert.equal(still.body.status, 'pending_approval');

  const approve = click('U0ALICE', 'approve', approvalId);
  const granted = await deliverClick(approvalUrl, approve);
  assert.equal(granted.status, 200);
  assert.equal(granted.body.outcome, 'granted');

  // The client asks again (through the other replica) and waits for the outcome.
  const done = await request(b.url, agent, id, 10);
  assert.equal(done.status, 200, JSON.stringify(done.body));
  assert.equal(done.body.status, 'completed');
  assert.equal(done.body.approvalId, approvalId);
  assert.deepEqual(
    done.body.columns.map((c: { name: string; masking?: string }) => [c.name, c.masking ?? null]),
    [
      ['id', null],
      ['ssn', 'redact'],
    ],
    'approval does not lift masking',
  );
  assert.equal(done.body.rows.length, 1);

  // A replayed click, and a second approval, change nothing.
  assert.deepEqual((await deliverClick(approvalUrl, approve)).body, { outcome: 'replay' });
  const bob = await deliverClick(approvalUrl, click('U0BOB', 'approve', approvalId));
  assert.equal(bob.body.outcome, 'refused');
  await sleep(1000);
  const events = await eventually('the complete timeline', async () => {
    const e = await timeline(id);
    return e.includes('query.completed') ? e : undefined;
  });
  assert.equal(events.filter((e) => e === 'query.executed').length, 1, `executed exactly once: ${events.join(' → ')}`);
  assert.deepEqual(
    events.filter((e) => e.startsWith('approval.')),
    ['approval.requested', 'approval.granted'],
  );
  assert.ok(events.indexOf('approval.granted') < events.indexOf('query.executed'));
});

test('a deny click ends the held statement with a clear error and approval.denied', async () => {
  const a = need('GATEWAY_URL');
  const agent = await demoToken('analytics-agent');
  const held = await query(a, agent, SSN_QUERY);
  assert.equal(held.status, 202);
  const denied = await deliverClick(need('APPROVAL_URL'), click('U0BOB', 'deny', held.body.approvalId));
  assert.equal(denied.body.outcome, 'denied');
  const answer = await request(a, agent, held.body.requestId, 10);
  assert.equal(answer.status, 403);
  assert.equal(answer.body.code, 'GATEWAY_APPROVAL_DENIED');
  assert.equal(answer.body.requestId, held.body.requestId);
  const events = await eventually('approval.denied on the timeline', async () => {
    const e = await timeline(held.body.requestId);
    return e.includes('query.failed') ? e : undefined;
  });
  assert.ok(events.includes('approval.denied'), events.join(' → '));
  assert.ok(!events.includes('query.executed'));
});

test('an unanswered held statement expires to a denial with approval.expired', async (t) => {
  const b = await replica({ GATEWAY_HELD_MAX_EXPIRY_MS: '1500' });
  t.after(() => b.kill('SIGTERM'));
  const agent = await demoToken('analytics-agent');
  const held = await query(b.url, agent, SSN_QUERY);
  assert.equal(held.status, 202);
  const answer = await request(b.url, agent, held.body.requestId, 15);
  assert.equal(answer.status, 403, JSON.stringify(answer.body));
  assert.equal(answer.body.code, 'GATEWAY_APPROVAL_EXPIRED');
  // A click after expiry does not revive it.
  const late = await deliverClick(need('APPROVAL_URL'), click('U0ALICE', 'approve', held.body.approvalId));
  assert.notEqual(late.body.outcome, 'granted');
  const events = await eventually('approval.expired on the timeline', async () => {
    const e = await timeline(held.body.requestId);
    return e.includes('approval.expired') ? e : undefined;
  });
  assert.ok(!events.includes('query.executed'), events.join(' → '));
});

test('the replica holding the client dies while the statement waits; approval still delivers the result through another replica', async () => {
  const b = await replica();
  const agent = await demoToken('analytics-agent');
  const held = await query(b.url, agent, SSN_QUERY);
  assert.equal(held.status, 202);
  await b.kill('SIGKILL');
  const granted = await deliverClick(need('APPROVAL_URL'), click('U0ALICE', 'approve', held.body.approvalId));
  assert.equal(granted.body.outcome, 'granted');
  const answer = await request(need('GATEWAY_URL'), agent, held.body.requestId, 10);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.rows.length, 1);
});

test('a quorum-of-two rule needs two distinct eligible approvers', async () => {
  const a = need('GATEWAY_URL');
  const billing = await demoToken('billing-service');
  const held = await query(a, billing, 'UPDATE claims SET amount = amount WHERE id = 42');
  assert.equal(held.status, 202, JSON.stringify(held.body));
  const approvalId = held.body.approvalId as string;
  const approvalUrl = need('APPROVAL_URL');
  assert.equal((await deliverClick(approvalUrl, click('U0ALICE', 'approve', approvalId))).body.outcome, 'recorded');
  // The same approver again is not a second approver.
  await deliverClick(approvalUrl, click('U0ALICE', 'approve', approvalId));
  await sleep(700);
  assert.equal((await request(a, billing, held.body.requestId)).status, 202, 'one approver is not enough');
  assert.equal((await deliverClick(approvalUrl, click('U0BOB', 'approve', approvalId))).body.outcome, 'granted');
  const answer = await request(a, billing, held.body.requestId, 10);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.command, 'UPDATE');
  assert.equal(answer.body.affectedRows, 1);
});

test('with the approval service unreachable, a statement that needs approval is refused (fail closed) and never runs', async (t) => {
  const b = await replica({ GATEWAY_APPROVAL_URL: 'https://127.0.0.1:9', GATEWAY_APPROVAL_TIMEOUT_MS: '1000' });
  t.after(() => b.kill('SIGTERM'));
  const agent = await demoToken('analytics-agent');
  const refused = await query(b.url, agent, SSN_QUERY);
  assert.equal(refused.status, 503, JSON.stringify(refused.body));
  assert.equal(refused.body.code, 'GATEWAY_APPROVAL_UNAVAILABLE');
  const events = await eventually('the refusal on the timeline', async () => {
    const e = await timeline(refused.body.requestId);
    return e.includes('query.failed') ? e : undefined;
  });
  assert.ok(!events.includes('query.executed'));
});
