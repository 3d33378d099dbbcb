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
