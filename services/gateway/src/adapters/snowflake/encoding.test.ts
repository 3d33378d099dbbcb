import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dmlCounters } from '@phigate/snowflake-wire';
import { Catalog } from '@phigate/sql';
import sqlParser from 'node-sql-parser';
import { encodeResult } from './encoding.js';
import { resultSources } from './provenance.js';

test('cells are encoded as the drivers read them; a column that does not parse as its type goes out as text', () => {
  const { rowtype, rowset } = encodeResult(
    [
      { name: 'I', type: 'int8' },
      { name: 'D', type: 'date' },
      { name: 'TS', type: 'timestamp_tz', scale: 3 },
      { name: 'NTZ', type: 'timestamp_ntz', scale: 9 },
      { name: 'B', type: 'bool' },
      { name: 'BIN', type: 'bytea' },
      { name: 'T', type: 'time', scale: 9 },
      { name: 'N', type: 'numeric' },
      { name: 'M', type: 'date' },
    ],
    [
      ['1', '2023-01-01', '2023-01-02 04:04:05.123+01:00', '1969-12-31 23:59:59.5', 't', '\\x4a656e6e79', '01:02:03.123456789', '10.5', '[REDACTED]'],
      [null, null, null, null, 'f', null, null, '-2', '2023-01-01'],
    ],
  );
  assert.deepEqual(
    rowtype.map((r) => [r.type, r.scale]),
    [
      ['fixed', 0],
      ['date', null],
      ['timestamp_tz', 3],
      ['timestamp_ntz', 9],
      ['boolean', null],
      ['binary', null],
      ['time', 9],
      ['fixed', 1],
      ['text', null],
    ],
  );
  assert.deepEqual(rowset[0], ['1', '19358', '1672628645.123 1500', '-0.500000000', '1', '4A656E6E79', '3723.123456789', '10.5', '[REDACTED]']);
  assert.deepEqual(rowset[1], [null, null, null, null, '0', null, null, '-2', '2023-01-01']);
  assert.deepEqual(dmlCounters('UPDATE', 2)?.row, ['2', '0']);
});

test('provenance traces bare columns, aliases and stars to their table columns, and nothing else', () => {
  const cat = new Catalog('CLINICAL', [
    { tableOid: 1, schema: 'PUBLIC', table: 'PATIENTS', attnum: 1, column: 'ID' },
    { tableOid: 1, schema: 'PUBLIC', table: 'PATIENTS', attnum: 2, column: 'SSN' },
    { tableOid: 2, schema: 'PUBLIC', table: 'CLAIMS', attnum: 1, column: 'ID' },
    { tableOid: 2, schema: 'PUBLIC', table: 'CLAIMS', attnum: 2, column: 'PATIENT_ID' },
  ]);
  const parser = new sqlParser.Parser();
  const sources = (sql: string) =>
    resultSources(parser.astify(sql, { database: 'snowflake' }), cat, 'PUBLIC')?.map((s) => (s ? `${s.table}.${s.column}` : null));
  assert.deepEqual(sources('SELECT ssn AS x, id, upper(ssn) FROM patients'), ['PATIENTS.SSN', 'PATIENTS.ID', null]);
  assert.deepEqual(sources('SELECT p.*, c.id, patient_id, id FROM clinical.public.patients p JOIN claims c ON c.patient_id = p.id'), [
    'PATIENTS.ID',
    'PATIENTS.SSN',
    'CLAIMS.ID',
    'CLAIMS.PATIENT_ID',
    null,
  ]);
  assert.equal(sources('SELECT id FROM patients UNION SELECT id FROM claims'), undefined);
  assert.equal(sources('SELECT id FROM nowhere'), undefined);
  // A bare quoted name is a column (the grammar reads it as a string): exact by default; under
  // QUOTED_IDENTIFIERS_IGNORE_CASE, quoted table and column names fold as unquoted ones do.
  assert.deepEqual(sources('SELECT "SSN", "ssn", "ID" AS "x" FROM patients'), ['PATIENTS.SSN', null, 'PATIENTS.ID']);
  assert.equal(sources('SELECT "ssn" FROM "patients"'), undefined);
  const ignoring = (sql: string) =>
    resultSources(parser.astify(sql, { database: 'snowflake' }), cat, 'PUBLIC', true)?.map((s) => (s ? `${s.table}.${s.column}` : null));
  assert.deepEqual(ignoring('SELECT "ssn", "Id", "patient_id" FROM "public"."patients", claims'), ['PATIENTS.SSN', null, 'CLAIMS.PATIENT_ID']);
});

