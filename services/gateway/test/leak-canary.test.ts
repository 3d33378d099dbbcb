// phigate-test: stack
// The leak canary watches every identity, through every door that returns rows (HTTP, PostgreSQL
// wire, Snowflake): the ETL pipeline, which no canary entry names, gets report mode and is not
// flagged for the PHI it sees in clear (names, MRNs, birth dates, ZIPs, encounter dates, member
// ids); an SSN in a column policy did not mask is flagged (phi.leak_suspected, rows flow) for it,
// and blocks the AI agent's result.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { lifecycleOf } from '@phigate/bus/lifecycle';
import { demoToken, eventually, kafkaEventsSince, need, requireHttp } from '@phigate/testkit';
import pg from 'pg';
import { sfConnect } from './fixtures/snowflake/connect.js';

type Event = Record<string, any>;

/** Every step of the request whose statement contains `marker` (a query.served record read as its steps), once it completed or failed. */
async function eventsOf(sinceMs: number, marker: string): Promise<Event[]> {
  return eventually(`the events of the statement ${marker}`, async () => {
    const events = kafkaEventsSince(sinceMs).flatMap(lifecycleOf) as Event[];
    const id = events.find((e) => e.type === 'query.received' && String(e.queryReceived?.statement).includes(marker))?.requestId;
    const mine = events.filter((e) => e.requestId === id);
    return id && mine.some((e) => e.type === 'query.completed' || e.type === 'query.failed') ? mine : undefined;
  });
}

const leaks = (events: Event[]) => events.filter((e) => e.type === 'phi.leak_suspected').map((e) => e.phiLeakSuspected);
const plan = (events: Event[]) => events.find((e) => e.type === 'policy.decided')?.policyDecided.maskingPlan;
/** A unique column alias: finds the request on Kafka, and names the column in a leak event. */
const alias = () => `c_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
const SSN_SQL = (a: string) => `SELECT id, '912-34-5678' AS ${a} FROM patients ORDER BY id LIMIT 3`;

/** `purpose`: the purpose of use, which the analytics agent's binding requires (X-Phigate-Purpose). */
async function http(identity: string, connection: string, sql: string, purpose?: string) {
  const res = await fetch(`${need('GATEWAY_URL')}/v1/query`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${await demoToken(identity)}`,
      ...(purpose ? { 'x-phigate-purpose': purpose } : {}),
    },
    body: JSON.stringify({ connection, sql }),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

test('HTTP: the ETL pipeline is watched (report) and not flagged for the PHI it sees in clear', async () => {
  await requireHttp('gateway', `${need('GATEWAY_URL')}/readyz`);
  const since = Date.now() - 1000;
  const reads = [
    [`SELECT id, mrn, first_name, last_name, dob, zip, phone, email, ssn, notes FROM patients ORDER BY id LIMIT 2000`, ['name', 'mrn', 'dob', 'zip']],
    [`SELECT id, patient_id, admitted_at, discharged_at, diagnosis_code, notes FROM encounters ORDER BY id LIMIT 2000`, ['date']],
    [`SELECT id, patient_id, payer_member_id, amount, status FROM claims ORDER BY id LIMIT 2000`, ['health_plan_id']],
  ] as const;
  for (const connection of ['clinical-pg', 'clinical-sf']) {
    for (const [sql, visible] of reads) {
      const a = alias();
      const r = await http('etl-pipeline', connection, sql.replace('SELECT id', `SELECT id AS ${a}`));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.rowCount, 2000);
      const events = await eventsOf(since, a);
      assert.equal(plan(events)?.canary, 'CANARY_MODE_REPORT', 'no canary entry names etl: the default');
      assert.deepEqual(plan(events)?.visiblePhiKinds, visible);
      assert.deepEqual(leaks(events), [], `${connection}: ${sql}`);
    }
  }
});

test('HTTP, both connections: an SSN in a column policy left unmasked is flagged for ETL (rows flow), blocked for the AI agent', async () => {
  const since = Date.now() - 1000;
  for (const connection of ['clinical-pg', 'clinical-sf']) {
    const a = alias();
    const r = await http('etl-pipeline', connection, SSN_SQL(a));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.rows.length, 3, 'report mode: rows flow');
    const events = await eventsOf(since, a);
    assert.deepEqual(
      leaks(events).map((l) => [l.column.toLowerCase(), l.detector, Number(l.count)]),
      [[a, 'ssn', 3]],
    );
    assert.ok(!JSON.stringify(leaks(events)).includes('912-34'), 'a leak event never carries the value');

    const b = alias();
    const blocked = await http('analytics-agent', connection, SSN_SQL(b), 'population-health');
    assert.equal(blocked.status, 403, JSON.stringify(blocked.body));
    assert.equal(blocked.body.code, 'MASKING_LEAK_BLOCKED');
    assert.ok(!JSON.stringify(blocked.body).includes('912-34'));
    const failed = (await eventsOf(since, b)).find((e) => e.type === 'query.failed');
    assert.equal(failed?.queryFailed.code, 'MASKING_LEAK_BLOCKED');
  }
});

test('PostgreSQL wire door: same canary, same events', async () => {
  const since = Date.now() - 1000;
  const [host, port] = need('GATEWAY_PG_ADDR').split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'etl-pipeline', database: 'clinical-pg', password: await demoToken('etl-pipeline') });
  await c.connect();
  try {
    const clear = alias();
    const ok = await c.query(`SELECT id AS ${clear}, mrn, first_name, dob, zip FROM patients ORDER BY id LIMIT 500`);
    assert.equal(ok.rows.length, 500);
    assert.deepEqual(leaks(await eventsOf(since, clear)), [], 'MRNs, names, birth dates and ZIPs are visible to etl');
    const a = alias();
    const r = await c.query(SSN_SQL(a));
    assert.equal(r.rows[0][a], '912-34-5678', 'report mode: rows flow');
    assert.deepEqual(
      leaks(await eventsOf(since, a)).map((l) => [l.column, l.detector]),
      [[a, 'ssn']],
    );
  } finally {
    await c.end();
  }
});

test('Snowflake door: same canary, same events', async () => {
  const since = Date.now() - 1000;
  const conn = await sfConnect({ gatewayUrl: need('GATEWAY_URL'), token: await demoToken('etl-pipeline') });
  const exec = (sqlText: string) =>
    new Promise<unknown[][]>((resolve, reject) =>
      conn.execute({ sqlText, rowMode: 'array', complete: (err, _stmt, rows) => (err ? reject(err) : resolve((rows ?? []) as unknown[][])) }),
    );
  try {
    const clear = alias();
    assert.equal((await exec(`SELECT id AS ${clear}, mrn, first_name, dob, zip FROM patients ORDER BY id LIMIT 500`)).length, 500);
    assert.deepEqual(leaks(await eventsOf(since, clear)), []);
    const a = alias();
    assert.equal((await exec(SSN_SQL(a))).length, 3, 'report mode: rows flow');
    assert.deepEqual(
      leaks(await eventsOf(since, a)).map((l) => [l.column.toLowerCase(), l.detector]),
      [[a, 'ssn']],
    );
  } finally {
    await new Promise<void>((r) => conn.destroy(() => r()));
  }
});
