// phigate-test: stack
// Transactions and session parameters through the stack's Snowflake door (issue 16, items 1 and 2),
// with the real drivers: the Python connector (commit, rollback, autocommit(False), a session closed
// inside a transaction, ALTER SESSION, USE), snowflake-sqlalchemy, snowflake-jdbc, gosnowflake and
// snowflake-sdk. Writes go to SCRATCH.CONFORMANCE_ROWS (no PHI) under a run id of each test's, and
// every statement inside a transaction is still masked and audited.
import './fixtures/snowflake/driver-env.js';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { lifecycleOf } from '@phigate/bus/lifecycle';
import { demoToken, eventually, need, REPO_ROOT, uniqueName } from '@phigate/testkit';
import type snowflake from 'snowflake-sdk';
import { runJdbc, runPython } from './fixtures/snowflake/clients.js';
import { sfConnect, sfDestroy } from './fixtures/snowflake/connect.js';

const run = promisify(execFile);
const ACCOUNT = 'clinical-sf';

type StoredEvent = { type: string; queryReceived?: { statement: string; queryTag?: string; analysis: { understood: boolean } } };

/** The audit trail of one request, once `wanted` are all in it (the auditor's API). */
async function auditEvents(requestId: string, wanted: string[]): Promise<StoredEvent[]> {
  const auditor = await demoToken('audra');
  return eventually(`the audit events of ${requestId}`, async () => {
    const res = await fetch(`${need('AUDIT_URL')}/v1/requests/${requestId}`, { headers: { authorization: `Bearer ${auditor}` } });
    if (res.status !== 200) return undefined;
    // A read that ran without waiting is one query.served record: read as its steps.
    const events = ((await res.json()) as { events: StoredEvent[] }).events.flatMap(lifecycleOf) as StoredEvent[];
    return wanted.every((t) => events.some((e) => e.type === t)) ? events : undefined;
  });
}

test('Python: rollback(), autocommit(False) with commit() and rollback(), a closed session rolls back; a masked read inside stays masked and audited; DictCursor', async (t) => {
  const url = new URL(need('GATEWAY_URL'));
  const id = uniqueName('sf-session');
  const p = runPython(t, 'session.py', [url.hostname, url.port, ACCOUNT, await demoToken('etl-pipeline'), id, await demoToken('billing-service')]);
  assert.equal(await p.done, 0, `the Python script failed:\n${p.stderr()}`);
  const { rollback, closed, held } = p.steps;
  const off = p.steps['autocommit-off'];

  assert.deepEqual(rollback, { step: 'rollback', status: 'Statement executed successfully.', inside: 1, outside: 0, after: 0 });
  // Row 2 committed; row 3, written after the commit, rolled back; row 4 with autocommit on again.
  assert.deepEqual([off.before, off.committed, off.after], [0, 1, 1]);
  assert.equal(p.steps['autocommit-on'].after, 2);
  // The closed session's update of row 2 was rolled back: the other session could update it (an open
  // transaction holding the row makes that a write conflict), and its insert of row 5 is gone.
  assert.deepEqual([closed.after, closed.updated, closed.labels], [2, 1, ['after', 'python']]);

  assert.deepEqual(off.masked, [1, '[REDACTED]']);
  // DictCursor: keyed by column name, SSN masked, the unmasked columns typed (DOB a date).
  const dict = p.steps['dict-cursor'].row;
  assert.deepEqual(Object.keys(dict), ['ID', 'SSN', 'DOB']);
  assert.deepEqual([dict.ID, dict.SSN], [1, '[REDACTED]']);
  assert.match(dict.DOB, /^\d{4}-\d{2}-\d{2}$/);
  await auditEvents(off.maskedQid, ['query.received', 'policy.decided', 'query.executed', 'masking.applied', 'query.completed']);

  assert.deepEqual(held.refusal, {
    errno: 2040,
    sqlstate: '25001',
    msg: 'SQL execution error:\nthe statement needs approval, which cannot wait inside a transaction block; run it outside one',
    code: 'GATEWAY_PG_APPROVAL_IN_TRANSACTION',
  });
});