test('provenance never lines a source up with another result column: EXCLUDE exactly, other star forms not at all', () => {
  const cat = new Catalog('CLINICAL', [
    { tableOid: 1, schema: 'PUBLIC', table: 'PATIENTS', attnum: 1, column: 'ID' },
    { tableOid: 1, schema: 'PUBLIC', table: 'PATIENTS', attnum: 2, column: 'SSN' },
    { tableOid: 1, schema: 'PUBLIC', table: 'PATIENTS', attnum: 3, column: 'ZIP' },
    { tableOid: 2, schema: 'PUBLIC', table: 'CLAIMS', attnum: 1, column: 'ID' },
    { tableOid: 2, schema: 'PUBLIC', table: 'CLAIMS', attnum: 2, column: 'PATIENT_ID' },
  ]);
  const parser = new sqlParser.Parser();
  const sources = (sql: string) => {
    let ast: unknown;
    try {
      ast = parser.astify(sql, { database: 'snowflake' });
    } catch {
      return 'unparsed';
    }
    return resultSources(ast, cat, 'PUBLIC')?.map((s) => (s ? `${s.table}.${s.column}` : null));
  };
  // The result of `* EXCLUDE (ID), ID` is SSN, ZIP, ID: every source where its column is.
  assert.deepEqual(sources('SELECT * EXCLUDE (ID), id FROM patients'), ['PATIENTS.SSN', 'PATIENTS.ZIP', 'PATIENTS.ID']);
  assert.deepEqual(sources('SELECT * EXCLUDE id FROM patients'), ['PATIENTS.SSN', 'PATIENTS.ZIP']);
  assert.deepEqual(sources('SELECT * EXCLUDE ("SSN", zip) FROM patients'), ['PATIENTS.ID']);
  // Unqualified, EXCLUDE leaves every relation; qualified, its own.
  assert.deepEqual(sources('SELECT * EXCLUDE (id) FROM patients p JOIN claims c ON c.patient_id = p.id'), [
    'PATIENTS.SSN',
    'PATIENTS.ZIP',
    'CLAIMS.PATIENT_ID',
  ]);
  assert.deepEqual(sources('SELECT * EXCLUDE (c.id) FROM patients p JOIN claims c ON c.patient_id = p.id'), [
    'PATIENTS.ID',
    'PATIENTS.SSN',
    'PATIENTS.ZIP',
    'CLAIMS.PATIENT_ID',
  ]);
  assert.deepEqual(sources('SELECT p.* EXCLUDE (ssn), c.id FROM patients p JOIN claims c ON c.patient_id = p.id'), [
    'PATIENTS.ID',
    'PATIENTS.ZIP',
    'CLAIMS.ID',
  ]);
  // An EXCLUDE of a name that is no column (or only by case) cannot be lined up.
  assert.equal(sources('SELECT * EXCLUDE (nothing) FROM patients'), undefined);
  assert.equal(sources('SELECT * EXCLUDE ("ssn") FROM patients'), undefined);
  // COLUMNS(…) and UNNEST(…) expand to any number of columns; a `*` inside an expression is not traced.
  for (const sql of [
    "SELECT id, COLUMNS('S.N') FROM patients",
    "SELECT COLUMNS('S.N'), id FROM patients",
    "SELECT MAX(COLUMNS('S.N')), id FROM patients",
    "SELECT COLUMNS('S.N') || 'x', id FROM patients",
    'SELECT COLUMNS(*) FROM patients',
    'SELECT unnest(p), id FROM patients p',
    'SELECT OBJECT_CONSTRUCT(*), id FROM patients',
    'SELECT HASH(p.*), id FROM patients p',
    'SELECT * FROM patients JOIN claims USING (id)',
    'SELECT * FROM patients NATURAL JOIN claims',
  ]) {
    assert.equal(sources(sql), undefined, sql);
  }
  // Star modifiers the parser does not read leave no sources either.
  for (const sql of [
    "SELECT * ILIKE '%S%' FROM patients",
    "SELECT * LIKE '%S%' FROM patients",
    'SELECT * RENAME (ssn AS id) FROM patients',
    'SELECT * REPLACE (ssn AS id) FROM patients',
    'SELECT * EXCLUDE (id) RENAME (ssn AS x) FROM patients',
  ]) {
    const got = sources(sql);
    assert.ok(got === 'unparsed' || got === undefined, sql);
  }
  // A JSON path or an index is not its column: no source for that item alone.
  assert.deepEqual(sources('SELECT ssn:a, id FROM patients'), [null, 'PATIENTS.ID']);
  // COUNT(*) is one column that reads none.
  assert.deepEqual(sources('SELECT COUNT(*), patient_id FROM claims GROUP BY patient_id'), [null, 'CLAIMS.PATIENT_ID']);
});
