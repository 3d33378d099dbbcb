import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { fingerprintSync, loadModule, parseSync } from 'libpg-query';
import { Catalog } from './catalog.js';
import { analysePostgres, type PgParser } from './pg-analysis.js';

const parser: PgParser = { parse: (sql) => parseSync(sql) as unknown as ReturnType<PgParser['parse']>, fingerprint: fingerprintSync };
const cols = (oid: number, table: string, names: string[]) => names.map((column, i) => ({ tableOid: oid, schema: 'public', table, attnum: i + 1, column }));
const catalog = new Catalog('clinical', [
  ...cols(1, 'patients', ['id', 'mrn', 'first_name', 'last_name', 'ssn', 'dob', 'zip', 'phone', 'email', 'notes']),
  ...cols(2, 'claims', ['id', 'patient_id', 'encounter_id', 'payer_member_id', 'amount', 'status']),
]);
const run = (sql: string) => analysePostgres(sql, parser, catalog, 'public');
const names = (ts: Array<{ schema: string; name: string }>) => ts.map((t) => `${t.schema}.${t.name}`).sort();
before(() => loadModule());

test('resolves tables, aliases and unqualified columns with PostgreSQL’s own grammar', () => {
  const a = run('SELECT p.id, upper(ssn) AS s FROM public.patients p JOIN claims c ON c.patient_id = p.id WHERE c.amount > 10 LIMIT 5');
  assert.equal(a.understood, true, a.error);
  const s = a.statements[0]!;
  assert.equal(s.kind, 'select');
  assert.deepEqual(names(s.tablesRead), ['public.claims', 'public.patients']);
  assert.ok(s.columnsRead.some((c) => c.table.name === 'patients' && c.column === 'ssn'));
  assert.ok(s.columnsRead.some((c) => c.table.name === 'claims' && c.column === 'amount'));
  assert.deepEqual(s.functions, ['upper']);
  assert.equal(s.hasWhere, true);
  assert.equal(s.hasLimit, true);
  assert.equal(s.columnsResolved, true);
});

test('niladic functions such as current_user parse (node-sql-parser could not)', () => {
  const a = run('SELECT current_user, session_user');
  assert.equal(a.understood, true);
  assert.deepEqual(a.statements[0]!.tablesRead, []);
});

test('SELECT * and t.* read every column of their table', () => {
  assert.deepEqual(
    run('select * from patients').statements[0]!.columnsRead.map((c) => `${c.table.name}.${c.column}`),
    ['patients.*'],
  );
  assert.deepEqual(
    run('select c.* from patients p join claims c on c.patient_id = p.id')
      .statements[0]!.columnsRead.map((c) => `${c.table.name}.${c.column}`)
      .sort(),
    ['claims.*', 'claims.patient_id', 'patients.id'],
  );
});

test('a write hidden in a CTE is judged as the write it is', () => {
  const a = run("WITH x AS (UPDATE claims SET status = 'void' RETURNING id) SELECT count(*) FROM x");
  assert.equal(a.understood, true);
  assert.deepEqual(
    a.statements.map((s) => s.kind),
    ['select', 'update'],
  );
  const upd = a.statements[1]!;
  assert.deepEqual(names(upd.tablesWritten), ['public.claims']);
  assert.equal(upd.hasWhere, false, 'an unbounded UPDATE, which policy blocks');
  assert.deepEqual(a.statements[0]!.tablesRead, [], 'the CTE name is not a table');
});