test('Python: ALTER SESSION SET QUERY_TAG and TIMEZONE (timestamps in that zone), UNSET, USE of the session’s own objects; other USE, roles and parameters refused', async (t) => {
  const url = new URL(need('GATEWAY_URL'));
  const p = runPython(t, 'session.py', [
    url.hostname,
    url.port,
    ACCOUNT,
    await demoToken('etl-pipeline'),
    uniqueName('sf-params'),
    await demoToken('billing-service'),
  ]);
  assert.equal(await p.done, 0, `the Python script failed:\n${p.stderr()}`);
  const { parameters, use } = p.steps;
  assert.deepEqual(p.steps.async, { step: 'async', status: 'SUCCESS', rows: [['Statement executed successfully.']] });
  const { taggedQid, ...shownParameters } = parameters;
  // QUERY_TAG is recorded on the audit record of each statement run under it.
  const tagged = await auditEvents(taggedQid, ['query.received', 'query.completed']);
  assert.equal(tagged.find((e) => e.type === 'query.received')?.queryReceived?.queryTag, 'phigate-test');
  assert.deepEqual(shownParameters, {
    step: 'parameters',
    utc: '2024-01-01T12:00:00+00:00',
    zoned: '2024-01-01T07:00:00-05:00',
    unset: '2024-01-01T12:00:00+00:00',
    shown: [['QUERY_TAG', 'phigate-test', '', 'SESSION', 'applied to the warehouse session', 'STRING']],
  });
  for (const k of ['warehouse', 'database', 'schema', 'dbt']) assert.equal(use[k], null, `${k} is accepted`);
  assert.deepEqual([use.otherWarehouse.errno, use.otherWarehouse.sqlstate, use.otherWarehouse.code], [2043, '02000', 'GATEWAY_SF_USE_REFUSED']);
  assert.match(use.otherWarehouse.msg, /Warehouse 'ELSEWHERE' cannot be used: statements on 'clinical-sf' run on /);
  assert.match(use.otherSchema.msg, /Schema 'SCRATCH' cannot be used: .*CLINICAL\.PUBLIC; name tables of other schemas in full/);
  assert.deepEqual([use.role.errno, use.role.sqlstate, use.role.code], [3013, '42501', 'GATEWAY_SF_ROLE_CHANGE_REFUSED']);
  assert.match(
    use.role.msg,
    /Requested role 'ACCOUNTADMIN' cannot be used: phigate runs this session as CLINICAL_READER, the role the binding of etl-pipeline gives it/,
  );
  assert.equal(use.secondary.code, 'GATEWAY_SF_ROLE_CHANGE_REFUSED');
  assert.deepEqual([use.unknown.errno, use.unknown.sqlstate, use.unknown.code], [2040, '0A000', 'GATEWAY_SF_SESSION_PARAMETER_REFUSED']);
  assert.match(use.unknown.msg, /Session parameter 'USE_CACHED_RESULT' cannot be changed .* allows: AUTOCOMMIT, .*QUERY_TAG, TIMEZONE/);
  // QUOTED_IDENTIFIERS_IGNORE_CASE = TRUE: lower-case quoted names resolve to PATIENTS and its
  // columns, decided and masked as such (SSN masked, ID in clear); under the default they name
  // nothing, and the warehouse says so as Snowflake does.
  const ignoreCase = p.steps['ignore-case'];
  for (const refused of [ignoreCase.byDefault, ignoreCase.after]) {
    assert.deepEqual([refused.errno, refused.sqlstate], [2003, '42S02']);
    assert.match(refused.msg, /^SQL compilation error:\nObject '.*' does not exist or not authorized\.$/);
  }
  assert.deepEqual(ignoreCase.ignoring, [1, '[REDACTED]']);
  const ignoring = await auditEvents(ignoreCase.ignoringQid, ['query.received', 'masking.applied', 'query.completed']);
  assert.equal(ignoring.find((e) => e.type === 'query.received')?.queryReceived?.analysis.understood, true);
  // The same parameters set at login (connect(autocommit=False, session_parameters=…)) count as ALTER SESSION does.
  const { login } = p.steps;
  assert.deepEqual([login.after, login.zoned], [2, '2024-01-01T07:00:00-05:00'], 'autocommit=False at connect: the write was rolled back');
  assert.equal(login.refused.errno, 390100);
  assert.match(login.refused.msg, /Invalid value \[Mars\/Olympus_Mons\] for parameter 'TIMEZONE'/);
});

