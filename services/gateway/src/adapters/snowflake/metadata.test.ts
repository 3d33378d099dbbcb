import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppError } from '@phigate/errors';
import {
  type ColumnInfo,
  classify,
  describeRows,
  likeMatches,
  Metadata,
  type MetadataQueries,
  rewriteViews,
  SHAPES,
  showRows,
  type TableRef,
  typeJson,
} from './metadata.js';

const VISIBLE: TableRef[] = [
  { database: 'CLINICAL', schema: 'PUBLIC', name: 'PATIENTS' },
  { database: 'CLINICAL', schema: 'PUBLIC', name: 'CLAIMS' },
];
const FILTER = "(TABLE_SCHEMA <> 'INFORMATION_SCHEMA' AND ((TABLE_SCHEMA = 'PUBLIC' AND TABLE_NAME IN ('PATIENTS', 'CLAIMS'))))";

const col = (table: string, column: string, over: Partial<ColumnInfo> = {}): ColumnInfo => ({
  database: 'CLINICAL',
  schema: 'PUBLIC',
  table,
  column,
  position: 1,
  dataType: 'TEXT',
  charLength: 16777216,
  precision: null,
  scale: null,
  datetimePrecision: null,
  nullable: true,
  default: null,
  ...over,
});
const CTX = { database: 'CLINICAL', schema: 'PUBLIC' };

test('classify: the SHOW and DESCRIBE forms drivers, ORMs and dbt send', () => {
  assert.deepEqual(classify('SHOW TABLES'), { type: 'show', kind: 'TABLES', terse: false, scope: { level: 'schema' } });
  assert.deepEqual(classify('show /* JDBC:DatabaseMetaData.getTables() */ terse objects in schema "CLINICAL"."PUBLIC" like \'%\' limit 10000;'), {
    type: 'show',
    kind: 'OBJECTS',
    terse: true,
    like: '%',
    limit: 10000,
    scope: { level: 'schema', database: 'CLINICAL', schema: 'PUBLIC' },
  });
  assert.deepEqual(classify('SHOW SCHEMAS'), { type: 'show', kind: 'SCHEMAS', terse: false, scope: { level: 'database' } });
  assert.deepEqual(classify('SHOW /* sqlalchemy:_get_schema_primary_keys */PRIMARY KEYS IN SCHEMA public'), {
    type: 'show',
    kind: 'PRIMARY KEYS',
    terse: false,
    scope: { level: 'schema', schema: 'PUBLIC' },
  });
  assert.deepEqual(classify('show columns in table clinical.public.patients'), {
    type: 'show',
    kind: 'COLUMNS',
    terse: false,
    scope: { level: 'table', database: 'CLINICAL', schema: 'PUBLIC', table: 'PATIENTS' },
  });
  assert.deepEqual(classify("show objects in clinical.public limit 10 from 'B'"), {
    type: 'show',
    kind: 'OBJECTS',
    terse: false,
    limit: 10,
    from: 'B',
    scope: { level: 'schema', database: 'CLINICAL', schema: 'PUBLIC' },
  });
  assert.deepEqual(classify('DESC TABLE "Clinical".public.patients'), {
    type: 'describe',
    table: { database: 'Clinical', schema: 'PUBLIC', name: 'PATIENTS' },
  });
  assert.deepEqual(classify('select * from information_schema.columns'), { type: 'information_schema' });
  // Not metadata: the ordinary path (analysed, decided; unknown ones refused).
  assert.equal(classify('SELECT * FROM PATIENTS'), undefined);
  assert.equal(classify('SHOW WAREHOUSES'), undefined);
  assert.equal(classify('SHOW TABLES; DROP TABLE PATIENTS'), undefined);
  assert.equal(classify('DESCRIBE STAGE X'), undefined);
});

test('rewriteViews: a single SELECT over one view gets the filter in its WHERE, so its columns keep their provenance', () => {
  assert.equal(
    rewriteViews('SELECT * FROM CLINICAL.INFORMATION_SCHEMA.TABLES', 'CLINICAL', VISIBLE),
    `SELECT * FROM CLINICAL.INFORMATION_SCHEMA.TABLES WHERE ${FILTER}`,
  );
  assert.equal(
    rewriteViews("select table_name from information_schema.columns ic where ic.table_schema = 'PUBLIC' or 1 = 1 order by 1;", 'CLINICAL', VISIBLE),
    `select table_name from information_schema.columns ic WHERE ${FILTER} AND (ic.table_schema = 'PUBLIC' or 1 = 1\n) order by 1;`,
  );
  // A trailing line comment cannot swallow the closing parenthesis (it is on its own line).
  assert.match(rewriteViews('select 1 from information_schema.tables where 1 = 1 -- x', 'CLINICAL', VISIBLE), /-- x\n\)$/);
});

