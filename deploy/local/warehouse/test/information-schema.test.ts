// phigate-test: stack
/**
 * INFORMATION_SCHEMA.TABLES and .COLUMNS through snowflake-sdk, as the gateway reads its catalog:
 * upper-case names, only what the session's role holds privileges on, readable by every role, and
 * never a way around the grant check (writes refused, a join still needs its table's grant).
 */
import './conformance/driver-env.js';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Connection } from 'snowflake-sdk';
import { connect, destroy, type Exec, execOn } from './conformance/node-suite.js';
import { useWarehouse, warehouseTarget } from './helpers.js';

const wh = useWarehouse();

/** The gateway's catalog query (services/gateway/src/adapters/snowflake/upstream.ts). */
const CATALOG_SQL =
  "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION FROM CLINICAL.INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA <> 'INFORMATION_SCHEMA' ORDER BY 1,2,4";

type DriverError = { code?: unknown; sqlState?: unknown; message?: string };

describe('INFORMATION_SCHEMA', () => {
  const sessions: Connection[] = [];
  const as = async (auth: 'etl' | 'gateway', role?: string): Promise<Exec> => {
    const base = warehouseTarget(wh());
    const conn = await connect(
      auth === 'etl' ? base : { ...base, auth: { kind: 'password', user: 'PHIGATE_GATEWAY', password: wh().gatewayPassword }, ...(role ? { role } : {}) },
    );
    sessions.push(conn);
    return execOn(conn);
  };
  let etl: Exec;
  before(async () => {
    etl = await as('etl');
  });
  after(async () => {
    await Promise.all(sessions.map(destroy));
  });

  it('answers the gateway’s catalog query with the tables the role may read, in upper case', async () => {
    const { stmt, rows } = await etl(CATALOG_SQL);
    assert.deepEqual(
      stmt.getColumns()?.map((c) => [c.getName(), c.getType()]),
      [
        ['TABLE_SCHEMA', 'text'],
        ['TABLE_NAME', 'text'],
        ['COLUMN_NAME', 'text'],
        ['ORDINAL_POSITION', 'fixed'],
      ],
    );
    const tables = [...new Set(rows.map((r) => `${r.TABLE_SCHEMA}.${r.TABLE_NAME}`))];
    assert.deepEqual(tables, ['PUBLIC.CLAIMS', 'PUBLIC.ENCOUNTERS', 'PUBLIC.PATIENTS', 'SCRATCH.CONFORMANCE_ROWS'], 'DEMO_META (no grant) is not shown');
    const patients = rows.filter((r) => r.TABLE_NAME === 'PATIENTS');
    assert.deepEqual(
      patients.map((r) => [r.COLUMN_NAME, r.ORDINAL_POSITION]),
      ['ID', 'MRN', 'FIRST_NAME', 'LAST_NAME', 'SSN', 'DOB', 'ZIP', 'PHONE', 'EMAIL', 'NOTES'].map((c, i) => [c, i + 1]),
    );
  });

  it('describes types as Snowflake does, and lists its own views to every role', async () => {
    const { rows } = await etl(
      "SELECT COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, IS_NULLABLE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'CLAIMS' AND COLUMN_NAME IN ('ID', 'AMOUNT', 'STATUS') ORDER BY ORDINAL_POSITION",
    );
    assert.deepEqual(rows, [
      { COLUMN_NAME: 'ID', DATA_TYPE: 'NUMBER', NUMERIC_PRECISION: 38, NUMERIC_SCALE: 0, IS_NULLABLE: 'NO' },
      { COLUMN_NAME: 'AMOUNT', DATA_TYPE: 'NUMBER', NUMERIC_PRECISION: 12, NUMERIC_SCALE: 2, IS_NULLABLE: 'YES' },
      { COLUMN_NAME: 'STATUS', DATA_TYPE: 'TEXT', NUMERIC_PRECISION: null, NUMERIC_SCALE: null, IS_NULLABLE: 'YES' },
    ]);
    const { rows: tables } = await etl('SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM "INFORMATION_SCHEMA"."TABLES" ORDER BY 1, 2');
    assert.deepEqual(
      tables.map((r) => `${r.TABLE_SCHEMA}.${r.TABLE_NAME} ${r.TABLE_TYPE}`),
      [
        'INFORMATION_SCHEMA.COLUMNS VIEW',
        'INFORMATION_SCHEMA.TABLES VIEW',
        'PUBLIC.CLAIMS BASE TABLE',
        'PUBLIC.ENCOUNTERS BASE TABLE',
        'PUBLIC.PATIENTS BASE TABLE',
        'SCRATCH.CONFORMANCE_ROWS BASE TABLE',
      ],
    );
  });

  it('follows the session’s role: a column grant shows only its columns, and USE ROLE switches the view', async () => {
    const gw = await as('gateway', 'CLAIMS_WRITER');
    const { rows } = await gw(CATALOG_SQL);
    const byTable = (name: string) => rows.filter((r) => r.TABLE_NAME === name).map((r) => r.COLUMN_NAME);
    assert.deepEqual(byTable('PATIENTS'), ['ID'], 'CLAIMS_WRITER holds SELECT on PATIENTS.ID only');
    assert.deepEqual(byTable('ENCOUNTERS'), []);
    assert.equal(byTable('CLAIMS').length, 6);
    await gw('USE ROLE CLINICAL_READER');
    const again = await gw(CATALOG_SQL);
    assert.equal(again.rows.filter((r) => r.TABLE_NAME === 'PATIENTS').length, 10);
  });

  it('works from the schema itself (USE SCHEMA INFORMATION_SCHEMA)', async () => {
    const gw = await as('gateway');
    await gw('USE SCHEMA INFORMATION_SCHEMA');
    const { rows } = await gw("SELECT COUNT(*) AS N FROM TABLES WHERE TABLE_SCHEMA = 'PUBLIC'");
    assert.equal(rows[0]?.N, 3);
  });

  it('is no way around grants: writes are refused, and a join still needs the other table’s grant', async () => {
    for (const sql of [
      "INSERT INTO INFORMATION_SCHEMA.TABLES (TABLE_NAME) VALUES ('X')",
      'SELECT t.TABLE_NAME, m.VERSION FROM INFORMATION_SCHEMA.TABLES t JOIN DEMO_META m ON TRUE',
    ]) {
      await assert.rejects(etl(sql), (err: DriverError) => {
        assert.equal(err.code, '003001', sql);
        assert.equal(err.sqlState, '42501');
        return true;
      });
    }
    // The engine's own metadata is not reachable under any name the analyser does not know.
    for (const sql of ['SELECT * FROM sf_meta.data.COLUMNS', 'SELECT * FROM information_schema.schemata WHERE catalog_name = 1']) {
      await assert.rejects(etl(sql), (err: DriverError) => {
        assert.match(String(err.code), /^(002003|001003)$/, sql);
        return true;
      });
    }
  });
});