test('writes, DDL and trivially true WHEREs', () => {
  const del = run('DELETE FROM claims WHERE 1 = 1').statements[0]!;
  assert.deepEqual([del.kind, names(del.tablesWritten), del.whereTriviallyTrue], ['delete', ['public.claims'], true]);
  assert.equal(run('DELETE FROM claims WHERE true OR id = 3').statements[0]!.whereTriviallyTrue, true);
  assert.equal(run('DELETE FROM claims WHERE id = 3').statements[0]!.whereTriviallyTrue, false);
  const ins = run('INSERT INTO claims (patient_id, amount) VALUES (1, 2)').statements[0]!;
  assert.deepEqual(
    ins.columnsWritten.map((c) => c.column),
    ['patient_id', 'amount'],
  );
  assert.equal(run('DROP TABLE patients').statements[0]!.kind, 'drop');
  assert.deepEqual(names(run('TRUNCATE claims').statements[0]!.tablesWritten), ['public.claims']);
  assert.equal(run('SELECT * INTO stolen FROM patients').statements[0]!.kind, 'create');
  assert.equal(run('SET ROLE postgres').statements[0]!.kind, 'set');
  assert.equal(run('RESET ROLE').statements[0]!.kind, 'reset');
  assert.deepEqual(
    run('select 1; drop table claims').statements.map((s) => s.kind),
    ['select', 'drop'],
  );
});

test('unknown syntax, unknown tables and other databases are not understood (fail closed)', () => {
  assert.equal(run('SELEKT nothing').understood, false);
  assert.equal(run('select * from pg_catalog.pg_authid').understood, false);
  assert.equal(run('select * from secret_table').understood, false);
  assert.equal(run('select * from otherdb.public.patients').understood, false);
  assert.equal(run('').understood, false);
  // What the database itself would say: a syntax error with its position, an unknown relation
  // (not a system catalog, which exists upstream) with the name as written.
  assert.deepEqual(run('SELEC 1').failure, { sqlstate: '42601', message: 'syntax error at or near "SELEC"', position: 1 });
  assert.deepEqual(run('select id from public.nosuch').failure, { sqlstate: '42P01', message: 'relation "public.nosuch" does not exist', position: 16 });
  assert.equal(run('select * from pg_catalog.pg_authid').failure, undefined);
  assert.equal(run('select * from pg_class').failure, undefined);
  assert.equal(run('select * from otherdb.public.patients').failure, undefined);
  // Functions that run SQL given as text, or read a table by name, hide what they read.
  for (const sql of [
    "SELECT query_to_xml('select ssn from patients', true, false, '')",
    "SELECT pg_catalog.table_to_xml('patients', true, false, '')",
    "SELECT word FROM ts_stat('select to_tsvector(ssn) from patients')",
    "SELECT xpath('/row/ssn/text()', query_to_xml('select ssn from patients', true, false, ''))",
  ])
    assert.equal(run(sql).understood, false, sql);
});

test('columns from subqueries are pinned to the columns they come from; unknown names are not', () => {
  const s = run('select x.s from (select ssn as s from patients) x where x.s like $1').statements[0]!;
  assert.equal(s.columnsResolved, true);
  assert.deepEqual(
    s.columnsFiltered.map((c) => `${c.table.name}.${c.column}`),
    ['patients.ssn'],
    'filtering on the alias filters on ssn',
  );
  assert.equal(run('select x.nope from (select ssn from patients) x').statements[0]!.columnsResolved, false);
});

test('an alias reused in a subquery does not capture the outer reference', () => {
  const s = run('select p.notes from patients p where exists (select 1 from claims p where p.status = $1)').statements[0]!;
  assert.ok(s.columnsRead.some((c) => c.table.name === 'patients' && c.column === 'notes'));
  assert.ok(s.columnsFiltered.some((c) => c.table.name === 'claims' && c.column === 'status'));
});

test('fingerprints ignore literals, not structure', () => {
  assert.equal(run("select * from patients where id = 1 and mrn = 'a'").fingerprint, run("SELECT * FROM patients WHERE id = 42 AND mrn = 'b'").fingerprint);
  assert.notEqual(run('select id from patients').fingerprint, run('select ssn from patients').fingerprint);
});

/** `table.column:channel` for every flow of the first statement. */
const flows = (sql: string) => {
  const a = run(sql);
  assert.equal(a.understood, true, `${sql}: ${a.error}`);
  return new Set(a.statements.flatMap((s) => s.flows.map((f) => `${f.column.table.name}.${f.column.column}:${f.channel}`)));
};