test('snowflake-sqlalchemy: an engine connects (and rolls back on return), reads masked, and runs a transaction', async () => {
  const python = join(need('PHIGATE_HOME'), 'venv', 'bin', 'python');
  assert.ok(existsSync(python), `no Python venv at ${python}: run deploy/local/bin/pydeps (it installs snowflake-sqlalchemy)`);
  const url = new URL(need('GATEWAY_URL'));
  const script = `
import json, sys
from sqlalchemy import create_engine, text
from snowflake.sqlalchemy import URL
e = create_engine(URL(account=sys.argv[3], database='CLINICAL', schema='PUBLIC'),
                  connect_args=dict(host=sys.argv[1], port=int(sys.argv[2]), protocol='http', authenticator='oauth', token=sys.argv[4]))
run = sys.argv[5]
count = "SELECT COUNT(*) FROM SCRATCH.CONFORMANCE_ROWS WHERE RUN_ID = :run"
insert = "INSERT INTO SCRATCH.CONFORMANCE_ROWS (RUN_ID, ID, LABEL) VALUES (:run, :id, 'sqlalchemy')"
with e.connect() as c:
    masked = list(c.execute(text('SELECT ID, SSN FROM PATIENTS WHERE ID = 1')).one())
with e.connect() as c:
    c.execute(text(insert), dict(run=run, id=1))
    c.rollback()
with e.begin() as c:
    c.execute(text(insert), dict(run=run, id=2))
with e.connect() as c:
    after = c.execute(text(count), dict(run=run)).scalar()
    c.execute(text("DELETE FROM SCRATCH.CONFORMANCE_ROWS WHERE RUN_ID = :run"), dict(run=run))
    c.commit()
print(json.dumps({"masked": masked, "after": after}))
`;
  const r = await run(python, ['-c', script, url.hostname, url.port, ACCOUNT, await demoToken('etl-pipeline'), uniqueName('sf-sqlalchemy')]);
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').at(-1)!), { masked: [1, '[REDACTED]'], after: 1 });
});

test('JDBC: setAutoCommit(false), rollback() and commit(), a masked read inside', async (t) => {
  const url = new URL(need('GATEWAY_URL'));
  const j = runJdbc(t, 'JdbcTransactions.java', [url.hostname, url.port, ACCOUNT, await demoToken('etl-pipeline'), uniqueName('sf-jdbc')]);
  assert.equal(await j.done, 0, `the JDBC program failed:\n${j.stderr()}`);
  assert.deepEqual(j.steps['rolled-back'], { step: 'rolled-back', autocommit: false, inside: 1, after: 0 });
  assert.deepEqual(j.steps.committed, { step: 'committed', autocommit: true, after: 1, ssn: '[REDACTED]' });
  assert.ok(j.steps.done);
});

test('gosnowflake: BeginTx with Rollback and Commit, a masked read inside, a bind with typed scans of the unmasked columns, async mode', async () => {
  const godeps = join(REPO_ROOT, 'deploy/local/bin/godeps-sf');
  await run('bash', [godeps]).catch((e: { stderr?: string }) => {
    throw new Error(`the gosnowflake fixture could not be built (Go 1.26+ is needed; see deploy/local/bin/godeps-sf):\n${e.stderr ?? e}`);
  });
  const bin = (await run('bash', [godeps, '--print'])).stdout.trim();
  const url = new URL(need('GATEWAY_URL'));
  const r = await run(bin, [url.hostname, url.port, ACCOUNT, await demoToken('etl-pipeline'), uniqueName('sf-go')], { timeout: 120_000 }).catch(
    (e: { stdout?: string; stderr?: string }) => {
      throw new Error(`the gosnowflake program failed:\n${e.stdout ?? ''}\n${e.stderr ?? e}`);
    },
  );
  const steps = Object.fromEntries(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: string })
      .map((s) => [s.step, s]),
  );
  assert.deepEqual(steps['rolled-back'], { step: 'rolled-back', inside: 1, after: 0 });
  assert.deepEqual(steps.committed, { step: 'committed', after: 1, id: 1, ssn: '[REDACTED]' });
  assert.deepEqual(steps.bind, { step: 'bind', id: 2, ssn: '[REDACTED]', dobYear: true }, 'a bind masks SSN alone; DOB scans as a time');
  assert.deepEqual(steps.async, {
    step: 'async',
    rows: [
      [1, '[REDACTED]'],
      [2, '[REDACTED]'],
      [3, '[REDACTED]'],
    ],
  });
  assert.ok(steps.done);
});

