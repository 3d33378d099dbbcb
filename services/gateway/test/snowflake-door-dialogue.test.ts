// phigate-test: stack
// The Snowflake door holding the dialogue real drivers hold (issue 16), against the stack's gateway:
// bind parameters mask per column as a literal statement does, so typed scans of the unmasked
// columns work (the Python connector with qmark binds, snowflake-sdk with binds).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { demoToken, need } from '@phigate/testkit';
import type snowflake from 'snowflake-sdk';
import { sfConnect, sfDestroy } from './fixtures/snowflake/connect.js';

const run = promisify(execFile);

function python(): string {
  const p = join(need('PHIGATE_HOME'), 'venv', 'bin', 'python');
  assert.ok(existsSync(p), `no Python venv at ${p}: run deploy/local/bin/pydeps (it installs snowflake-connector-python)`);
  return p;
}

test('binds: a masked column is masked alone; the other columns keep their types (Python qmark binds, snowflake-sdk binds)', async (t) => {
  const token = await demoToken('etl-pipeline');
  const url = new URL(need('GATEWAY_URL'));
  const script = `
import json, sys, snowflake.connector
snowflake.connector.paramstyle = 'qmark'
c = snowflake.connector.connect(account='clinical-sf', host=sys.argv[1], port=int(sys.argv[2]), protocol='http',
                                authenticator='oauth', token=sys.argv[3], database='CLINICAL', schema='PUBLIC')
cur = c.cursor()
rows = cur.execute('SELECT ID, SSN, FIRST_NAME, DOB FROM PATIENTS WHERE ID = ? AND ZIP <> ?', (1, 'none')).fetchall()
print(json.dumps({"row": [rows[0][0], rows[0][1], type(rows[0][3]).__name__], "types": [d.type_code for d in cur.description]}))
`;
  const r = await run(python(), ['-c', script, url.hostname, url.port, token], { env: { ...process.env, SNOWFLAKE_DISABLE_PLATFORM_DETECTION: 'true' } });
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').at(-1)!), {
    row: [1, '[REDACTED]', 'date'],
    // FIXED, TEXT, TEXT, DATE: only SSN is text because it is masked.
    types: [0, 2, 2, 3],
  });

  const conn = await sfConnect({ gatewayUrl: url.origin, token });
  t.after(() => sfDestroy(conn));
  const { rows, columns } = await new Promise<{ rows: Array<Record<string, unknown>>; columns: Array<{ getType(): string }> }>((resolve, reject) =>
    conn.execute({
      sqlText: 'SELECT ID, SSN, DOB FROM PATIENTS WHERE ID = ?',
      binds: [2],
      complete: (err, stmt: snowflake.RowStatement, rs) =>
        err ? reject(err) : resolve({ rows: (rs ?? []) as Array<Record<string, unknown>>, columns: stmt.getColumns() as never }),
    }),
  );
  assert.equal(rows[0]!.ID, 2);
  assert.equal(rows[0]!.SSN, '[REDACTED]');
  assert.deepEqual(
    columns.map((c) => c.getType()),
    ['fixed', 'text', 'date'],
  );
});

test('who am I: CURRENT_USER() is the caller, CURRENT_ROLE() the role its binding maps it to', async () => {
  const url = new URL(need('GATEWAY_URL'));
  // Each states a purpose of use in QUERY_TAG (the analytics agent's binding requires one).
  const script = `
import json, sys, snowflake.connector
c = snowflake.connector.connect(account='clinical-sf', host=sys.argv[1], port=int(sys.argv[2]), protocol='http',
                                authenticator='oauth', token=sys.argv[3], database='CLINICAL', schema='PUBLIC',
                                session_parameters={'QUERY_TAG': 'purpose=population-health'})
print(json.dumps(list(c.cursor().execute('SELECT CURRENT_USER(), CURRENT_ROLE()').fetchone())))
`;
  for (const [identity, role] of [
    ['etl-pipeline', 'CLINICAL_READER'],
    ['analytics-agent', 'ANALYTICS_READER'],
  ]) {
    const r = await run(python(), ['-c', script, url.hostname, url.port, await demoToken(identity!)], {
      env: { ...process.env, SNOWFLAKE_DISABLE_PLATFORM_DETECTION: 'true' },
    });
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').at(-1)!), [identity, role]);
  }
});

test("errors like Snowflake's: a typo, an unknown table or column comes back as the warehouse compiles it (001003, 002003, 000904), a denial stays 003001", async () => {
  const url = new URL(need('GATEWAY_URL'));
  const script = `
import json, sys, snowflake.connector
c = snowflake.connector.connect(account='clinical-sf', host=sys.argv[1], port=int(sys.argv[2]), protocol='http',
                                authenticator='oauth', token=sys.argv[3], database='CLINICAL', schema='PUBLIC')
out = []
for q in ['SELEC 1', 'SELECT * FROM NOPE', 'SELECT NOPE FROM PATIENTS', 'DROP TABLE PATIENTS']:
    try:
        c.cursor().execute(q)
        out.append(None)
    except snowflake.connector.errors.ProgrammingError as e:
        out.append([e.errno, e.sqlstate, e.raw_msg.split(' (phigate')[0]])
print(json.dumps(out))
`;
  const r = await run(python(), ['-c', script, url.hostname, url.port, await demoToken('etl-pipeline')], {
    env: { ...process.env, SNOWFLAKE_DISABLE_PLATFORM_DETECTION: 'true' },
  });
  const [typo, table, column, denied] = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Array<[number, string, string]>;
  assert.deepEqual(typo, [1003, '42000', "SQL compilation error:\nsyntax error line 1 at position 0 unexpected 'SELEC'."]);
  assert.deepEqual(table, [2003, '42S02', "SQL compilation error:\nObject 'NOPE' does not exist or not authorized."]);
  assert.deepEqual(column, [904, '42000', "SQL compilation error: error line 1 at position 7\ninvalid identifier 'NOPE'"]);
  assert.equal(denied![0], 3001);
  assert.match(denied![2], /Denied by phigate policy rule 'block-ddl'/);
});