test('inference channels: every way a value shapes the row count, order, errors, delay or another value is a flow', () => {
  const cases: Array<[string, string]> = [
    ['SELECT p.id FROM patients p, generate_series(1, substr(p.ssn,1,3)::int)', 'patients.ssn:rows'],
    ['SELECT p.id FROM patients p, generate_series(1, substr(p.ssn,1,3)::int)', 'patients.ssn:error'],
    ['SELECT id FROM patients LIMIT (SELECT right(ssn,1)::int FROM patients WHERE id = 1)', 'patients.ssn:rows'],
    ['SELECT id FROM patients OFFSET (SELECT length(ssn) FROM patients WHERE id = 1)', 'patients.ssn:rows'],
    ["SELECT 1/(CASE WHEN right(ssn,1)='7' THEN 0 ELSE 1 END) FROM patients WHERE id = 5", 'patients.ssn:error'],
    ["SELECT CASE WHEN right(ssn,1)='7' THEN pg_sleep(1) END FROM patients WHERE id = 5", 'patients.ssn:delay'],
    ['SELECT pg_sleep(length(ssn)) FROM patients WHERE id = 5', 'patients.ssn:delay'],
    ["SELECT CASE WHEN ssn LIKE '1%' THEN (SELECT count(*) FROM claims) END FROM patients", 'patients.ssn:delay'],
    // A scalar subquery raises when it returns more than one row.
    ["SELECT CASE WHEN ssn LIKE '9%' THEN (SELECT 1 UNION ALL SELECT 2) ELSE 0 END FROM patients", 'patients.ssn:error'],
    // XMLPARSE, XMLSERIALIZE, IS DOCUMENT raise on malformed values.
    ['SELECT xmlparse(document ssn) FROM patients', 'patients.ssn:error'],
    ['SELECT xmlserialize(document xmlparse(content ssn) AS text) FROM patients', 'patients.ssn:error'],
    ['SELECT id FROM patients ORDER BY ssn', 'patients.ssn:order'],
    ['SELECT ssn FROM patients ORDER BY 1', 'patients.ssn:order'],
    ['SELECT ssn AS s FROM patients ORDER BY s', 'patients.ssn:order'],
    ['SELECT id, rank() OVER (ORDER BY ssn) FROM patients', 'patients.ssn:order'],
    ['SELECT id, count(*) OVER (PARTITION BY ssn) FROM patients', 'patients.ssn:order'],
    ['SELECT id, rank() OVER w FROM patients WINDOW w AS (ORDER BY ssn)', 'patients.ssn:order'],
    ['SELECT DISTINCT ON (ssn) id FROM patients', 'patients.ssn:order'],
    ['SELECT x.id FROM (SELECT id, ssn FROM patients ORDER BY ssn LIMIT 10) x', 'patients.ssn:order'],
    ['SELECT array_agg(id ORDER BY ssn) FROM patients', 'patients.ssn:order'],
    ['SELECT count(*) FROM patients GROUP BY ssn', 'patients.ssn:rows'],
    ['SELECT left(ssn, 3), count(*) FROM patients GROUP BY 1', 'patients.ssn:rows'],
    ['SELECT DISTINCT ssn FROM patients', 'patients.ssn:rows'],
    ["SELECT ssn FROM patients INTERSECT SELECT '123-45-6789'", 'patients.ssn:rows'],
    ['SELECT ssn FROM patients EXCEPT SELECT ssn FROM patients WHERE id = 1', 'patients.ssn:rows'],
    ['SELECT ssn::int FROM patients', 'patients.ssn:error'],
    ["SELECT to_date(ssn, 'YYYY') FROM patients", 'patients.ssn:error'],
    ['SELECT length(ssn) + 1 FROM patients', 'patients.ssn:error'],
    ["SELECT 'x' ~ ssn FROM patients", 'patients.ssn:error'],
    ["SELECT ssn ~ '^(1+)+$' FROM patients", 'patients.ssn:delay'],
    ["SELECT ssn SIMILAR TO '(1|2)%' FROM patients", 'patients.ssn:delay'],
    ["SELECT NULLIF(substr(ssn,1,1), '1') FROM patients", 'patients.ssn:value'],
    ["SELECT (ssn LIKE '1%') OR NULL FROM patients", 'patients.ssn:value'],
    ["SELECT ssn IN ('1', NULL) FROM patients", 'patients.ssn:value'],
    ["SELECT ssn BETWEEN '1' AND NULL FROM patients", 'patients.ssn:value'],
    ['CREATE TABLE stolen AS SELECT ssn FROM patients', 'patients.ssn:value'],
    ['SELECT ssn INTO stolen FROM patients', 'patients.ssn:value'],
    ["SELECT CASE WHEN ssn LIKE '1%' THEN 'a' END FROM patients", 'patients.ssn:value'],
    ["SELECT coalesce(nullif(ssn, 'x'), (1/0)::text) FROM patients", 'patients.ssn:error'],
    ['INSERT INTO claims (status) SELECT ssn FROM patients', 'patients.ssn:value'],
    ['UPDATE claims SET status = (SELECT ssn FROM patients WHERE id = 1) WHERE id = 2', 'patients.ssn:value'],
    ["SELECT set_config('x.y', ssn, false) FROM patients", 'patients.ssn:value'],
    ["SELECT pg_notify('c', ssn) FROM patients", 'patients.ssn:value'],
    ['SELECT id FROM patients TABLESAMPLE BERNOULLI (10) REPEATABLE (1)', ''],
    ["SELECT u FROM patients p, unnest(string_to_array(p.ssn, '-')) u", 'patients.ssn:rows'],
    [
      'WITH RECURSIVE r(n, s) AS (SELECT 1, ssn FROM patients WHERE id = 1 UNION ALL SELECT n + 1, substr(s, 2) FROM r WHERE n < 9) SELECT n FROM r ORDER BY s',
      'patients.ssn:order',
    ],
    ['WITH RECURSIVE r AS (SELECT ssn AS s FROM patients UNION ALL SELECT substr(s, 2) FROM r LIMIT 5) SELECT count(*) FROM r GROUP BY s', 'patients.ssn:rows'],
    ['SELECT p.id FROM patients p ORDER BY (p).ssn', 'patients.ssn:order'],
    ['SELECT id FROM patients p ORDER BY p', 'patients.ssn:order'],
  ];
  for (const [sql, flow] of cases) if (flow) assert.ok(flows(sql).has(flow), `${sql} → ${flow}: ${[...flows(sql)].join(', ')}`);
});