test('rewriteViews: anything else has each view replaced by a filtered subquery', () => {
  const out = rewriteViews(
    'select count(*) from information_schema.tables t join information_schema.columns c on c.table_name = t.table_name',
    'CLINICAL',
    VISIBLE,
  );
  assert.equal(
    out,
    `select count(*) from (SELECT * FROM "CLINICAL".INFORMATION_SCHEMA.TABLES WHERE ${FILTER.slice(1, -1)}) t join (SELECT * FROM "CLINICAL".INFORMATION_SCHEMA.COLUMNS WHERE ${FILTER.slice(1, -1)}) c on c.table_name = t.table_name`,
  );
  assert.match(
    rewriteViews('select * from information_schema.tables union all select * from information_schema.tables', 'CLINICAL', VISIBLE),
    /\) AS TABLES union all/,
  );
  // Nothing visible: nothing listed.
  assert.equal(
    rewriteViews('select * from information_schema.tables', 'CLINICAL', []),
    "select * from information_schema.tables WHERE (TABLE_SCHEMA <> 'INFORMATION_SCHEMA' AND 1 = 0)",
  );
});

test('showRows: Snowflake shapes, only the visible columns, LIKE / LIMIT / FROM, no comments', () => {
  const cols = [col('PATIENTS', 'ID', { dataType: 'NUMBER', precision: 38, scale: 0, nullable: false }), col('PATIENTS', 'SSN'), col('CLAIMS', 'ID')];
  const tables = showRows({ type: 'show', kind: 'TABLES', terse: false, scope: { level: 'schema' } }, cols, CTX);
  assert.deepEqual(
    tables.columns.map((c) => c.name),
    SHAPES.TABLES.map((c) => c.name),
  );
  assert.equal(tables.columns[1]!.name, 'name');
  assert.deepEqual(
    tables.rows.map((r) => [r[1], r[2], r[3], r[4], r[5]]),
    [
      ['PATIENTS', 'CLINICAL', 'PUBLIC', 'TABLE', null],
      ['CLAIMS', 'CLINICAL', 'PUBLIC', 'TABLE', null],
    ],
  );
  const liked = showRows({ type: 'show', kind: 'OBJECTS', terse: true, like: 'pat%', scope: { level: 'schema' } }, cols, CTX);
  assert.deepEqual(liked.rows, [['1970-01-01 00:00:00.000', 'PATIENTS', 'TABLE', 'CLINICAL', 'PUBLIC']]);
  const paged = showRows({ type: 'show', kind: 'TABLES', terse: true, limit: 1, from: 'CLAIMS', scope: { level: 'schema' } }, cols, CTX);
  assert.deepEqual(
    paged.rows.map((r) => r[1]),
    ['PATIENTS'],
  );
  const columns = showRows({ type: 'show', kind: 'COLUMNS', terse: false, scope: { level: 'table', table: 'PATIENTS' } }, cols, CTX);
  assert.deepEqual(
    columns.rows.map((r) => [r[0], r[2], r[3], r[4], r[8]]),
    [
      ['PATIENTS', 'ID', '{"type":"FIXED","precision":38,"scale":0,"nullable":false}', 'false', null],
      ['PATIENTS', 'SSN', typeJson(col('PATIENTS', 'SSN')), 'true', null],
    ],
  );
  const schemas = showRows({ type: 'show', kind: 'SCHEMAS', terse: false, scope: { level: 'database' } }, cols, CTX);
  assert.deepEqual(
    schemas.rows.map((r) => [r[1], r[3], r[4]]),
    [['PUBLIC', 'Y', 'CLINICAL']],
  );
  assert.deepEqual(showRows({ type: 'show', kind: 'PRIMARY KEYS', terse: false, scope: { level: 'schema' } }, cols, CTX).rows, []);
});

