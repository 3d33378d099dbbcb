// phigate-test: stack
// Async queries through the Snowflake door, end to end with the drivers' own async APIs: the Python
// connector (execute_async, get_query_status, get_query_status_throw_if_error, get_results_from_sfqid),
// JDBC (executeAsyncQuery, getStatusV2) and the Node driver (asyncExec,
// getQueryStatus, getResultsFromQueryId), plus the exact paths other drivers send (the Python connector 5's `/monitoring/queries//<id>`, gosnowflake's and JDBC's). Rows
// read by query id are masked as any others; a statement of another identity has no status. The
// door runs in a replica of its own with a short hold, so a poll of a held statement answers soon.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import './fixtures/snowflake/driver-env.js';
import { demoToken, eventually, freePort, type SpawnedApp, spawnApp } from '@phigate/testkit';
import snowflake from 'snowflake-sdk';
import { runJdbc, runPython } from './fixtures/snowflake/clients.js';
import { heldStatement } from './fixtures/snowflake/held.js';

const ACCOUNT = 'clinical-sf';
/** How long the replica holds a query-request or result poll open before "in progress". */
const HOLD_MS = 1000;

snowflake.configure({ logLevel: 'OFF', disableOCSPChecks: true });

let replica: Promise<SpawnedApp> | undefined;
/** A gateway replica for this file (the stack's gateway may run an older build). */
function gateway(): Promise<SpawnedApp> {
  replica ??= freePort().then((port) =>
    spawnApp('gateway', 'services/gateway/dist/src/main.js', port, {
      GATEWAY_HTTP_PORT: String(port),
      GATEWAY_REPLICA_ID: `sf-async-${port}`,
      GATEWAY_PG_PORT: '0',
      GATEWAY_SF_HOLD_MS: String(HOLD_MS),
    }),
  );
  return replica;
}
test.after(async () => (await replica)?.kill('SIGTERM'));

type Json = Record<string, any>;

