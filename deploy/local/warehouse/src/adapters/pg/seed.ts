import pg from 'pg';
import type { Engine } from '../duckdb/engine.js';

/**
 * The demo CLINICAL.PUBLIC schema in Snowflake types (as DuckDB spells them: NUMBER(p,s) is
 * DECIMAL, TIMESTAMP_NTZ is TIMESTAMP, TIMESTAMP_LTZ is TIMESTAMPTZ), and where each table's rows
 * come from in the demo PostgreSQL database (deploy/local/demo/clinical-pg). PostgreSQL
 * `timestamptz` values become TIMESTAMP_NTZ in UTC wall time, the usual Snowflake load shape.
 */
const TABLES = [
  {
    name: 'PATIENTS',
    ddl: 'ID DECIMAL(38,0) NOT NULL PRIMARY KEY, MRN VARCHAR NOT NULL, FIRST_NAME VARCHAR, LAST_NAME VARCHAR, SSN VARCHAR, DOB DATE, ZIP VARCHAR, PHONE VARCHAR, EMAIL VARCHAR, NOTES VARCHAR',
    select: 'SELECT id::text, mrn, first_name, last_name, ssn, dob::text, zip, phone, email, notes FROM public.patients ORDER BY id',
    casts: ['DECIMAL(38,0)', 'VARCHAR', 'VARCHAR', 'VARCHAR', 'VARCHAR', 'DATE', 'VARCHAR', 'VARCHAR', 'VARCHAR', 'VARCHAR'],
  },
  {
    name: 'ENCOUNTERS',
    ddl: 'ID DECIMAL(38,0) NOT NULL PRIMARY KEY, PATIENT_ID DECIMAL(38,0), ADMITTED_AT TIMESTAMP, DISCHARGED_AT TIMESTAMP, DIAGNOSIS_CODE VARCHAR, NOTES VARCHAR',
    select: `SELECT id::text, patient_id::text, to_char(admitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
               to_char(discharged_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), diagnosis_code, notes FROM public.encounters ORDER BY id`,
    casts: ['DECIMAL(38,0)', 'DECIMAL(38,0)', 'TIMESTAMP', 'TIMESTAMP', 'VARCHAR', 'VARCHAR'],
  },
  {
    name: 'CLAIMS',
    ddl: "ID DECIMAL(38,0) NOT NULL PRIMARY KEY DEFAULT nextval('PUBLIC.CLAIMS_ID_SEQ'), PATIENT_ID DECIMAL(38,0), ENCOUNTER_ID DECIMAL(38,0), PAYER_MEMBER_ID VARCHAR, AMOUNT DECIMAL(12,2), STATUS VARCHAR",
    select: 'SELECT id::text, patient_id::text, encounter_id::text, payer_member_id, amount::text, status FROM public.claims ORDER BY id',
    casts: ['DECIMAL(38,0)', 'DECIMAL(38,0)', 'DECIMAL(38,0)', 'VARCHAR', 'DECIMAL(12,2)', 'VARCHAR'],
  },
  {
    // The load marker: no role has any privilege on it (as in PostgreSQL).
    name: 'DEMO_META',
    ddl: 'VERSION VARCHAR NOT NULL, LOADED_AT TIMESTAMPTZ NOT NULL',
    select: `SELECT version, to_char(loaded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' FROM public.demo_meta`,
    casts: ['VARCHAR', 'TIMESTAMPTZ'],
  },
] as const;

/** The conformance suite's scratch table: no PHI, DML granted to the purpose roles. */
const SCRATCH_DDL = `CREATE TABLE SCRATCH.CONFORMANCE_ROWS (RUN_ID VARCHAR NOT NULL, ID DECIMAL(38,0) NOT NULL, LABEL VARCHAR,
  AMOUNT DECIMAL(12,2), FLAG BOOLEAN, CREATED_ON DATE, CREATED_AT TIMESTAMP)`;

export interface SeedReport {
  tables: Record<string, number>;
}

/** Creates the schemas and copies the demo tables from PostgreSQL into the engine. */
export async function seedFromPostgres(engine: Engine, databaseUrl: string): Promise<SeedReport> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000, application_name: 'phigate-warehouse-seed' });
  await client.connect();
  const report: SeedReport = { tables: {} };
  try {
    // One snapshot for all tables, so foreign keys line up even if the demo is reloading.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await engine.exec('CREATE SCHEMA PUBLIC');
    await engine.exec('CREATE SCHEMA SCRATCH');
    for (const t of TABLES) {
      const res = await client.query({ text: t.select, rowMode: 'array' });
      const rows = res.rows as (string | null)[][];
      if (t.name === 'CLAIMS') {
        const maxId = rows.reduce((m, r) => Math.max(m, Number(r[0] ?? 0)), 0);
        await engine.exec(`CREATE SEQUENCE PUBLIC.CLAIMS_ID_SEQ START ${maxId + 1}`);
      }
      await engine.exec(`CREATE TABLE PUBLIC.${t.name} (${t.ddl})`);
      const staging = `SEED_${t.name}`;
      await engine.exec(`CREATE TABLE main.${staging} (${t.casts.map((_, i) => `c${i} VARCHAR`).join(', ')})`);
      await engine.appendText('main', staging, rows);
      await engine.exec(`INSERT INTO PUBLIC.${t.name} SELECT ${t.casts.map((c, i) => `CAST(c${i} AS ${c})`).join(', ')} FROM main.${staging}`);
      await engine.exec(`DROP TABLE main.${staging}`);
      report.tables[t.name] = rows.length;
    }
    await client.query('COMMIT');
    await engine.exec(SCRATCH_DDL);
  } finally {
    await client.end().catch(() => undefined);
  }
  return report;
}
