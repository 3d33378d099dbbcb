// phigate-test: stack
// Purpose of use through the stack's three doors, with unchanged clients (issue 21, item 1): fetch
// with the X-Phigate-Purpose header, node-postgres and psql with `options=-c phigate.purpose=…` in
// the connection string and SET/RESET, and the Snowflake Python connector's QUERY_TAG (login
// session parameter and ALTER SESSION). Each purpose is checked against the analytics agent's
// binding (deploy/local/gateway/connections.yaml), given to policy (a rule of
// deploy/local/policies/10-clinical.yaml denies clinical notes for "operations"), recorded on every
// event of the request, and found by the auditor search's `purpose` filter. The binding requires a
// purpose: without one, every door refuses the statement.
import './fixtures/snowflake/driver-env.js';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { demoToken, eventually, findAuditEvent, need } from '@phigate/testkit';
import pg from 'pg';
import { runPython } from './fixtures/snowflake/clients.js';

const run = promisify(execFile);
const AGENT = 'analytics-agent';

type Event = { type: string; requestId: string; sessionId: string; purpose?: string };

/** The request's audit timeline (the auditor API), once it holds `count` events. */
async function timeline(requestId: string, count = 1): Promise<Event[]> {
  const auditor = await demoToken('audra');
  return eventually(`the audit timeline of ${requestId}`, async () => {
    const res = await fetch(`${need('AUDIT_URL')}/v1/requests/${requestId}`, { headers: { authorization: `Bearer ${auditor}` } });
    if (res.status !== 200) return undefined;
    const events = ((await res.json()) as { events: Event[] }).events;
    return events.length >= count ? events : undefined;
  });
}

/** Whether the auditor search with `purpose` finds an event of this request (and only events of that purpose). */
async function searchable(purpose: string, requestId: string, sinceMs: number): Promise<void> {
  const auditor = await demoToken('audra');
  await eventually(`request ${requestId} under purpose=${purpose}`, () =>
    findAuditEvent(auditor, { purpose, identity: AGENT, from: new Date(sinceMs - 1000).toISOString() }, (e: Event) => {
      assert.equal(e.purpose, purpose, 'the filter returns only events of that purpose');
      return e.requestId === requestId;
    }),
  );
}