test('inference channels: a projection, strict total functions and analytics on other columns carry no flow of the projected column', () => {
  for (const sql of [
    'SELECT id, ssn, upper(email), length(phone) FROM patients ORDER BY id LIMIT 100',
    'SELECT count(*) FROM patients',
    "SELECT ssn, count(*) OVER (PARTITION BY zip ORDER BY id) FROM patients WHERE dob > '1990-01-01'",
    "SELECT ssn || '-' || email, coalesce(phone, 'none'), ssn = email, ssn LIKE 'x%' FROM patients",
    "SELECT zip, count(*), min(ssn), max(ssn), string_agg(ssn, ',') FROM patients GROUP BY zip ORDER BY 2 DESC",
    'SELECT ssn FROM patients UNION ALL SELECT ssn FROM patients',
    'SELECT x.s FROM (SELECT ssn AS s, id FROM patients) x ORDER BY x.id',
    'WITH w AS (SELECT id, ssn FROM patients) SELECT ssn FROM w ORDER BY id LIMIT 3',
    "SELECT substr(ssn, 8), left(ssn, 3), to_char(dob, 'YYYY') FROM patients",
    // JSON access never raises: a missing key is NULL.
    "SELECT to_jsonb(p)->>'ssn', row_to_json(p)->'ssn' FROM patients p",
  ]) {
    const f = [...flows(sql)].filter((x) => x.startsWith('patients.ssn:'));
    assert.deepEqual(f, [], sql);
  }
});
