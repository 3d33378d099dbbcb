// phigate-test: stack
// Metadata through the Snowflake door, filtered by policy (issue 16, item 3), against the stack's
// gateway with the real clients: the Python connector (SHOW TABLES, SHOW SCHEMAS, DESCRIBE TABLE, an
// INFORMATION_SCHEMA.COLUMNS query), snowflake-sqlalchemy's inspector and pandas.read_sql, JDBC
// DatabaseMetaData.getTables/getColumns, and dbt-snowflake (`dbt debug`, `dbt show`, whose relation
// cache is filled by SHOW OBJECTS). DEMO_META, which no policy lets anyone read, never appears in any
// listing; billing, whose role holds grants on SCRATCH.CONFORMANCE_ROWS but whose policy does not
// let it read that table, does not see it either.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { lifecycleOf } from '@phigate/bus/lifecycle';
import { demoToken, eventually, kafkaEventsSince, need, REPO_ROOT } from '@phigate/testkit';
import { DRIVER_ENV } from './fixtures/snowflake/driver-env.js';

const run = promisify(execFile);
const FIXTURES = join(REPO_ROOT, 'services/gateway/test/fixtures');
const BIN = join(REPO_ROOT, 'deploy/local/bin');
const ACCOUNT = 'clinical-sf';
const HIDDEN = 'DEMO_META';

function gateway(): { host: string; port: string } {
  const url = new URL(need('GATEWAY_URL'));
  return { host: url.hostname, port: url.port };
}

/** The path a pydeps script prints, checked to exist (the message says how to install it). */
async function tool(script: string, flag: string, what: string): Promise<string> {
  const path = (await run('bash', [join(BIN, script), flag])).stdout.trim();
  assert.ok(existsSync(path), `${what} is not installed at ${path}: run deploy/local/bin/${script}`);
  return path;
}

