import assert from 'node:assert/strict';
import { test } from 'node:test';
import sqlParser from 'node-sql-parser';
import { Catalog } from './catalog.js';
import { analyse, type ParsedSql, type SqlParser } from './node-sql-analysis.js';
import { LexError, lex, prepare, render, splitStatements } from './snowflake-lexer.js';

const parser = new sqlParser.Parser();
const parse: SqlParser = (sql, dialect) => parser.parse(sql, { database: dialect }) as unknown as ParsedSql;
const cols = (oid: number, table: string, names: string[]) => names.map((column, i) => ({ tableOid: oid, schema: 'PUBLIC', table, attnum: i + 1, column }));
const catalog = new Catalog('CLINICAL', [
  ...cols(1, 'PATIENTS', ['ID', 'MRN', 'FIRST_NAME', 'LAST_NAME', 'SSN', 'DOB', 'ZIP', 'PHONE', 'EMAIL', 'NOTES']),
  ...cols(2, 'CLAIMS', ['ID', 'PATIENT_ID', 'ENCOUNTER_ID', 'PAYER_MEMBER_ID', 'AMOUNT', 'STATUS']),
  ...cols(3, 'EVENTS', ['ID', 'PAYLOAD']),
]);
const run = (sql: string) => analyse(sql, 'snowflake', parse, catalog, 'PUBLIC');
const colsOf = (xs: Array<{ table: { name: string }; column: string }>) => xs.map((c) => `${c.table.name}.${c.column}`).sort();
const rewrite = (sql: string) => {
  const tokens = lex(sql);
  return render(tokens, prepare(tokens));
};

test('the lexer follows Snowflake: backslash escapes, $$ strings, // comments', () => {
  assert.equal(splitStatements(lex("select 'a\\'; drop table x; --' from t")).length, 1);
  assert.equal(splitStatements(lex('select $$ ; drop table x; $$')).length, 1);
  assert.equal(splitStatements(lex('select 1 // ; drop table x\n; select 2')).length, 2);
  assert.equal(splitStatements(lex('select 1 /* ; */ ; select 2')).length, 2);
});

test('the lexer refuses what lexers disagree on', () => {
  for (const sql of [
    'select 1 /*/ ; drop table x; /* */',
    'select 1 /* /* */ x */',
    'select 1 -- a\rdrop table x',
    "select 'open",
    'select "open',
    'select `x`',
    'select 1x',
  ]) {
    assert.throws(() => lex(sql), LexError, sql);
  }
});

test('rewrites: quoted names become placeholders, ? becomes :n, JSON paths are dropped after their column', () => {
  assert.equal(rewrite('select "ssn", ? from t where a = ?'), 'select __PHIGATE_Q0__,  :1  from t where a =  :2 ');
  assert.equal(rewrite('select e.payload:a.b[0]."C"::string from events e'), 'select e.payload::string from events e');
  assert.equal(rewrite("select 'it''s' /* c */ x"), "select '__PHIGATE_S1__' x");
  assert.throws(() => rewrite('select payload? from t'), LexError);
  assert.throws(() => rewrite('select payload:a .b from t'), LexError);
});

test('statements are analysed one by one: tables are attributed to their own statement', () => {
  const a = run('select id from patients; delete from claims where id = 1');
  assert.equal(a.understood, true, a.error);
  assert.deepEqual(
    a.statements.map((s) => [s.kind, s.tablesRead.map((t) => t.name), s.tablesWritten.map((t) => t.name)]),
    [
      ['select', ['PATIENTS'], []],
      ['delete', [], ['CLAIMS']],
    ],
  );
});

test('Snowflake folds unquoted names to upper case and keeps quoted ones', () => {
  assert.deepEqual(colsOf(run('select Ssn from Patients').statements[0]!.columnsRead), ['PATIENTS.SSN']);
  assert.deepEqual(colsOf(run('select "SSN" from "PATIENTS"').statements[0]!.columnsRead), ['PATIENTS.SSN']);
  assert.equal(run('select ssn from "patients"').understood, false, 'a lower-case quoted table is another table');
  assert.equal(run('select "ssn" from patients').statements[0]!.columnsResolved, false);
});

test('IDENTIFIER(), JSON paths, EXCLUDE and FLATTEN resolve to the real table and column', () => {
  assert.deepEqual(colsOf(run("select * from identifier('clinical.public.patients')").statements[0]!.columnsRead), ['PATIENTS.*']);
  assert.equal(run('select * from identifier(?)').understood, false);
  assert.deepEqual(colsOf(run('select payload:patient.name from events').statements[0]!.columnsRead), ['EVENTS.PAYLOAD']);
  const ex = run('select * exclude (ssn) from patients where zip = ?').statements[0]!;
  assert.deepEqual([colsOf(ex.columnsRead), colsOf(ex.columnsFiltered)], [['PATIENTS.*', 'PATIENTS.ZIP'], ['PATIENTS.ZIP']]);
  const fl = run("select f.value:code from events e, lateral flatten(input => e.payload:items) f where f.value:code = 'x'").statements[0]!;
  assert.deepEqual([fl.tablesRead.map((t) => t.name), colsOf(fl.columnsFiltered)], [['EVENTS'], ['EVENTS.PAYLOAD']]);
});

test('DELETE and MERGE, which node-sql-parser cannot parse, are understood', () => {
  const del = run('delete from claims c using patients p where c.patient_id = p.id and p.ssn = ?').statements[0]!;
  assert.deepEqual(
    [del.kind, del.tablesWritten.map((t) => t.name), del.tablesRead.map((t) => t.name), del.hasWhere],
    ['delete', ['CLAIMS'], ['PATIENTS'], true],
  );
  assert.ok(colsOf(del.columnsFiltered).includes('PATIENTS.SSN'));
  assert.equal(run('delete from claims').statements[0]!.hasWhere, false);
  assert.equal(run('delete from claims where id = 1 limit 5').understood, false, 'clauses DELETE does not have');
  const merge = run(
    'merge into claims t using claims s on t.id = s.id when matched and s.status = ? then update set t.amount = s.amount when not matched then insert (id, amount) values (s.id, s.amount)',
  ).statements[0]!;
  assert.deepEqual([merge.kind, merge.tablesWritten.map((t) => t.name), colsOf(merge.columnsWritten)], ['merge', ['CLAIMS'], ['CLAIMS.AMOUNT', 'CLAIMS.ID']]);
  assert.equal(run('merge into claims t using claims s on t.id = s.id when matched then drop table patients').understood, false);
});

test('unknown syntax, unknown tables and other databases are not understood (fail closed)', () => {
  for (const sql of [
    'SELEKT nothing',
    'select * from secret_table',
    'select * from otherdb.public.patients',
    '',
    '-- nothing',
    'select * from patients at(offset => -60)',
  ]) {
    assert.equal(run(sql).understood, false, sql);
  }
  assert.equal(analyse('select 1', 'postgresql', parse, catalog, 'public').understood, false, 'PostgreSQL is analysed with its own grammar');
});

test('fingerprints ignore literals and case, not structure', () => {
  assert.equal(
    run("select * from patients where id = 1 and mrn = 'MRN-1'").fingerprint,
    run("SELECT *  FROM Patients WHERE id = 42 AND mrn = 'x'").fingerprint,
  );
  assert.notEqual(run('select id from patients').fingerprint, run('select ssn from patients').fingerprint);
});
