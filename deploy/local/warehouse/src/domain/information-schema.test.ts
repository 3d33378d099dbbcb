import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GrantChecker } from './grants.js';
import { informationSchemaRows, type SourceColumn, snowflakeType } from './information-schema.js';
import { METADATA_SCHEMA, translate } from './translate.js';

const grants = new GrantChecker({
  database: 'CLINICAL',
  roles: ['READER', 'NARROW', 'NOBODY'],
  grants: [
    { role: 'READER', privileges: ['SELECT'], table: 'PUBLIC.PATIENTS' },
    { role: 'NARROW', privileges: ['SELECT'], table: 'PUBLIC.PATIENTS', columns: ['ID'] },
  ],
});
const source: SourceColumn[] = [
  { schema: 'PUBLIC', table: 'PATIENTS', column: 'ID', position: 1, duckType: 'DECIMAL(38,0)', nullable: false },
  { schema: 'PUBLIC', table: 'PATIENTS', column: 'SSN', position: 2, duckType: 'VARCHAR', nullable: true },
  { schema: 'PUBLIC', table: 'SECRET', column: 'X', position: 1, duckType: 'VARCHAR', nullable: true },
];
const views = informationSchemaRows('CLINICAL', source, grants, '2024-01-01T00:00:00.000Z');
const seenBy = (role: string, view: 'TABLES' | 'COLUMNS') =>
  views[view].rows.filter((r) => r.visibleTo.includes(role)).map((r) => r.cells.slice(1, view === 'TABLES' ? 3 : 4).join('.'));

test('a role sees the tables and columns it holds a privilege on, and the views themselves', () => {
  assert.deepEqual(seenBy('READER', 'TABLES'), ['PUBLIC.PATIENTS', 'INFORMATION_SCHEMA.TABLES', 'INFORMATION_SCHEMA.COLUMNS']);
  assert.deepEqual(seenBy('READER', 'COLUMNS').slice(0, 2), ['PUBLIC.PATIENTS.ID', 'PUBLIC.PATIENTS.SSN']);
  assert.deepEqual(
    seenBy('NARROW', 'COLUMNS').filter((c) => c.startsWith('PUBLIC')),
    ['PUBLIC.PATIENTS.ID'],
    'a column grant shows only its columns',
  );
});

test('a role without privileges sees only INFORMATION_SCHEMA’s own views (as in Snowflake)', () => {
  assert.deepEqual(seenBy('NOBODY', 'TABLES'), ['INFORMATION_SCHEMA.TABLES', 'INFORMATION_SCHEMA.COLUMNS']);
  assert.ok(seenBy('NOBODY', 'COLUMNS').every((c) => c.startsWith('INFORMATION_SCHEMA.')));
  assert.ok(!views.TABLES.rows.some((r) => r.cells[2] === 'SECRET' && r.visibleTo.length), 'an ungranted table is shown to nobody');
});

test('grants: reading INFORMATION_SCHEMA is a metadata read for every role, writing it is refused', () => {
  const is = { database: 'CLINICAL', schema: 'INFORMATION_SCHEMA', name: 'TABLES' };
  const facts = {
    functions: [],
    hasWhere: false,
    whereTriviallyTrue: false,
    hasLimit: false,
    columnsResolved: true,
    columnsFiltered: [],
    flows: [],
    columnsWritten: [],
  };
  const read = { ...facts, kind: 'select', tablesRead: [is], tablesWritten: [], columnsRead: [{ table: is, column: 'TABLE_NAME' }] };
  assert.equal(grants.check('NOBODY', read), undefined);
  const write = { ...facts, kind: 'insert', tablesRead: [], tablesWritten: [is], columnsRead: [] };
  assert.equal(grants.check('READER', write)?.privilege, 'INSERT');
});

test('Snowflake type names and sizes', () => {
  assert.deepEqual(snowflakeType('DECIMAL(12,2)'), {
    dataType: 'NUMBER',
    charMax: null,
    octets: null,
    precision: 12,
    radix: 10,
    scale: 2,
    datetimePrecision: null,
  });
  assert.equal(snowflakeType('TIMESTAMP WITH TIME ZONE').dataType, 'TIMESTAMP_LTZ');
  assert.equal(snowflakeType('TIMESTAMP').dataType, 'TIMESTAMP_NTZ');
  assert.equal(snowflakeType('VARCHAR').charMax, 16_777_216);
});

test('translate sends INFORMATION_SCHEMA references of the session database to the engine’s metadata schema', () => {
  const ctx = { database: 'CLINICAL', schema: 'PUBLIC', role: 'READER', user: 'U', warehouse: 'W' };
  assert.equal(translate('SELECT * FROM CLINICAL.INFORMATION_SCHEMA.COLUMNS', ctx), `SELECT * FROM ${METADATA_SCHEMA}.COLUMNS`);
  assert.equal(translate('select * from "INFORMATION_SCHEMA" . "TABLES" t', ctx), `select * from ${METADATA_SCHEMA} . "TABLES" t`);
  assert.equal(
    translate("SELECT 'INFORMATION_SCHEMA.TABLES' FROM OTHER.INFORMATION_SCHEMA.TABLES", ctx),
    "SELECT 'INFORMATION_SCHEMA.TABLES' FROM OTHER.INFORMATION_SCHEMA.TABLES",
  );
});