/** Runs a client program; returns the JSON line of each step, by its step name. */
async function steps(command: string, args: string[], env: Record<string, string> = {}): Promise<Record<string, any>> {
  const r = await run(command, args, {
    env: { ...process.env, ...DRIVER_ENV, ...env },
    timeout: 180_000,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((e: { stdout?: string; stderr?: string; message?: string }) => {
    throw new Error(`${command} failed: ${e.message}\nstdout:\n${(e.stdout ?? '').slice(-3000)}\nstderr:\n${(e.stderr ?? '').slice(-3000)}`);
  });
  const out: Record<string, any> = {};
  for (const line of r.stdout.split('\n').filter((l) => l.startsWith('{'))) {
    const s = JSON.parse(line) as { step: string };
    out[s.step] = s;
  }
  return out;
}

test('Python connector: SHOW TABLES, SHOW SCHEMAS, DESCRIBE TABLE and INFORMATION_SCHEMA.COLUMNS list only what policy lets the identity read; each is decided and audited', async () => {
  const python = await tool('pydeps', '--print', 'the Python connector venv');
  const { host, port } = gateway();
  const since = Date.now();
  const s = await steps(python, [join(FIXTURES, 'snowflake/metadata_connector.py'), host, port, ACCOUNT, await demoToken('etl-pipeline')]);

  assert.deepEqual(s.showTables.columns.slice(0, 6), ['created_on', 'name', 'database_name', 'schema_name', 'kind', 'comment']);
  assert.equal(s.showTables.columns.length, 25, "SHOW TABLES' 25 columns, in Snowflake's order");
  assert.deepEqual(s.showTables.names, ['CLAIMS', 'ENCOUNTERS', 'PATIENTS']);
  assert.deepEqual(s.showTablesInAccount.names, ['PUBLIC.CLAIMS', 'PUBLIC.ENCOUNTERS', 'PUBLIC.PATIENTS', 'SCRATCH.CONFORMANCE_ROWS']);
  assert.deepEqual(s.showSchemas.columns.slice(0, 5), ['created_on', 'name', 'is_default', 'is_current', 'database_name']);
  assert.deepEqual(s.showSchemas.names, ['PUBLIC', 'SCRATCH']);
  assert.deepEqual(s.describe.columns, [
    'name',
    'type',
    'kind',
    'null?',
    'default',
    'primary key',
    'unique key',
    'check',
    'expression',
    'comment',
    'policy name',
    'privacy domain',
  ]);
  assert.deepEqual(s.describe.rows.slice(0, 6), [
    ['ID', 'NUMBER(38,0)', 'N'],
    ['MRN', 'VARCHAR(16777216)', 'N'],
    ['FIRST_NAME', 'VARCHAR(16777216)', 'Y'],
    ['LAST_NAME', 'VARCHAR(16777216)', 'Y'],
    ['SSN', 'VARCHAR(16777216)', 'Y'],
    ['DOB', 'DATE', 'Y'],
  ]);
  assert.deepEqual(s.informationSchema.tables, ['PUBLIC.CLAIMS', 'PUBLIC.ENCOUNTERS', 'PUBLIC.PATIENTS', 'SCRATCH.CONFORMANCE_ROWS']);
  // Names are not PHI: never masked (SSN is a column name here, not a value).
  assert.deepEqual(s.informationSchema.patients[4], ['SSN', 'TEXT']);
  // A table policy hides and one that does not exist read the same.
  for (const table of [HIDDEN, 'NO_SUCH_TABLE']) {
    assert.equal(s[`describe ${table}`].errno, 2003);
    assert.equal(s[`describe ${table}`].sqlstate, '42S02');
    assert.equal(s[`describe ${table}`].message, `002003 (42S02): SQL compilation error:\nTable '${table}' does not exist or not authorized.`);
  }
  // The listings never name it.
  assert.doesNotMatch(JSON.stringify([s.showTables, s.showTablesInAccount, s.informationSchema]), new RegExp(HIDDEN));

  // SHOW TABLES is a read like any other: one record of it received, decided by the metadata rule, executed, completed.
  const requestId = s.showTables.queryId as string;
  const events = await eventually('the SHOW TABLES events on Kafka', async () => {
    const evs = kafkaEventsSince(since)
      .filter((e) => e.requestId === requestId)
      .flatMap(lifecycleOf) as ReturnType<typeof kafkaEventsSince>;
    return ['query.received', 'policy.decided', 'query.executed', 'query.completed'].every((t) => evs.some((e) => e.type === t)) ? evs : undefined;
  });
  assert.equal(events.find((e) => e.type === 'query.received')!.queryReceived.statement, 'SHOW TABLES');
  assert.deepEqual(events.find((e) => e.type === 'policy.decided')!.policyDecided.ruleIds, ['snowflake-metadata']);
});

test('policy, not only the role, decides what is listed: billing (whose role may read SCRATCH.CONFORMANCE_ROWS, whose policy may not) sees claims and patients only', async () => {
  const python = await tool('pydeps', '--print', 'the Python connector venv');
  const { host, port } = gateway();
  const s = await steps(python, [join(FIXTURES, 'snowflake/metadata_connector.py'), host, port, ACCOUNT, await demoToken('billing-service')]);
  assert.deepEqual(s.showTables.names, ['CLAIMS', 'PATIENTS']);
  assert.deepEqual(s.showTablesInAccount.names, ['PUBLIC.CLAIMS', 'PUBLIC.PATIENTS']);
  assert.deepEqual(s.showSchemas.names, ['PUBLIC']);
  assert.deepEqual(s.informationSchema.tables, ['PUBLIC.CLAIMS', 'PUBLIC.PATIENTS']);
  // Its role's column grant on PATIENTS is ID alone: the warehouse's filter applies too.
  assert.deepEqual(s.informationSchema.patients, [['ID', 'NUMBER']]);
});

test('snowflake-sqlalchemy: inspect().get_schema_names/get_table_names/get_columns and pandas.read_sql through the engine', async () => {
  const python = await tool('pydeps', '--print', 'snowflake-sqlalchemy (in the Python connector venv)');
  const { host, port } = gateway();
  const s = await steps(python, [join(FIXTURES, 'snowflake/metadata_sqlalchemy.py'), host, port, ACCOUNT, await demoToken('etl-pipeline')]);
  assert.deepEqual(s.schemas.names, ['public', 'scratch']);
  assert.deepEqual(s.tables.names, ['claims', 'encounters', 'patients']);
  assert.deepEqual(s.scratchTables.names, ['conformance_rows']);
  assert.deepEqual(s.columns.columns.slice(0, 6), [
    ['id', 'DECIMAL(38, 0)', false],
    ['mrn', 'VARCHAR(16777216)', false],
    ['first_name', 'VARCHAR(16777216)', true],
    ['last_name', 'VARCHAR(16777216)', true],
    ['ssn', 'VARCHAR(16777216)', true],
    ['dob', 'DATE', true],
  ]);
  assert.deepEqual(s.readSql.columns, ['id', 'ssn', 'dob']);
  assert.deepEqual(s.readSql.rows, [
    ['1', '[REDACTED]', '1987-08-22'],
    ['2', '[REDACTED]', '1995-10-02'],
  ]);
  assert.equal(s.readSql.dtypes[0], 'int64');
  assert.doesNotMatch(JSON.stringify(s), /demo_meta/i);
});

test('JDBC DatabaseMetaData.getTables and getColumns list only the readable tables', async () => {
  const [jar = ''] = (await run('bash', [join(BIN, 'jdeps'), '--print'])).stdout.trim().split(':');
  assert.ok(existsSync(jar), `no Snowflake JDBC driver at ${jar}: run deploy/local/bin/jdeps (needs Maven and Java 17)`);
  const { host, port } = gateway();
  const s = await steps('java', [
    '-XX:+UseSerialGC',
    '-Xmx256m',
    '-cp',
    jar,
    join(FIXTURES, 'snowflake/JdbcMetadata.java'),
    host,
    port,
    ACCOUNT,
    await demoToken('etl-pipeline'),
  ]);
  assert.deepEqual([...s.tables.tables].sort(), ['PUBLIC.CLAIMS:TABLE', 'PUBLIC.ENCOUNTERS:TABLE', 'PUBLIC.PATIENTS:TABLE', 'SCRATCH.CONFORMANCE_ROWS:TABLE']);
  // name:TYPE_NAME:java.sql.Types:NULLABLE
  assert.deepEqual(s.columns.columns.slice(0, 6), [
    'ID:NUMBER:-5:0',
    'MRN:VARCHAR:12:0',
    'FIRST_NAME:VARCHAR:12:1',
    'LAST_NAME:VARCHAR:12:1',
    'SSN:VARCHAR:12:1',
    'DOB:DATE:91:1',
  ]);
  assert.deepEqual([...s.allColumns.tables].sort(), ['PUBLIC.CLAIMS', 'PUBLIC.ENCOUNTERS', 'PUBLIC.PATIENTS', 'SCRATCH.CONFORMANCE_ROWS']);
});

test("dbt-snowflake: dbt debug connects; dbt show fills its relation cache with SHOW OBJECTS (readable tables only) and previews a model's masked rows", async (t) => {
  await run('bash', [join(BIN, 'pydeps-dbt-snowflake')]).catch((e: { stderr?: string }) => {
    throw new Error(`deploy/local/bin/pydeps-dbt-snowflake could not install dbt-snowflake:\n${e.stderr ?? e}`);
  });
  const dbt = await tool('pydeps-dbt-snowflake', '--print', 'dbt (dbt-core with dbt-snowflake)');
  const work = mkdtempSync(join(tmpdir(), 'dbt-sf-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const project = join(work, 'project');
  cpSync(join(FIXTURES, 'dbt-snowflake'), project, { recursive: true });
  const env = {
    ...process.env,
    ...DRIVER_ENV,
    PHIGATE_SF_PORT: gateway().port,
    PHIGATE_TOKEN: await demoToken('etl-pipeline'),
    DBT_PROFILES_DIR: project,
    DBT_PROJECT_DIR: project,
    DBT_TARGET_PATH: join(work, 'target'),
    DBT_LOG_PATH: join(work, 'logs'),
    DBT_SEND_ANONYMOUS_USAGE_STATS: 'false',
    DBT_VERSION_CHECK: 'false',
    DBT_USE_COLORS: 'false',
    DBT_PARTIAL_PARSE: 'false',
  };
  const dbtRun = (args: string[]) =>
    run(dbt, args, { env, cwd: project, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }).catch((e: { stdout?: string; message?: string }) => {
      const log = existsSync(join(work, 'logs', 'dbt.log')) ? readFileSync(join(work, 'logs', 'dbt.log'), 'utf8') : '';
      throw new Error(`dbt ${args[0]} failed: ${e.message}\n${(e.stdout ?? '').slice(-3000)}\ndbt.log:\n${log.slice(-4000)}`);
    });
  const debug = await dbtRun(['debug']);
  assert.match(debug.stdout, /Connection test: \[OK connection ok\]/, debug.stdout);
  assert.match(debug.stdout, /All checks passed!/, debug.stdout);

  const since = Date.now();
  const r = await dbtRun(['show', '--select', 'patient_ssns', '--limit', '3', '--log-format', 'json', '--log-format-file', 'json', '--output', 'json']);
  const parse = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { info: { name: string }; data: Record<string, any> });
  const node = parse(r.stdout).find((e) => e.info.name === 'ShowNode');
  assert.ok(node?.data.preview, `dbt show printed no rows:\n${r.stdout.slice(-3000)}`);
  assert.deepEqual(JSON.parse(node.data.preview), [
    { ID: 1, SSN: '[REDACTED]' },
    { ID: 2, SSN: '[REDACTED]' },
    { ID: 3, SSN: '[REDACTED]' },
  ]);
  // The relation cache: SHOW OBJECTS IN CLINICAL.PUBLIC answered CLAIMS, ENCOUNTERS and PATIENTS (three
  // rows; the warehouse's PUBLIC also holds DEMO_META), after dbt's ALTER SESSION was accepted.
  const log = readFileSync(join(work, 'logs', 'dbt.log'), 'utf8');
  const sql = parse(log).filter((e) => e.info.name === 'SQLQuery' || e.info.name === 'SQLQueryStatus');
  const status = (re: RegExp) => {
    const i = sql.findIndex((e) => e.info.name === 'SQLQuery' && re.test(String(e.data.sql)));
    assert.ok(i >= 0, `dbt sent no statement matching ${re}:\n${log.slice(-3000)}`);
    return sql.slice(i + 1).find((e) => e.info.name === 'SQLQueryStatus')!.data as { status: string; query_id: string };
  };
  assert.equal(status(/alter session set quoted_identifiers_ignore_case = false/i).status, 'SUCCESS 1');
  const listed = status(/show objects in CLINICAL\.PUBLIC/i);
  assert.equal(listed.status, 'SUCCESS 3');
  const decided = await eventually('the SHOW OBJECTS decision on Kafka', async () =>
    (kafkaEventsSince(since).flatMap(lifecycleOf) as ReturnType<typeof kafkaEventsSince>).find(
      (e) => e.requestId === listed.query_id && e.type === 'policy.decided',
    ),
  );
  assert.deepEqual(decided.policyDecided.ruleIds, ['snowflake-metadata']);
  assert.doesNotMatch(r.stdout, /demo_meta/i);
});