async function call(method: 'GET' | 'POST', path: string, token?: string, body?: unknown): Promise<Json> {
  const res = await fetch(`${(await gateway()).url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Snowflake Token="${token}"` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  assert.equal(res.status, 200, `${method} ${path}`);
  return (await res.json()) as Json;
}

/** `purpose`: a purpose of use in the login's QUERY_TAG session parameter, as drivers send it. */
async function login(identity: string, purpose?: string): Promise<string> {
  const r = await call('POST', `/session/v1/login-request?requestId=${crypto.randomUUID()}`, undefined, {
    data: {
      ACCOUNT_NAME: ACCOUNT,
      AUTHENTICATOR: 'OAUTH',
      TOKEN: await demoToken(identity),
      ...(purpose ? { SESSION_PARAMETERS: { QUERY_TAG: `purpose=${purpose}` } } : {}),
    },
  });
  assert.equal(r.success, true, JSON.stringify(r));
  return r.data.token as string;
}

const submit = (token: string, sqlText: string) =>
  call('POST', `/queries/v1/query-request?requestId=${crypto.randomUUID()}`, token, { sqlText, asyncExec: true });

test('Python: execute_async, get_query_status(_throw_if_error) and get_results_from_sfqid, masked, through the door', async (t) => {
  const url = new URL((await gateway()).url);
  const held = heldStatement();
  const run = runPython(t, 'async_queries.py', [url.hostname, url.port, ACCOUNT, await demoToken('etl-pipeline'), await held.token(), held.sql]);
  const { steps } = run;
  await eventually(
    'the Python client to see its held statement queued',
    async () => {
      if (run.ended()) throw new Error(`the Python script ended early:\n${run.stderr()}`);
      return steps['held-queued'] ? true : undefined;
    },
    60_000,
  );
  await held.approve();
  assert.equal(await run.done, 0, `the Python script failed:\n${run.stderr()}`);

  const masked = steps.masked;
  assert.equal(masked.final, 'SUCCESS');
  assert.equal(masked.statuses.at(-1), 'SUCCESS');
  assert.equal(masked.sfqid, masked.qid, 'the cursor reads the statement it was given');
  assert.deepEqual(
    masked.rows.map((r: unknown[]) => r.slice(0, 2)),
    [
      [1, '[REDACTED]'],
      [2, '[REDACTED]'],
      [3, '[REDACTED]'],
    ],
    'rows read by query id are masked',
  );
  for (const r of masked.rows) assert.match(String(r[2]), /\*\*\*.*\d{4}$/, 'the phone keeps only its last four digits');

  assert.equal(steps.denied.statuses.at(-1), 'FAILED_WITH_ERROR');
  assert.equal(steps.denied.raised, true, 'get_query_status_throw_if_error raises the refusal');
  assert.equal(steps.denied.errno, 3001);
  assert.match(steps.denied.msg, /block-ddl/);
  assert.equal(steps['denied-results'].raised, true, 'get_results_from_sfqid raises it too');

  assert.equal(steps.foreign.status, 'NO_DATA', "another identity's statement has no status");
  assert.equal(steps['held-queued'].status, 'QUEUED');
  assert.equal(steps['held-queued'].running, true, 'a held statement counts as still running');
  assert.deepEqual(steps.held.rows, held.rows, 'approval does not lift masking');
  assert.equal(steps.held.status, 'SUCCESS');
});

test('JDBC: executeAsyncQuery and getStatusV2 (getQueryStatus), for a statement that runs (its rows read by RESULT_SCAN) and one policy refuses', async (t) => {
  const url = new URL((await gateway()).url);
  const run = runJdbc(t, 'JdbcAsync.java', [url.hostname, url.port, ACCOUNT, await demoToken('etl-pipeline')]);
  assert.equal(await run.done, 0, `the JDBC program failed:\n${run.stderr()}`);
  assert.deepEqual([run.steps.succeeded.status, run.steps.succeeded.id], ['SUCCESS', run.steps.succeeded.qid]);
  // Its rows, read with RESULT_SCAN of its id: masked as when it ran.
  assert.deepEqual(run.steps.rows.rows, [
    [1, '[REDACTED]'],
    [2, '[REDACTED]'],
  ]);
  assert.deepEqual([run.steps.denied.status, run.steps.denied.errorCode, run.steps.denied.error], ['FAILED_WITH_ERROR', 3001, true]);
});

test('Node: asyncExec, getQueryStatus and getResultsFromQueryId, masked', async (t) => {
  const url = new URL((await gateway()).url);
  const conn = snowflake.createConnection({
    account: ACCOUNT,
    host: url.hostname,
    port: Number(url.port),
    protocol: 'http',
    authenticator: 'OAUTH',
    token: await demoToken('etl-pipeline'),
    database: 'CLINICAL',
    schema: 'PUBLIC',
  } as snowflake.ConnectionOptions);
  await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
  t.after(() => new Promise<void>((r) => conn.destroy(() => r())));
  const queryId = await new Promise<string>((resolve, reject) =>
    conn.execute({
      sqlText: 'SELECT ID, SSN FROM PATIENTS WHERE ID <= 2 ORDER BY ID',
      asyncExec: true,
      complete: (err, stmt) => (err ? reject(err) : resolve(stmt.getQueryId())),
    }),
  );
  const rows = await new Promise<unknown[]>((resolve, reject) =>
    conn.getResultsFromQueryId({ queryId, complete: (err, _stmt, r) => (err ? reject(err) : resolve(r ?? [])) }).catch(reject),
  );
  assert.deepEqual(rows, [
    { ID: 1, SSN: '[REDACTED]' },
    { ID: 2, SSN: '[REDACTED]' },
  ]);
  assert.equal(await conn.getQueryStatus(queryId), 'SUCCESS');
});

test('the paths drivers send: repeated slashes, gosnowflake and JDBC monitoring, result polls and RESULT_SCAN of an async statement', async () => {
  const token = await login('etl-pipeline');
  const started = await submit(token, 'SELECT ID, SSN FROM PATIENTS WHERE ID = 1');
  assert.equal(started.code, '333334', JSON.stringify(started));
  const id = started.data.queryId as string;
  const status = async (path: string) => ((await call('GET', path, token)).data?.queries as Json[] | undefined)?.[0]?.status;
  await eventually('the async statement to finish', async () => ((await status(`/monitoring/queries/${id}`)) === 'SUCCESS' ? true : undefined));
  // Python connector 5 (`/monitoring/queries//<id>?requestId=…&request_guid=…`), gosnowflake (`?request_guid=…`), JDBC (bare).
  for (const path of [
    `/monitoring/queries//${id}?requestId=${crypto.randomUUID()}&request_guid=${crypto.randomUUID()}`,
    `/monitoring/queries/${id}?request_guid=${crypto.randomUUID()}`,
    `/monitoring/queries/${id}`,
  ])
    assert.equal(await status(path), 'SUCCESS', path);
  // The monitoring entry carries what the drivers parse: string or null error fields, a string sqlText.
  const entry = (await call('GET', `/monitoring/queries/${id}`, token)).data.queries[0] as Json;
  assert.equal(typeof entry.sqlText, 'string');
  assert.equal(entry.errorCode, null);
  // Results by id, on every path shape (gosnowflake adds requestId, clientStartTime and request_guid).
  for (const path of [
    `/queries/${id}/result`,
    `/queries//${id}/result`,
    `/queries/${id}/result?requestId=${crypto.randomUUID()}&clientStartTime=1&request_guid=x`,
  ]) {
    const r = await call('GET', path, token);
    assert.equal(r.success, true, path);
    assert.deepEqual(r.data.rowset, [['1', '[REDACTED]']], `${path}: masked`);
  }
  // RESULT_SCAN of the statement's id (how JDBC reads async rows): its masked rows, for its own
  // identity only; another identity's RESULT_SCAN of it is "not found", as a poll of it would be.
  const scan = `SELECT * FROM TABLE(RESULT_SCAN('${id}'))`;
  const scanned = await call('POST', `/queries/v1/query-request?requestId=${crypto.randomUUID()}`, token, { sqlText: scan });
  assert.deepEqual(scanned.data.rowset, [['1', '[REDACTED]']]);
  const stranger = await call('POST', `/queries/v1/query-request?requestId=${crypto.randomUUID()}`, await login('analytics-agent', 'population-health'), {
    sqlText: scan,
  });
  assert.deepEqual([stranger.success, stranger.code], [false, '002003']);
  assert.match(stranger.message, /GATEWAY_SF_QUERY_NOT_FOUND/);

  // An unknown id: an empty status, and a result poll answered as Snowflake's "not found".
  const unknown = crypto.randomUUID();
  assert.deepEqual((await call('GET', `/monitoring/queries//${unknown}`, token)).data.queries, []);
  const missing = await call('GET', `/queries/${unknown}/result`, token);
  assert.deepEqual([missing.success, missing.code], [false, '002003']);
  assert.match(missing.message, /GATEWAY_SF_QUERY_NOT_FOUND/);

  // A held async statement: each result poll answers 333334 (gosnowflake's async mode polls on that
  // code alone) until the approval, then the masked rows.
  const held = heldStatement();
  const agent = await login('analytics-agent', 'population-health');
  const h = await submit(agent, held.sql);
  assert.equal(h.code, '333334');
  const heldId = h.data.queryId as string;
  const poll = await call('GET', `/queries/${heldId}/result`, agent);
  assert.deepEqual([poll.success, poll.code, poll.data.queryId], [true, '333334', heldId]);
  assert.equal((await call('GET', `/monitoring/queries//${heldId}`, agent)).data.queries[0].status, 'QUEUED');
  await held.approve();
  // Async clients poll monitoring alone until the statement is done, so monitoring records the approval's outcome.
  await eventually('monitoring to report the approved statement done', async () =>
    (await call('GET', `/monitoring/queries/${heldId}`, agent)).data.queries[0].status === 'SUCCESS' ? true : undefined,
  );
  const rows = await call('GET', `/queries/${heldId}/result`, agent);
  assert.equal(rows.success, true, JSON.stringify(rows));
  assert.deepEqual(
    rows.data.rowset,
    held.rows.map((r) => r.map(String)),
  );
});

test('session refusals on the monitoring and result paths are the codes drivers act on', async () => {
  const id = crypto.randomUUID();
  const none = await call('GET', `/monitoring/queries//${id}`);
  assert.deepEqual([none.success, none.code], [false, '390101']);
  assert.match(none.message, /GATEWAY_SF_SESSION_MISSING/);
  const stale = await call('GET', `/queries/${id}/result`, `ST-${'x'.repeat(40)}`);
  assert.deepEqual([stale.success, stale.code, stale.data?.nextAction], [false, '390104', 'RETRY_LOGIN']);
  assert.match(stale.message, /GATEWAY_SF_SESSION_INVALID/);
});