test("the demo world requires the analytics agent's purpose: without one, each door refuses the statement with GATEWAY_PURPOSE_REQUIRED", async (t) => {
  const token = await demoToken(AGENT);
  const said = /^the binding of groups ai-agents requires a purpose of use \(one of quality-improvement, population-health, operations\): state it with /;

  // HTTP: 403 in the error model, naming the purposes the binding allows.
  const res = await fetch(`${need('GATEWAY_URL')}/v1/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ connection: 'clinical-pg', sql: 'SELECT id FROM patients WHERE id = 1' }),
  });
  const body = (await res.json()) as { code: string; message: string; allowedPurposes: string[] };
  assert.equal(res.status, 403);
  assert.equal(body.code, 'GATEWAY_PURPOSE_REQUIRED');
  assert.match(body.message, said);
  assert.deepEqual(body.allowedPurposes, ['quality-improvement', 'population-health', 'operations']);

  // PostgreSQL: the login is accepted (SET phigate.purpose may follow), a statement is SQLSTATE 42501.
  const [host, port] = need('GATEWAY_PG_ADDR').split(':');
  const c = new pg.Client({ connectionString: `postgresql://${AGENT}:${encodeURIComponent(token)}@${host}:${port}/clinical-pg?sslmode=disable` });
  await c.connect();
  try {
    const err = (await c.query('SELECT id FROM patients WHERE id = 1').catch((e: pg.DatabaseError) => e)) as pg.DatabaseError;
    assert.ok(err instanceof Error, 'the statement is refused');
    assert.equal(err.code, '42501');
    assert.match(err.message, said);
    await c.query("SET phigate.purpose = 'population-health'");
    assert.equal((await c.query('SELECT id FROM patients WHERE id = 1')).rows.length, 1, 'stated, the statement runs');
  } finally {
    await c.end();
  }

  // Snowflake (the Python connector, no QUERY_TAG): access control error 003001 / 42501.
  const url = new URL(need('GATEWAY_URL'));
  const p = runPython(t, 'purpose_limits.py', [url.hostname, url.port, 'clinical-sf', token, 'no-purpose']);
  assert.equal(await p.done, 0, `the Python script failed:\n${p.stderr()}`);
  const sf = p.steps['no-purpose'].result as { errno: number; sqlstate: string; msg: string; code: string };
  assert.deepEqual([sf.errno, sf.sqlstate, sf.code], [3001, '42501', 'GATEWAY_PURPOSE_REQUIRED']);
  assert.match(sf.msg, /the binding of groups ai-agents requires a purpose of use/);
});

test('HTTP door: X-Phigate-Purpose (or the body purpose) is checked, decided on, recorded and searchable', async () => {
  const token = await demoToken(AGENT);
  const query = (sql: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) =>
    fetch(`${need('GATEWAY_URL')}/v1/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ connection: 'clinical-pg', sql, ...extra }),
    });

  const started = Date.now();
  const ok = await query('SELECT id, zip FROM patients WHERE id = 1', { 'x-phigate-purpose': 'population-health' });
  const body = (await ok.json()) as { requestId: string; rows: unknown[][] };
  assert.equal(ok.status, 200, JSON.stringify(body));
  assert.equal(body.rows.length, 1);
  const events = await timeline(body.requestId);
  assert.deepEqual(
    events.map((e) => [e.type, e.purpose]),
    [['query.served', 'population-health']],
  );
  await searchable('population-health', body.requestId, started);

  // The body field states it too.
  const viaBody = await query('SELECT id FROM patients WHERE id = 1', {}, { purpose: 'quality-improvement' });
  assert.equal(viaBody.status, 200);
  const bodyId = ((await viaBody.json()) as { requestId: string }).requestId;
  assert.equal((await timeline(bodyId))[0]!.purpose, 'quality-improvement');

  // A purpose the binding does not list: 403 in the error model, nothing run.
  const refused = await query('SELECT id FROM patients WHERE id = 1', { 'x-phigate-purpose': 'marketing' });
  const r = (await refused.json()) as { code: string; allowedPurposes: string[]; message: string };
  assert.equal(refused.status, 403);
  assert.equal(r.code, 'GATEWAY_PURPOSE_NOT_ALLOWED');
  assert.deepEqual(r.allowedPurposes, ['quality-improvement', 'population-health', 'operations']);

  // Policy sees the purpose: notes are denied for operations, with both the decision and the purpose recorded.
  const denied = await query('SELECT id, notes FROM patients WHERE id = 1', { 'x-phigate-purpose': 'operations' });
  const d = (await denied.json()) as { code: string; ruleId: string; requestId: string };
  assert.equal(denied.status, 403);
  assert.deepEqual([d.code, d.ruleId], ['GATEWAY_POLICY_DENIED', 'ai-agent-operations-no-notes']);
  const deniedEvents = await timeline(d.requestId, 2);
  assert.deepEqual(
    deniedEvents.map((e) => [e.type, e.purpose]),
    [
      ['query.received', 'operations'],
      ['policy.decided', 'operations'],
    ],
  );
  await searchable('operations', d.requestId, started);
});

test('PostgreSQL door: options=-c phigate.purpose in the connection string, SET and RESET; a refused purpose is SQLSTATE 42501', async () => {
  const token = await demoToken(AGENT);
  const [host, port] = need('GATEWAY_PG_ADDR').split(':');
  const url = (purpose: string) =>
    `postgresql://${AGENT}:${encodeURIComponent(token)}@${host}:${port}/clinical-pg?sslmode=disable&options=${encodeURIComponent(`-c phigate.purpose=${purpose}`)}`;

  // node-postgres, the purpose (and the token) in the connection string.
  const c = new pg.Client({ connectionString: url('population-health') });
  await c.connect();
  try {
    assert.equal((await c.query('SHOW phigate.purpose')).rows[0]['phigate.purpose'], 'population-health');
    await c.query('SELECT id FROM patients WHERE id = 1');
    // Changed for the session with SET; a purpose the binding does not allow is refused and the previous one stays.
    await c.query("SET phigate.purpose = 'operations'");
    const notes = await c.query('SELECT notes FROM patients WHERE id = 1').catch((e: pg.DatabaseError) => e);
    assert.ok(notes instanceof Error, 'notes are denied for operations');
    assert.equal((notes as pg.DatabaseError).code, '42501');
    assert.match((notes as pg.DatabaseError).message, /does not cover clinical notes/);
    const bad = await c.query("SET phigate.purpose = 'marketing'").catch((e: pg.DatabaseError) => e);
    assert.ok(bad instanceof Error);
    assert.equal((bad as pg.DatabaseError).code, '42501');
    assert.match((bad as pg.DatabaseError).message, /not one the binding of groups ai-agents allows/);
    assert.equal((await c.query('SHOW phigate.purpose')).rows[0]['phigate.purpose'], 'operations');
    await c.query('RESET phigate.purpose');
    assert.equal((await c.query('SHOW phigate.purpose')).rows[0]['phigate.purpose'], '');
  } finally {
    await c.end();
  }

  // psql (libpq), the purpose in the conninfo's options; the statement's record carries it.
  const out = await run(
    'psql',
    [
      `host=${host} port=${port} user=${AGENT} dbname=clinical-pg sslmode=disable options='-c phigate.purpose=quality-improvement'`,
      '-XAt',
      '-c',
      'SELECT 41 + 1',
    ],
    { env: { ...process.env, PGPASSWORD: token } },
  ).catch((e: { stderr: string }) => assert.fail(`psql failed: ${e.stderr}`));
  assert.equal(out.stdout.trim(), '42');

  // A startup purpose the binding does not allow ends the login, saying why.
  const refused = new pg.Client({ connectionString: url('marketing') });
  const err = (await refused.connect().catch((e: pg.DatabaseError) => e)) as pg.DatabaseError;
  assert.ok(err instanceof Error, 'the login is refused');
  assert.equal(err.code, '42501');
  assert.match(err.message, /purpose of use 'marketing'/);
});

test('PostgreSQL door: the session and each statement record the purpose on the audit timeline', async () => {
  const token = await demoToken(AGENT);
  const [host, port] = need('GATEWAY_PG_ADDR').split(':');
  const started = Date.now();
  const c = new pg.Client({
    connectionString: `postgresql://${AGENT}:${encodeURIComponent(token)}@${host}:${port}/clinical-pg?sslmode=disable&options=${encodeURIComponent('-c phigate.purpose=population-health')}`,
    application_name: 'purpose-test',
  });
  await c.connect();
  const marker = `purpose-${process.pid}-${Date.now()}`;
  await c.query(`SELECT id FROM patients WHERE id = 1 AND '${marker}' <> ''`);
  await c.end();
  const auditor = await demoToken('audra');
  // The statement, found by purpose and then by its own request id: every event of it carries the purpose.
  const found = await eventually('the pg statement under its purpose', () =>
    findAuditEvent(
      auditor,
      { purpose: 'population-health', identity: AGENT, type: 'query.served', from: new Date(started - 1000).toISOString() },
      (e: { queryServed?: { received?: { statement?: string } } }) => e.queryServed?.received?.statement?.includes(marker) === true,
    ),
  );
  assert.equal(found.purpose, 'population-health');
  const session = await eventually('the session timeline', async () => {
    const res = await fetch(`${need('AUDIT_URL')}/v1/events?sessionId=${found.sessionId}`, { headers: { authorization: `Bearer ${auditor}` } });
    const events = res.status === 200 ? ((await res.json()) as { events: Event[] }).events : [];
    return events.some((e) => e.type === 'session.closed') ? events : undefined;
  });
  // Session events and statements are keyed (and so partitioned and stored) by different ids: compare by type.
  assert.deepEqual(session.map((e) => [e.type, e.purpose]).sort(), [
    ['query.served', 'population-health'],
    ['session.closed', 'population-health'],
    ['session.opened', 'population-health'],
  ]);
});

test('Snowflake door: QUERY_TAG purpose=… from the Python connector (login session parameter, ALTER SESSION); a refused purpose is Snowflake error JSON', async (t) => {
  const url = new URL(need('GATEWAY_URL'));
  const started = Date.now();
  const p = runPython(t, 'purpose.py', [url.hostname, url.port, 'clinical-sf', await demoToken(AGENT)]);
  assert.equal(await p.done, 0, `the Python script failed:\n${p.stderr()}`);
  const { login, altered } = p.steps;
  assert.equal(login.row[0], 1);
  const loginEvents = await timeline(login.qid);
  assert.deepEqual(
    loginEvents.map((e) => [e.type, e.purpose]),
    [['query.served', 'population-health']],
  );
  await searchable('population-health', login.qid, started);

  assert.equal(altered.row[0], 2);
  assert.equal((await timeline(altered.qid))[0]!.purpose, 'operations');
  // Policy saw the purpose set by ALTER SESSION: access control error 003001 / 42501.
  assert.deepEqual(altered.notes, { errno: 3001, sqlstate: '42501', code: 'GATEWAY_POLICY_DENIED' });
  assert.deepEqual(p.steps['not-allowed'].refusal, { errno: 3001, sqlstate: '42501', code: 'GATEWAY_PURPOSE_NOT_ALLOWED' });
});

test('a held statement: the approver sees the purpose in Slack, and the approval.requested record carries it', async () => {
  const token = await demoToken(AGENT);
  const res = await fetch(`${need('GATEWAY_URL')}/v1/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-phigate-purpose': 'quality-improvement' },
    body: JSON.stringify({ connection: 'clinical-pg', sql: 'SELECT id, ssn FROM patients WHERE id = 9' }),
  });
  const held = (await res.json()) as { status: string; requestId: string; approvalId: string };
  assert.equal(res.status, 202, JSON.stringify(held));
  const message = await eventually('the approval message in the Slack sink', async () => {
    const all = (await (await fetch(`${need('SLACK_SINK_URL')}/messages`)).json()) as unknown[];
    return all.map((m) => JSON.stringify(m)).find((m) => m.includes(held.approvalId));
  });
  assert.match(message, /Purpose of use/);
  assert.match(message, /`quality-improvement`/);
  const events = await timeline(held.requestId, 3);
  assert.deepEqual(
    events.map((e) => [e.type, e.purpose]),
    [
      ['query.received', 'quality-improvement'],
      ['policy.decided', 'quality-improvement'],
      ['approval.requested', 'quality-improvement'],
    ],
  );
});