test('describeRows: DESCRIBE TABLE shape and Snowflake type text', () => {
  const d = describeRows([
    col('PATIENTS', 'ID', { dataType: 'NUMBER', precision: 38, scale: 0, nullable: false }),
    col('PATIENTS', 'DOB', { dataType: 'DATE' }),
    col('ENCOUNTERS', 'ADMITTED_AT', { dataType: 'TIMESTAMP_NTZ', datetimePrecision: 9 }),
  ]);
  assert.deepEqual(
    d.columns.map((c) => c.name),
    ['name', 'type', 'kind', 'null?', 'default', 'primary key', 'unique key', 'check', 'expression', 'comment', 'policy name', 'privacy domain'],
  );
  assert.deepEqual(
    d.rows.map((r) => [r[0], r[1], r[3], r[9]]),
    [
      ['ID', 'NUMBER(38,0)', 'N', null],
      ['DOB', 'DATE', 'Y', null],
      ['ADMITTED_AT', 'TIMESTAMP_NTZ(9)', 'Y', null],
    ],
  );
});

test('likeMatches: case-insensitive, % and _', () => {
  assert.ok(likeMatches('pat%', 'PATIENTS'));
  assert.ok(likeMatches('CLAIM_', 'CLAIMS'));
  assert.ok(!likeMatches('claim', 'CLAIMS'));
  assert.ok(likeMatches(undefined, 'X'));
  assert.ok(!likeMatches('a.c', 'ABC'));
});

test('Metadata.submit: lists only what the decision path allows; a hidden DESCRIBE is recorded and reads as missing; INFORMATION_SCHEMA runs narrowed', async () => {
  const tables = [
    { database: 'CLINICAL', schema: 'PUBLIC', name: 'PATIENTS' },
    { database: 'CLINICAL', schema: 'PUBLIC', name: 'DEMO_META' },
    { database: 'CLINICAL', schema: 'INFORMATION_SCHEMA', name: 'TABLES' },
  ];
  const recorded: string[] = [];
  const submitted: Array<{ sql: string; upstreamSql?: string }> = [];
  const row = (table: string, column: string) => ['CLINICAL', 'PUBLIC', table, column, '1', 'TEXT', '16777216', null, null, null, 'YES', null];
  const q = {
    catalog: async () => ({ database: 'CLINICAL', tables: () => tables }),
    decide: async (r: { sql: string }) => ({ action: r.sql.includes('DEMO_META') ? 'deny' : 'allow' }),
    prepare: async (r: { requestId: string }) => ({ ctx: { requestId: r.requestId }, analysis: {}, decision: {} }),
    execute: async () => ({ columns: [], rows: [row('PATIENTS', 'ID'), row('DEMO_META', 'SECRET')], rowCount: 2, truncated: false, command: 'SELECT' }),
    recordOrFail: async (_ctx: unknown, events: Array<{ type: string }>) => {
      recorded.push(...events.map((e) => e.type));
    },
    submit: async (r: { sql: string; upstreamSql?: string }) => {
      submitted.push(r);
      return { kind: 'result' };
    },
  };
  const m = new Metadata(q as unknown as MetadataQueries);
  const req = { requestId: 'r1', sessionId: 's', frontDoor: 'snowflake', identity: {}, connection: 'clinical-sf', params: [], traceparent: '' } as never;
  const show = await m.submit({ ...(req as object), sql: 'SHOW TABLES' } as never, classify('SHOW TABLES')!, CTX);
  assert.equal(show.kind, 'result');
  assert.deepEqual(show.kind === 'result' ? show.result.rows.map((r) => r[1]) : [], ['PATIENTS']);
  const columns = await m.submit({ ...(req as object), sql: 'SHOW COLUMNS' } as never, classify('SHOW COLUMNS')!, CTX);
  assert.deepEqual(columns.kind === 'result' ? columns.result.rows.map((r) => `${r[0]}.${r[2]}`) : [], ['PATIENTS.ID']);
  await assert.rejects(
    m.submit({ ...(req as object), sql: 'DESC TABLE DEMO_META' } as never, classify('DESC TABLE DEMO_META')!, CTX),
    (e: AppError) => e.code === 'GATEWAY_SF_OBJECT_NOT_VISIBLE' && e.message === "Table 'DEMO_META' does not exist or not authorized.",
  );
  assert.deepEqual(recorded, ['query.failed']);
  await m.submit({ ...(req as object), sql: 'select * from information_schema.tables' } as never, { type: 'information_schema' }, CTX);
  assert.equal(submitted[0]!.sql, 'select * from information_schema.tables');
  assert.match(submitted[0]!.upstreamSql!, /TABLE_NAME IN \('PATIENTS'\)\)\)\)$/);
});
