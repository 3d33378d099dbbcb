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
});
