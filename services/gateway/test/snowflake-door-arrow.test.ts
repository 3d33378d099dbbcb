// phigate-test: stack
// Arrow results through the Snowflake door (issue 16, item 8), against the stack's gateway: the
// official Python connector gets Arrow by default and fetch_pandas_all / fetch_arrow_all read it with
// the right dtypes (ints int64, timestamps datetime64, dates dates, masked columns text); a session
// that asks for JSON (at login or by ALTER SESSION) still gets JSON with the same frames; on the wire,
// the inline part and the chunks are Arrow IPC streams whose masked column holds only the redaction;
// snowflake-jdbc reads Arrow when it asks for it (JDBC_QUERY_RESULT_FORMAT=ARROW), gosnowflake
// likewise (GO_QUERY_RESULT_FORMAT=arrow), with the same values as JSON.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { demoToken, need, REPO_ROOT } from '@phigate/testkit';
import { tableFromIPC } from 'apache-arrow';
import { runJdbc, runPython } from './fixtures/snowflake/clients.js';

const ACCOUNT = 'clinical-sf';

test('Python: fetch_pandas_all and fetch_arrow_all read Arrow with the right dtypes and masked values; a JSON session gets the same frames', async (t) => {
  const url = new URL(need('GATEWAY_URL'));
  const run = runPython(t, 'arrow_results.py', [url.hostname, url.port, ACCOUNT, await demoToken('etl-pipeline')]);
  assert.equal(await run.done, 0, `the Python script failed:\n${run.stderr()}`);
  const { arrow, json } = run.steps;

  assert.equal(arrow.format, 'arrow');
  assert.equal(json.format, 'json');
  for (const s of [arrow, json]) {
    assert.equal(s.rows, 12_000);
    assert.deepEqual(s.dtypes, {
      'PATIENTS.ID': 'int64',
      'PATIENTS.SSN': 'object',
      'PATIENTS.FIRST_NAME': 'object',
      'PATIENTS.DOB': 'object',
      'ENCOUNTERS.ID': 'int64',
      'ENCOUNTERS.PATIENT_ID': 'int64',
      'ENCOUNTERS.ADMITTED_AT': 'datetime64[ns]',
      'ENCOUNTERS.DISCHARGED_AT': 'datetime64[ns]',
      'CLAIMS.ID': 'int64',
      'CLAIMS.AMOUNT': 'float64',
      'CLAIMS.STATUS': 'object',
      'LITERALS.R': 'float64',
      'LITERALS.B': 'bool',
      'LITERALS.N': 'float64',
      'LITERALS.S': 'object',
    });
    // SSN is masked for this identity: only the redaction (or NULL) in every row, across chunks.
    assert.deepEqual(s.ssn, ['None', '[REDACTED]']);
    assert.deepEqual(s.head, [
      [1, '[REDACTED]', 'Mark', '1987-08-22'],
      [1, '[REDACTED]', 'Mark', '1987-08-22'],
      [2, '[REDACTED]', 'Kevin', '1995-10-02'],
    ]);
    assert.equal(s.dob, 'date');
    assert.equal(s.admitted, '2019-10-07 16:34:00');
    assert.equal(s.amount, 1275.25);
    assert.deepEqual(s.literals, [[1.5, true, null, 'x']]);
    assert.deepEqual(s.arrow_schema, { ID: 'int64', AMOUNT: 'double', STATUS: 'string' });
  }
  assert.deepEqual(arrow.nulls, json.nulls);
  assert.deepEqual(arrow.digests, json.digests, 'Arrow and JSON give the same frames');
  assert.deepEqual(run.steps.altered.formats, ['arrow', 'json', 'arrow'], 'ALTER SESSION SET / UNSET switches the format');
});

