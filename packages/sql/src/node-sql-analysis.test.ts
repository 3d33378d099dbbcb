import assert from 'node:assert/strict';
import { test } from 'node:test';
import sqlParser from 'node-sql-parser';
import { Catalog } from './catalog.js';
import { analyse, fingerprint, type ParsedSql, type SqlParser } from './node-sql-analysis.js';

const parser = new sqlParser.Parser();
const parse: SqlParser = (sql, dialect) => parser.parse(sql, { database: dialect }) as unknown as ParsedSql;
const cols = (oid: number, table: string, names: string[]) => names.map((column, i) => ({ tableOid: oid, schema: 'public', table, attnum: i + 1, column }));
const catalog = new Catalog('clinical', [
  ...cols(1, 'patients', ['id', 'mrn', 'first_name', 'last_name', 'ssn', 'dob', 'zip', 'phone', 'email', 'notes']),
  ...cols(2, 'claims', ['id', 'patient_id', 'encounter_id', 'payer_member_id', 'amount', 'status']),
]);
const run = (sql: string) => analyse(sql, 'postgresql', parse, catalog, 'public');

test('resolves tables and columns, including aliases and unqualified names', () => {
  const a = run('SELECT p.id, upper(ssn) AS s FROM patients p JOIN claims c ON c.patient_id = p.id WHERE c.amount > 10 LIMIT 5');
  assert.equal(a.understood, true);
  const s = a.statements[0]!;
  assert.equal(s.kind, 'select');
  assert.deepEqual(s.tablesRead.map((t) => `${t.database}.${t.schema}.${t.name}`).sort(), ['clinical.public.claims', 'clinical.public.patients']);
  assert.ok(
    s.columnsRead.some((c) => c.table.name === 'patients' && c.column === 'ssn'),
    'unqualified ssn resolves to patients',
  );
  assert.ok(s.functions.includes('upper'));
  assert.equal(s.hasWhere, true);
  assert.equal(s.hasLimit, true);
});

test('SELECT * reads every column of its table', () => {
  const s = run('select * from patients').statements[0]!;
  assert.deepEqual(s.columnsRead, [{ table: { database: 'clinical', schema: 'public', name: 'patients' }, column: '*' }]);
});

test('writes, trivially true WHEREs and multi-statement input', () => {
  const del = run('DELETE FROM claims WHERE 1 = 1').statements[0]!;
  assert.equal(del.kind, 'delete');
  assert.deepEqual(
    del.tablesWritten.map((t) => t.name),
    ['claims'],
  );
  assert.equal(del.whereTriviallyTrue, true);
  const multi = run('select id from patients; drop table claims');
  assert.deepEqual(
    multi.statements.map((s) => s.kind),
    ['select', 'drop'],
  );
});

test('unknown syntax and unknown tables are not understood (fail closed)', () => {
  assert.equal(run('SELEKT nothing').understood, false);
  assert.equal(run('select * from pg_catalog.pg_authid').understood, false);
  assert.equal(run('select * from secret_table').understood, false);
});

test('fingerprints ignore literals and spacing, not structure', () => {
  assert.equal(fingerprint("select * from patients where id = 1 and mrn = 'MRN-1'"), fingerprint("SELECT *  FROM patients WHERE id = 42 AND mrn = 'x'"));
  assert.notEqual(fingerprint('select id from patients'), fingerprint('select ssn from patients'));
});

test('a write hidden in a CTE is not understood (fail closed)', () => {
  const a = run("WITH x AS (UPDATE claims SET status = 'void' RETURNING id) SELECT count(*) FROM x");
  assert.equal(a.understood, false);
  assert.equal(run('WITH x AS (SELECT id FROM claims) SELECT count(*) FROM x').understood, true);
  assert.equal(run('INSERT INTO claims (patient_id) SELECT id FROM patients WHERE id = 1').understood, true);
});
