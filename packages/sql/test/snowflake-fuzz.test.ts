import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { seededRandom } from '@phigate/testkit';
import sqlParser from 'node-sql-parser';
import { Catalog } from '../src/catalog.js';
import { analyse, type ParsedSql, type SqlParser } from '../src/node-sql-analysis.js';

// Mutated Snowflake statements through the analyser: it never throws, and whatever it says it
// understood names only catalog tables and columns, with a kind for every statement.

const parser = new sqlParser.Parser();
const parse: SqlParser = (sql, dialect) => parser.parse(sql, { database: dialect }) as unknown as ParsedSql;
const cols = (oid: number, table: string, names: string[]) => names.map((column, i) => ({ tableOid: oid, schema: 'PUBLIC', table, attnum: i + 1, column }));
const catalog = new Catalog('CLINICAL', [
  ...cols(1, 'PATIENTS', ['ID', 'MRN', 'FIRST_NAME', 'LAST_NAME', 'SSN', 'DOB', 'ZIP', 'PHONE', 'EMAIL', 'NOTES']),
  ...cols(2, 'ENCOUNTERS', ['ID', 'PATIENT_ID', 'ADMITTED_AT', 'DISCHARGED_AT', 'DIAGNOSIS_CODE', 'NOTES']),
  ...cols(3, 'CLAIMS', ['ID', 'PATIENT_ID', 'ENCOUNTER_ID', 'PAYER_MEMBER_ID', 'AMOUNT', 'STATUS']),
  ...cols(4, 'EVENTS', ['ID', 'PAYLOAD']),
]);
const corpus = JSON.parse(readFileSync(new URL('../../test/corpus.json', import.meta.url), 'utf8')) as { cases: Array<{ dialect: string; sql: string }> };
const seeds = corpus.cases.filter((c) => c.dialect === 'snowflake' && c.sql).map((c) => c.sql);

const PIECES = [
  "'",
  '"',
  ';',
  '--',
  '//',
  '/*',
  '*/',
  '$$',
  '\\',
  '?',
  ':',
  '::',
  '\n',
  '\r',
  ' ',
  '(',
  ')',
  ',',
  '.',
  '*',
  '@',
  '$1',
  ' DROP TABLE patients ',
  ' UNION ALL SELECT ssn FROM patients ',
  ' OR 1=1 ',
  ' ssn ',
  '"ssn"',
  " IDENTIFIER('PATIENTS') ",
  ':a.b',
  ' WHERE ',
  ' USING ',
  ' WHEN MATCHED THEN DELETE ',
];

const rng = seededRandom;

function mutate(sql: string, r: () => number): string {
  let s = sql;
  const edits = 1 + Math.floor(r() * 3);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(r() * (s.length + 1));
    const op = r();
    if (op < 0.45) s = s.slice(0, at) + PIECES[Math.floor(r() * PIECES.length)] + s.slice(at);
    else if (op < 0.75) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 6));
    else if (op < 0.9) s = `${s}; ${seeds[Math.floor(r() * seeds.length)]}`;
    else s = s.slice(0, at) + s.slice(at).toLowerCase();
  }
  return s;
}

test('mutated Snowflake statements never crash the analyser and never name what the catalog does not know', () => {
  const r = rng(20240611);
  let understood = 0;
  const N = 20000;
  for (let i = 0; i < N; i++) {
    const sql = mutate(seeds[Math.floor(r() * seeds.length)]!, r);
    const a = analyse(sql, 'snowflake', parse, catalog, 'PUBLIC');
    const where = `mutation ${i}: ${JSON.stringify(sql)}`;
    assert.equal(typeof a.understood, 'boolean', where);
    if (!a.understood) {
      assert.ok(a.error, `${where}: not understood says why`);
      continue;
    }
    understood++;
    assert.ok(a.statements.length > 0, where);
    for (const s of a.statements) {
      assert.notEqual(s.kind, 'unknown', where);
      for (const t of s.tablesRead) assert.ok(catalog.hasTable(t), `${where}: reads ${t.schema}.${t.name}`);
      for (const c of [...s.columnsRead, ...s.columnsFiltered])
        assert.ok(c.column === '*' || catalog.hasColumn(c.table, c.column), `${where}: column ${c.table.name}.${c.column}`);
    }
  }
  // The mutations are not all noise: a good share still parses.
  assert.ok(understood > N / 10, `${understood} of ${N} understood`);
});