test('on the wire: rowsetBase64 and every chunk are Arrow IPC streams with Snowflake field metadata; the masked column is TEXT', async () => {
  const base = need('GATEWAY_URL').replace(/\/$/, '');
  const post = async (path: string, body: unknown, token?: string) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/snowflake', ...(token ? { authorization: `Snowflake Token="${token}"` } : {}) },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200);
    return (await res.json()) as Record<string, any>;
  };
  const login = await post(`/session/v1/login-request?requestId=${randomUUID()}`, {
    data: { ACCOUNT_NAME: ACCOUNT, AUTHENTICATOR: 'OAUTH', TOKEN: await demoToken('etl-pipeline'), CLIENT_APP_ID: 'PythonConnector', SESSION_PARAMETERS: {} },
  });
  assert.equal(login.success, true, JSON.stringify(login));
  const token = login.data.token as string;
  const r = await post(
    `/queries/v1/query-request?requestId=${randomUUID()}`,
    { sqlText: 'SELECT p.ID, p.SSN, p.DOB FROM PATIENTS p, PATIENTS g WHERE g.ID <= 2 ORDER BY p.ID, g.ID', sequenceId: 1 },
    token,
  );
  assert.equal(r.success, true, JSON.stringify(r).slice(0, 500));
  const data = r.data as Record<string, any>;
  assert.equal(data.queryResultFormat, 'arrow');
  assert.equal(data.rowset, undefined);
  assert.equal(data.total, 20_000);
  assert.ok(data.chunks?.length >= 1, 'a result past one chunk is chunked');

  const first = tableFromIPC(Buffer.from(data.rowsetBase64 as string, 'base64'));
  assert.deepEqual(
    first.schema.fields.map((f) => [f.name, String(f.type), f.metadata.get('logicalType')]),
    [
      ['ID', 'Int64', 'FIXED'],
      ['SSN', 'Utf8', 'TEXT'],
      ['DOB', 'Date32<DAY>', 'DATE'],
    ],
  );
  const tables = [first];
  for (const c of data.chunks as Array<{ url: string; rowCount: number }>) {
    const res = await fetch(c.url, { headers: data.chunkHeaders });
    assert.equal(res.status, 200);
    // fetch undoes the gzip content-encoding, as the drivers' HTTP clients do.
    const body = Buffer.from(await res.arrayBuffer());
    const table = tableFromIPC(body[0] === 0x1f ? gunzipSync(body) : body);
    assert.equal(table.numRows, c.rowCount);
    tables.push(table);
  }
  assert.equal(
    tables.reduce((n, tb) => n + tb.numRows, 0),
    20_000,
  );
  for (const tb of tables) {
    const ssn = new Set(tb.getChild('SSN')!.toArray() as Array<string | null>);
    ssn.delete(null);
    assert.deepEqual([...ssn], ['[REDACTED]']);
  }
  await post(`/session?delete=true&requestId=${randomUUID()}`, {}, token);
});

test('JDBC: JDBC_QUERY_RESULT_FORMAT=ARROW reads Arrow (chunks too) with the same values as JSON', async (t) => {
  const url = new URL(need('GATEWAY_URL'));
  const token = await demoToken('etl-pipeline');
  // Arrow in snowflake-jdbc needs java.nio opened to it (Java 17+), as on Snowflake.
  const runs = ['ARROW', 'JSON'].map((format) =>
    runJdbc(t, 'JdbcArrow.java', [url.hostname, url.port, ACCOUNT, token, format], ['--add-opens=java.base/java.nio=ALL-UNNAMED']),
  );
  for (const r of runs) assert.equal(await r.done, 0, `the JDBC program failed:\n${r.stderr()}`);
  const [arrow, json] = runs.map((r) => r.steps);
  assert.deepEqual(arrow!.patients, { step: 'patients', rows: 20_000, idSum: 100_010_000, ssn: '[REDACTED],null', dob: '1987-08-22' });
  assert.deepEqual(arrow, json);
  assert.equal(arrow!.typed.amount, '1275.25');
});

test('gosnowflake: GO_QUERY_RESULT_FORMAT=arrow reads Arrow (chunks too) with typed scans and the same values as JSON', async () => {
  const run = promisify(execFile);
  const godeps = join(REPO_ROOT, 'deploy/local/bin/godeps');
  await run('bash', [godeps, 'gosnowflake-arrow', 'gosnowflake-arrow']).catch((e: { stderr?: string }) => {
    throw new Error(`the gosnowflake-arrow fixture could not be built (Go 1.26+ is needed; see deploy/local/bin/godeps):\n${e.stderr ?? e}`);
  });
  const bin = (await run('bash', [godeps, 'gosnowflake-arrow', 'gosnowflake-arrow', '--print'])).stdout.trim();
  const url = new URL(need('GATEWAY_URL'));
  const token = await demoToken('etl-pipeline');
  const [arrow, json] = await Promise.all(
    ['arrow', 'json'].map(async (format) => {
      const r = await run(bin, [url.hostname, url.port, ACCOUNT, token, format], { timeout: 120_000 }).catch((e: { stdout?: string; stderr?: string }) => {
        throw new Error(`the gosnowflake program failed:\n${e.stdout ?? ''}\n${e.stderr ?? e}`);
      });
      return r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    }),
  );
  assert.deepEqual(arrow![0], { step: 'patients', rows: 20_000, idSum: 100_010_000, ssn: ['[REDACTED]', 'null'], dob: '1987-08-22' });
  assert.deepEqual(arrow![1], { step: 'typed', id: 5, admitted: '2021-06-28 04:40:00', amount: 1275.25 });
  assert.deepEqual(arrow, json);
});
