// phigate-test: stack
// Upstream errors never carry values, through every door, on the running local stack. Each case
// provokes a value-bearing upstream error on columns no policy masks (a cast of a value the
// statement builds at run time, a duplicate key, a missing foreign key) and checks that what the
// client receives keeps the upstream's SQLSTATE (and Snowflake code) and wording, but not the value:
// the HTTP API (PostgreSQL and the Snowflake warehouse), the PostgreSQL door (node-postgres) and
// the Snowflake door (snowflake-sdk, both connections). The audit trail on Kafka and the gateway's
// log must not hold the value either. Needs the local stack (`npm run stack:up`).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { demoToken, eventually, kcatArgs, need, requireHttp } from '@phigate/testkit';
import pg from 'pg';
import type snowflake from 'snowflake-sdk';
import { sfConnect, sfDestroy } from './fixtures/snowflake/connect.js';

const gateway = () => need('GATEWAY_URL');
/** A tag no statement, table or message holds: the values below are built from it at run time. */
const TAG = `q${randomBytes(4).toString('hex')}z`;
/** `'x' || id::text || TAG` for claim 1: a value that exists only in the upstream's answer. */
const BUILT = `x1${TAG}`;
const CAST_BUILT = `SELECT ('x' || id::text || '${TAG}')::int FROM claims WHERE id = 1`;
/** An existing claim id (found in `before`): the duplicate-key value. */
let claimId = '';
/** A patient id that does not exist, built at run time (claim 1's id + OFFSET): the foreign-key value. */
const OFFSET = 900_000_000 + Math.floor(Math.random() * 90_000_000);
const NO_PATIENT = String(OFFSET + 1);
const INSERT_NO_PATIENT = `INSERT INTO claims (patient_id, status) SELECT id + ${OFFSET}, 'submitted' FROM claims WHERE id = 1`;
let etl = '';
let billing = '';
const started = Date.now() - 1000;
/** Request ids of every failure provoked here, for the audit check. */
const requestIds: string[] = [];

