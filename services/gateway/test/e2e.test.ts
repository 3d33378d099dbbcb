// phigate-test: stack
// End to end through the real stack: dev IdP token → gateway HTTP door → policy (gRPC) →
// PostgreSQL as the mapped role → masking (gRPC) → Kafka → audit store → auditor API.
// Needs `npm run stack:up` (npm test starts it).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { demoToken, eventually, findAuditEvent, kafkaEventsSince, need, REPO_ROOT, requireHttp, stackAuditRecovered } from '@phigate/testkit';

const gateway = () => need('GATEWAY_URL');

async function query(token: string | undefined, body: unknown) {
  const res = await fetch(`${gateway()}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const pidOf = (app: string) => Number(readFileSync(join(need('PHIGATE_HOME'), 'run/apps', `${app}.pid`), 'utf8'));

test('ETL reads patients through the gateway: rows are masked, every step is on Kafka and in the audit store', async () => {
  await requireHttp('gateway', `${gateway()}/readyz`);
  // The stack's audit service ready first: the test file before this one restarts the broker.
  await stackAuditRecovered();
  const token = await demoToken('etl-pipeline');
  const since = Date.now() - 1000;
  const r = await query(token, { connection: 'clinical-pg', sql: 'SELECT id, mrn, ssn, phone, email, dob, notes FROM patients ORDER BY id LIMIT 20' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const { requestId, columns, rows, rowCount } = r.body;
  assert.equal(rowCount, 20);
  const col = (name: string) => columns.findIndex((c: { name: string }) => c.name === name);
  assert.deepEqual(
    columns.map((c: { name: string; masking?: string }) => [c.name, c.masking ?? null]),
    [
      ['id', null],
      ['mrn', null],
      ['ssn', 'redact'],
      ['phone', 'partial'],
      ['email', 'redact'],
      ['dob', null],
      ['notes', 'scrub'],
    ],
  );
  assert.equal(columns[col('ssn')].type, 'text', 'a masked column is reported as text');
  for (const row of rows) {
    if (row[col('ssn')] !== null) assert.equal(row[col('ssn')], '[REDACTED]');
    if (row[col('phone')] !== null) assert.match(row[col('phone')], /^[^0-9]*(?:\*[^0-9]*)+\d{4}$/);
    if (row[col('notes')] !== null) assert.doesNotMatch(row[col('notes')], /\b\d{3}-\d{2}-\d{4}\b/, 'no SSN left in notes');
  }
  assert.ok(
    rows.some((row: unknown[]) => typeof row[col('notes')] === 'string' && /\[(SSN|PHONE|EMAIL|MRN|DATE)\]/.test(row[col('notes')] as string)),
    'planted identifiers were scrubbed',
  );

  // A read that ran without waiting is one record: its statement, decision, execution, masking and completion.
  const onKafka = await eventually("the read's one record on Kafka", async () => {
    const evs = kafkaEventsSince(since).filter((e) => e.requestId === requestId);
    return evs.some((e) => e.type === 'query.served') ? evs : undefined;
  });
  assert.deepEqual(
    onKafka.map((e) => e.type),
    ['query.served'],
  );
  const served = onKafka[0]!;
  assert.equal(served.schemaVersion, 2);
  assert.equal(served.identity.subject, 'etl-pipeline');
  assert.equal(served.connection, 'clinical-pg');
  assert.equal(served.role, 'clinical_reader');
  assert.equal(served.ocsf.classUid, 6005);
  const { received, decision, executed, masking, completed } = served.queryServed;
  assert.match(received.statement, /FROM patients/);
  assert.equal(decision.action, 'ACTION_ALLOW');
  assert.deepEqual(decision.ruleIds, ['etl-read-clinical']);
  assert.deepEqual(executed.columns, ['id', 'mrn', 'ssn', 'phone', 'email', 'dob', 'notes']);
  assert.ok(masking.columns.some((c: { name: string; strategy: string }) => c.name === 'ssn' && c.strategy === 'STRATEGY_REDACT'));
  assert.equal(completed.rows, 20);

  const auditor = await demoToken('audra');
  // Generous: the test file before this one stops Kafka, and the stack's audit consumer can take a
  // minute to rejoin its group (the old member's session must expire) before it stores again.
  const timeline = await eventually(
    'the request timeline in the audit API',
    async () => {
      const res = await fetch(`${need('AUDIT_URL')}/v1/requests/${requestId}`, { headers: { authorization: `Bearer ${auditor}` } });
      if (res.status !== 200) return undefined;
      const body = (await res.json()) as { events: Array<{ id: string; type: string }> };
      return body.events.length ? body : undefined;
    },
    120_000,
  );
  assert.deepEqual(
    timeline.events.map((e) => [e.id, e.type]),
    [[served.id, 'query.served']],
    'the audit API returns the same record as Kafka',
  );
  // Found by what an auditor searches on: the table and the decision inside the record, once the
  // audit service's indexer derived its search row (behind the writer).
  await eventually('the auditor search to find the record by its table and decision', () =>
    findAuditEvent(
      auditor,
      { table: 'patients', decision: 'ACTION_ALLOW', identity: 'etl-pipeline', from: new Date(since).toISOString() },
      (e: { id: string }) => e.id === served.id,
    ),
  );
});

test('the audit API is for auditors only', async () => {
  const etl = await demoToken('etl-pipeline');
  const res = await fetch(`${need('AUDIT_URL')}/v1/requests/anything`, { headers: { authorization: `Bearer ${etl}` } });
  assert.equal(res.status, 403);
  assert.equal(((await res.json()) as { code: string }).code, 'AUTH_GROUP_REQUIRED');
  assert.equal((await fetch(`${need('AUDIT_URL')}/v1/requests/anything`)).status, 401);
});

test('denials are explained, in the HTTP door’s terms, and audited', async () => {
  const token = await demoToken('etl-pipeline');
  const drop = await query(token, { connection: 'clinical-pg', sql: 'DROP TABLE patients' });
  assert.equal(drop.status, 403);
  assert.equal(drop.body.code, 'GATEWAY_POLICY_DENIED');
  assert.equal(drop.body.ruleId, 'block-ddl');
  assert.match(drop.body.reason, /DDL/);
  assert.ok(drop.body.requestId);

  const unbounded = await query(token, { connection: 'clinical-pg', sql: 'DELETE FROM claims' });
  assert.equal(unbounded.status, 403);
  assert.equal(unbounded.body.ruleId, 'block-unbounded-writes');

  const outOfScope = await query(token, {
    connection: 'clinical-pg',
    sql: 'INSERT INTO claims (patient_id, amount, status) VALUES (1, 10, $1)',
    params: ['paid'],
  });
  assert.equal(outOfScope.status, 403);
  assert.equal(outOfScope.body.ruleId, 'default-deny');

  // A statement the database would reject is answered as the database would (it never runs).
  const garbage = await query(token, { connection: 'clinical-pg', sql: 'SELEKT * FROM patients' });
  assert.equal(garbage.status, 400);
  assert.deepEqual(
    [garbage.body.code, garbage.body.sqlstate, garbage.body.upstream],
    ['GATEWAY_SQL_INVALID', '42601', { message: 'syntax error at or near "SELEKT"', position: 1 }],
  );
  // One it cannot analyse but the database would run is refused by policy, unknown.
  const unknown = await query(token, { connection: 'clinical-pg', sql: 'SELECT * FROM pg_catalog.pg_authid' });
  assert.equal(unknown.status, 403);
  assert.equal(unknown.body.ruleId, 'unknown-statement');
});

test('authentication and bindings are enforced before anything else', async () => {
  const none = await query(undefined, { connection: 'clinical-pg', sql: 'select 1' });
  assert.equal(none.status, 401);
  assert.equal(none.body.code, 'AUTH_TOKEN_MISSING');
  const bad = await query('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', { connection: 'clinical-pg', sql: 'select 1' });
  assert.equal(bad.status, 401);
  assert.equal(bad.body.code, 'AUTH_TOKEN_INVALID');
  const carol = await demoToken('carol');
  const unbound = await query(carol, { connection: 'clinical-pg', sql: 'select 1' });
  assert.equal(unbound.status, 403);
  assert.equal(unbound.body.code, 'GATEWAY_CONNECTION_UNKNOWN');
  const etl = await demoToken('etl-pipeline');
  const nosuch = await query(etl, { connection: 'no-such-connection', sql: 'select 1' });
  assert.deepEqual([nosuch.status, nosuch.body.code], [403, 'GATEWAY_CONNECTION_UNKNOWN'], 'unknown and unbound look the same');
  const malformed = await query(etl, { connection: 'clinical-pg' });
  assert.equal(malformed.status, 400);
});

test('the upstream role is least-privilege: billing writes claims, ETL cannot', async () => {
  const billing = await demoToken('billing-service');
  const ins = await query(billing, { connection: 'clinical-pg', sql: "INSERT INTO claims (patient_id, amount, status) VALUES (1, 12.50, 'submitted')" });
  assert.equal(ins.status, 200, JSON.stringify(ins.body));
  assert.equal(ins.body.command, 'INSERT');
  assert.equal(ins.body.affectedRows, 1, 'the write is committed and counted');
  const read = await query(billing, { connection: 'clinical-pg', sql: 'SELECT id, ssn FROM patients LIMIT 1' });
  // Policy allows billing to read patients, but its upstream role has no SELECT on ssn.
  assert.equal(read.status, 403);
  assert.equal(read.body.code, 'GATEWAY_UPSTREAM_PERMISSION');
});

test('the row cap of a policy truncates and says so', async () => {
  const agent = await demoToken('analytics-agent');
  const r = await query(agent, { connection: 'clinical-pg', sql: 'SELECT id, mrn, zip FROM patients', purpose: 'population-health' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.rowCount, 1000);
  assert.equal(r.body.truncated, true);
  const mrn = r.body.columns.findIndex((c: { name: string }) => c.name === 'mrn');
  assert.match(r.body.rows[0][mrn], /^tok_/, 'the agent sees tokens, not MRNs');
});

for (const service of ['policy', 'masking'] as const) {
  test(`with ${service} stopped, queries fail closed with a clear error and recover when it returns`, async () => {
    const token = await demoToken('etl-pipeline');
    const gatewayPid = pidOf('gateway');
    const sql = { connection: 'clinical-pg', sql: 'SELECT id, ssn FROM patients ORDER BY id LIMIT 3' };
    assert.equal((await query(token, sql)).status, 200);
    process.kill(pidOf(service), 'SIGTERM');
    await eventually(`${service} to stop`, async () => {
      try {
        process.kill(pidOf(service), 0);
        return undefined;
      } catch {
        return true;
      }
    });
    try {
      const r = await query(token, sql);
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(r.body.code, service === 'policy' ? 'GATEWAY_POLICY_UNAVAILABLE' : 'GATEWAY_MASKING_UNAVAILABLE');
      assert.equal(r.body.rows, undefined, 'no rows leave');
      assert.ok(r.body.requestId);
    } finally {
      execFileSync('bash', [join(REPO_ROOT, 'deploy/local/bin/stack'), 'restart', service], { stdio: 'ignore', timeout: 120_000 });
    }
    const back = await eventually(`queries to work again after ${service} returns`, async () => {
      const r = await query(token, sql);
      return r.status === 200 ? r : undefined;
    });
    assert.equal(back.body.rowCount, 3);
    assert.equal(pidOf('gateway'), gatewayPid, 'the gateway was not restarted');
  });
}