test('Node: BEGIN, COMMIT and ROLLBACK as statements answer as Snowflake does; ALTER SESSION SET TIMEZONE reaches LTZ values', async (t) => {
  const conn = await sfConnect({ gatewayUrl: new URL(need('GATEWAY_URL')).origin, token: await demoToken('etl-pipeline') });
  t.after(() => sfDestroy(conn));
  const exec = (sqlText: string, binds: snowflake.Binds = []) =>
    new Promise<{ rows: Array<Record<string, unknown>>; type: unknown }>((resolve, reject) =>
      conn.execute({
        sqlText,
        binds,
        complete: (err, stmt, rows) =>
          err
            ? reject(err)
            : resolve({
                rows: (rows ?? []) as Array<Record<string, unknown>>,
                type: (stmt as unknown as { getStatementTypeId?: () => unknown }).getStatementTypeId?.(),
              }),
      }),
    );
  const id = uniqueName('sf-node');
  const count = async () => (await exec('SELECT COUNT(*) AS N FROM SCRATCH.CONFORMANCE_ROWS WHERE RUN_ID = ?', [id])).rows[0]!.N;
  const insert = (n: number) => exec("INSERT INTO SCRATCH.CONFORMANCE_ROWS (RUN_ID, ID, LABEL) VALUES (?, ?, 'node')", [id, n]);

  assert.deepEqual((await exec('BEGIN')).rows, [{ status: 'Statement executed successfully.' }]);
  await insert(1);
  await exec('ROLLBACK');
  assert.equal(await count(), 0);
  await exec('START TRANSACTION');
  await insert(2);
  assert.deepEqual((await exec('COMMIT')).rows, [{ status: 'Statement executed successfully.' }]);
  assert.equal(await count(), 1);
  await exec('DELETE FROM SCRATCH.CONFORMANCE_ROWS WHERE RUN_ID = ?', [id]);

  await exec("ALTER SESSION SET TIMEZONE = 'Asia/Tokyo'");
  const { rows } = await exec("SELECT TO_TIMESTAMP_LTZ('2024-01-01 12:00:00 +00:00') AS T");
  assert.match(JSON.stringify(rows[0]!.T), /2024-01-01 21:00:00/);
});

test('a PostgreSQL connection behind the Snowflake door: ALTER SESSION stays in the door, BEGIN/ROLLBACK pin its upstream session', async (t) => {
  const conn = await sfConnect({
    gatewayUrl: new URL(need('GATEWAY_URL')).origin,
    token: await demoToken('etl-pipeline'),
    account: 'clinical-pg',
    database: 'clinical',
    schema: 'public',
  });
  t.after(() => sfDestroy(conn));
  const exec = (sqlText: string) =>
    new Promise<Array<Record<string, unknown>>>((resolve, reject) =>
      conn.execute({ sqlText, complete: (err, _stmt, rows) => (err ? reject(err) : resolve((rows ?? []) as Array<Record<string, unknown>>)) }),
    );
  await exec("ALTER SESSION SET QUERY_TAG = 'etl' TIMEZONE = 'Europe/Paris'");
  assert.deepEqual(await exec('SELECT id, ssn FROM patients WHERE id = 1'), [{ id: 1, ssn: '[REDACTED]' }]);
  await exec('BEGIN');
  assert.deepEqual(await exec('SELECT id FROM patients WHERE id = 2'), [{ id: 2 }]);
  await exec('ROLLBACK');
});