async function query(token: string, connection: string, sql: string): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`${gateway()}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ connection, sql }),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** Everything a client sees of a failure, without the random request id (which could hold any digits). */
function visible(o: Record<string, unknown>): string {
  const { requestId: _r, ...rest } = o;
  return JSON.stringify(rest);
}

function assertWithout(text: string, values: string[], where: string): void {
  for (const v of values) assert.ok(!text.includes(v), `${where} carries the value ${v}: ${text}`);
}

before(async () => {
  await requireHttp('gateway', `${gateway()}/readyz`);
  etl = await demoToken('etl-pipeline');
  billing = await demoToken('billing-service');
  const r = await query(etl, 'clinical-pg', 'SELECT id FROM claims WHERE id BETWEEN 4000 AND 5000 ORDER BY id LIMIT 1');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  claimId = String(r.body.rows[0][0]);
  assert.match(claimId, /^\d{4}$/);
  const built = await query(etl, 'clinical-pg', `SELECT 'x' || id::text || '${TAG}' AS v FROM claims WHERE id = 1`);
  assert.equal(built.status, 200, JSON.stringify(built.body));
  assert.deepEqual(built.body.rows, [[BUILT]], 'the built value is readable as such (not masked)');
});

test('HTTP API, PostgreSQL: a failed cast, a duplicate key and a missing foreign key keep their SQLSTATE and wording, never the value', async () => {
  const cast = await query(etl, 'clinical-pg', CAST_BUILT);
  assert.equal(cast.status, 409, JSON.stringify(cast.body));
  assert.equal(cast.body.code, 'GATEWAY_UPSTREAM_ERROR');
  assert.equal(cast.body.sqlstate, '22P02');
  assert.deepEqual(cast.body.upstream, { message: 'invalid input syntax for type integer: "?"' });
  assert.equal(cast.body.message, 'the upstream database rejected the statement: invalid input syntax for type integer: "?"');
  assertWithout(visible(cast.body), [BUILT], 'the HTTP error');
  requestIds.push(cast.body.requestId);

  const dup = await query(billing, 'clinical-pg', `INSERT INTO claims (id, patient_id, status) VALUES (${claimId}, 1, 'submitted')`);
  assert.equal(dup.status, 409, JSON.stringify(dup.body));
  assert.equal(dup.body.sqlstate, '23505');
  assert.deepEqual(dup.body.upstream, { message: 'duplicate key value violates unique constraint "claims_pkey"', detail: 'Key (id)=(?) already exists.' });
  assertWithout(visible(dup.body), [`(${claimId})`, `=${claimId}`], 'the HTTP error');
  requestIds.push(dup.body.requestId);

  const fk = await query(billing, 'clinical-pg', INSERT_NO_PATIENT);
  assert.equal(fk.status, 409, JSON.stringify(fk.body));
  assert.equal(fk.body.sqlstate, '23503');
  assert.deepEqual(fk.body.upstream, {
    message: 'insert or update on table "claims" violates foreign key constraint "claims_patient_id_fkey"',
    detail: 'Key (patient_id)=(?) is not present in table "patients".',
  });
  assertWithout(visible(fk.body), [NO_PATIENT], 'the HTTP error');
  requestIds.push(fk.body.requestId);
});

test('HTTP API, Snowflake warehouse: the conversion and constraint errors keep code and SQLSTATE, never the value', async () => {
  const cast = await query(etl, 'clinical-sf', CAST_BUILT);
  assert.equal(cast.status, 409, JSON.stringify(cast.body));
  assert.equal(cast.body.code, 'GATEWAY_UPSTREAM_ERROR');
  assert.equal(cast.body.sfCode, '100038');
  assert.equal(cast.body.sqlstate, '22018');
  // Snowflake's own words (the local warehouse raises them as Snowflake does), the value scrubbed.
  assert.match(cast.body.upstream.message, /^Numeric value '\?' is not recognized/);
  assertWithout(visible(cast.body), [BUILT, TAG], 'the HTTP error');
  requestIds.push(cast.body.requestId);

  const dup = await query(billing, 'clinical-sf', `INSERT INTO claims (id, patient_id, status) VALUES (${claimId}, 1, 'submitted')`);
  assert.equal(dup.status, 409, JSON.stringify(dup.body));
  assert.equal(dup.body.sfCode, '100072');
  assert.equal(dup.body.upstream.message, 'Duplicate key "?" violates primary key constraint.');
  assertWithout(visible(dup.body), [`: ${claimId}`, `(${claimId})`], 'the HTTP error');
  requestIds.push(dup.body.requestId);
});

function pgClient(user: string, token: string): pg.Client {
  const [host, port] = need('GATEWAY_PG_ADDR').split(':');
  return new pg.Client({ host, port: Number(port), user, database: 'clinical-pg', password: token, connectionTimeoutMillis: 10_000 });
}

async function pgError(c: pg.Client, sql: string): Promise<pg.DatabaseError> {
  try {
    await c.query(sql);
  } catch (err) {
    return err as pg.DatabaseError;
  }
  assert.fail(`the statement succeeded: ${sql}`);
}

/** Every field of an ErrorResponse a client can read. */
function fields(e: pg.DatabaseError): string {
  const { message, code, detail, hint, where, position, schema, table, column, dataType, constraint, internalQuery } = e;
  return JSON.stringify({
    message,
    code,
    detail: detail?.replace(/request id: [0-9a-f-]{36}/, ''),
    hint,
    where,
    position,
    schema,
    table,
    column,
    dataType,
    constraint,
    internalQuery,
  });
}

test('PostgreSQL door: err.code is the upstream SQLSTATE; message, detail and hint hold no value', async (t) => {
  const reader = pgClient('etl-pipeline', etl);
  await reader.connect();
  t.after(() => reader.end());
  const cast = await pgError(reader, CAST_BUILT);
  assert.equal(cast.code, '22P02');
  assert.equal(cast.message, 'invalid input syntax for type integer: "?"');
  assert.match(String(cast.detail), /^request id: [0-9a-f-]{36}$/);
  assert.equal(cast.hint, 'phigate error code GATEWAY_UPSTREAM_ERROR');
  assert.equal(cast.where, undefined);
  assertWithout(fields(cast), [BUILT, TAG], 'the ErrorResponse');
  // The session is still usable after the upstream error.
  assert.equal(String((await reader.query('SELECT id FROM claims WHERE id = 1')).rows[0].id), '1');

  const writer = pgClient('billing-service', billing);
  await writer.connect();
  t.after(() => writer.end());
  const dup = await pgError(writer, `INSERT INTO claims (id, patient_id, status) VALUES (${claimId}, 1, 'submitted')`);
  assert.equal(dup.code, '23505');
  assert.equal(dup.message, 'duplicate key value violates unique constraint "claims_pkey"');
  assert.match(String(dup.detail), /^Key \(id\)=\(\?\) already exists\.\nrequest id: [0-9a-f-]{36}$/);
  assertWithout(fields(dup), [`(${claimId})`, `=${claimId}`], 'the ErrorResponse');

  // Inside the client's own transaction (a pinned upstream session): the same.
  await writer.query('BEGIN');
  const fk = await pgError(writer, INSERT_NO_PATIENT);
  await writer.query('ROLLBACK');
  assert.equal(fk.code, '23503');
  assert.equal(fk.message, 'insert or update on table "claims" violates foreign key constraint "claims_patient_id_fkey"');
  assert.match(String(fk.detail), /^Key \(patient_id\)=\(\?\) is not present in table "patients"\.\n/);
  assertWithout(fields(fk), [NO_PATIENT], 'the ErrorResponse');
});

function sfError(conn: snowflake.Connection, sqlText: string): Promise<{ code?: string; sqlState?: string; message: string }> {
  return new Promise((resolve, reject) =>
    conn.execute({
      sqlText,
      complete: (err) => (err ? resolve(err as unknown as { code?: string; sqlState?: string; message: string }) : reject(new Error(`succeeded: ${sqlText}`))),
    }),
  );
}

test('Snowflake door (snowflake-sdk): the warehouse’s code and SQLSTATE stay, its message loses the value', async (t) => {
  const reader = await sfConnect({ gatewayUrl: gateway(), account: 'clinical-sf', token: etl, database: 'CLINICAL', schema: 'PUBLIC' });
  t.after(() => sfDestroy(reader));
  const cast = await sfError(reader, CAST_BUILT);
  assert.equal(String(cast.code), '100038');
  assert.equal(cast.sqlState, '22018');
  assert.match(cast.message, /^Numeric value '\?' is not recognized.* \(phigate GATEWAY_UPSTREAM_ERROR, request [0-9a-f-]{36}\)$/);
  assertWithout(cast.message, [BUILT, TAG], 'the driver error');

  const writer = await sfConnect({ gatewayUrl: gateway(), account: 'clinical-sf', token: billing, database: 'CLINICAL', schema: 'PUBLIC' });
  t.after(() => sfDestroy(writer));
  const dup = await sfError(writer, `INSERT INTO claims (id, patient_id, status) VALUES (${claimId}, 1, 'submitted')`);
  assert.equal(String(dup.code), '100072');
  assert.match(dup.message, /^Duplicate key "\?" violates primary key constraint\. \(phigate/);
  assertWithout(dup.message.replace(/request [0-9a-f-]{36}/, ''), [claimId], 'the driver error');
});

test('Snowflake door on the PostgreSQL connection: the upstream SQLSTATE and scrubbed message and detail', async (t) => {
  const reader = await sfConnect({ gatewayUrl: gateway(), account: 'clinical-pg', token: etl, database: 'clinical', schema: 'public' });
  t.after(() => sfDestroy(reader));
  const cast = await sfError(reader, CAST_BUILT);
  assert.equal(cast.sqlState, '22P02');
  assert.match(cast.message, /^invalid input syntax for type integer: "\?" \(phigate GATEWAY_UPSTREAM_ERROR, request [0-9a-f-]{36}\)$/);
  assertWithout(cast.message, [BUILT, TAG], 'the driver error');

  const writer = await sfConnect({ gatewayUrl: gateway(), account: 'clinical-pg', token: billing, database: 'clinical', schema: 'public' });
  t.after(() => sfDestroy(writer));
  const dup = await sfError(writer, `INSERT INTO claims (id, patient_id, status) VALUES (${claimId}, 1, 'submitted')`);
  assert.equal(dup.sqlState, '23505');
  assert.match(dup.message, /^duplicate key value violates unique constraint "claims_pkey"\nKey \(id\)=\(\?\) already exists\. \(phigate/);
  assertWithout(dup.message.replace(/request [0-9a-f-]{36}/, ''), [claimId], 'the driver error');
});

test('the audit trail (Kafka) and the gateway log hold no value either', async () => {
  assert.ok(requestIds.length >= 3, 'the HTTP cases ran');
  const events = await eventually('the query.failed events on Kafka', async () => {
    const out = execFileSync('kcat', ['-C', ...kcatArgs(), '-t', 'phigate.audit.v1', '-o', `s@${started}`, '-e', '-q', '-f', '%s\n'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    const mine = out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, any>)
      .filter((e) => requestIds.includes(e.requestId));
    return requestIds.every((id) => mine.some((e) => e.requestId === id && e.type === 'query.failed')) ? mine : undefined;
  });
  const failed = events.filter((e) => e.type === 'query.failed');
  assert.ok(
    failed.some((e) => JSON.stringify(e).includes('invalid input syntax for type integer: \\"?\\"')),
    'the scrubbed message is recorded',
  );
  for (const e of events) assertWithout(JSON.stringify(e), [BUILT, NO_PATIENT], `audit event ${e.type}`);

  const log = join(need('PHIGATE_LOG_DIR'), 'gateway.log');
  if (existsSync(log)) assertWithout(readFileSync(log, 'utf8'), [BUILT, NO_PATIENT], 'the gateway log');
});
