import {
  BIGINT,
  BLOB,
  BOOLEAN,
  blobValue,
  DATE,
  DECIMAL,
  DOUBLE,
  DuckDBBlobValue,
  type DuckDBConnection,
  DuckDBDateValue,
  type DuckDBDecimalType,
  DuckDBDecimalValue,
  DuckDBInstance,
  DuckDBListValue,
  DuckDBMapValue,
  type DuckDBPreparedStatement,
  type DuckDBStructType,
  DuckDBStructValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTimeValue,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBUnionType,
  DuckDBUnionValue,
  type DuckDBValue,
  dateValue,
  decimalValue,
  HUGEINT,
  TIME,
  TIMESTAMP,
  TIMESTAMPTZ,
  timestampTZValue,
  timestampValue,
  timeValue,
  VARCHAR,
} from '@duckdb/node-api';
import { BINARY_LENGTH, type BindValue, type ColumnType, TEXT_LENGTH } from '@phigate/snowflake-wire';
import { Catalog, type CatalogColumn } from '@phigate/sql';
import { INFORMATION_SCHEMA } from '../../domain/grants.js';
import type { SourceColumn, ViewName, ViewRows } from '../../domain/information-schema.js';
import { DIVISION_BY_ZERO_MESSAGE } from '../../domain/snowflake-errors.js';
import { DIVISOR, METADATA_CATALOG, METADATA_SCHEMA } from '../../domain/translate.js';

export interface EncodedResult {
  columns: ColumnType[];
  /** Cells as Snowflake's JSON rowset encodes them: strings or null. */
  rows: (string | null)[][];
}

/** What one executed statement produced. */
export type ExecOutcome = { kind: 'rows'; result: EncodedResult } | { kind: 'count'; count: bigint };

/** Objects the engine creates before anything else: Snowflake's types that DuckDB lacks. */
const BOOTSTRAP = [
  "SET TimeZone = 'UTC'",
  // Values of these two union types are Snowflake OBJECT and ARRAY (JSON text); the tag names
  // survive into result metadata, where plain type aliases do not.
  'CREATE TYPE SF_OBJECT AS UNION(sf_object JSON)',
  'CREATE TYPE SF_ARRAY AS UNION(sf_array JSON)',
  'CREATE MACRO sf_object(j) AS union_value(sf_object := CAST(j AS JSON))::SF_OBJECT',
  'CREATE MACRO sf_array(j) AS union_value(sf_array := CAST(j AS JSON))::SF_ARRAY',
  // TIMESTAMP_TZ keeps each value's own UTC offset (DuckDB's TIMESTAMPTZ keeps only the instant).
  'CREATE TYPE SF_TIMESTAMP_TZ AS STRUCT(sf_tz_utc TIMESTAMPTZ, sf_tz_offset SMALLINT)',
  "CREATE MACRO sf_tz_text(x) AS regexp_replace(CAST(x AS VARCHAR), '\\s+([+-]\\d{2}(:?\\d{2})?)$', '\\1')",
  "CREATE MACRO sf_tz_offset(t) AS CASE WHEN regexp_matches(t, '[+-]\\d{2}(:?\\d{2})?$') THEN (CASE WHEN regexp_extract(t, '([+-])\\d{2}(:?\\d{2})?$', 1) = '-' THEN -1 ELSE 1 END) * (CAST(regexp_extract(t, '[+-](\\d{2})(:?\\d{2})?$', 1) AS INTEGER) * 60 + coalesce(TRY_CAST(regexp_extract(t, '[+-]\\d{2}:?(\\d{2})$', 1) AS INTEGER), 0)) ELSE 0 END",
  'CREATE MACRO sf_to_timestamp_tz(x) AS struct_pack(sf_tz_utc := CAST(sf_tz_text(x) AS TIMESTAMPTZ), sf_tz_offset := CAST(sf_tz_offset(sf_tz_text(x)) AS SMALLINT))::SF_TIMESTAMP_TZ',
  // Every divisor goes through this (translate.ts): Snowflake raises on division by zero, integer,
  // decimal or float alike, where DuckDB answers inf or NULL.
  `CREATE MACRO ${DIVISOR}(d) AS CASE WHEN d = 0 THEN error('${DIVISION_BY_ZERO_MESSAGE}') ELSE d END`,
];

/** The DuckDB database behind the warehouse: one in-memory instance, one connection per session. */
export class Engine {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly admin: DuckDBConnection,
    readonly database: string,
  ) {}

  static async create(database: string): Promise<Engine> {
    const instance = await DuckDBInstance.create(':memory:');
    const admin = await instance.connect();
    for (const s of BOOTSTRAP) await admin.run(s);
    await admin.run(`ATTACH ':memory:' AS ${database}`);
    // DuckDB reserves the name INFORMATION_SCHEMA: Snowflake's views live in their own catalog,
    // where translate() sends references to them.
    await admin.run(`ATTACH ':memory:' AS ${METADATA_CATALOG}`);
    await admin.run(`CREATE SCHEMA ${METADATA_CATALOG}.data`);
    await admin.run(`USE ${database}`);
    return new Engine(instance, admin, database);
  }

  /** Every column of the database's tables, with its DuckDB type (what INFORMATION_SCHEMA describes). */
  async sourceColumns(): Promise<SourceColumn[]> {
    const r = await this.admin.runAndReadAll(
      `SELECT table_schema, table_name, column_name, ordinal_position, data_type, is_nullable FROM information_schema.columns WHERE table_catalog = '${this.database}' ORDER BY table_schema, table_name, ordinal_position`,
    );
    return r.getRows().map((row) => {
      const [schema, table, column, pos, type, nullable] = row as [string, string, string, number | bigint, string, string];
      return { schema, table, column, position: Number(pos), duckType: type, nullable: nullable === 'YES' };
    });
  }

  /**
   * Publishes INFORMATION_SCHEMA's views: each row is stored with the roles that may see it, and the
   * view shows a session only the rows of its current role (`setRole`); no role set, no rows.
   */
  async publishInformationSchema(views: Record<ViewName, ViewRows>): Promise<void> {
    for (const [name, v] of Object.entries(views) as Array<[ViewName, ViewRows]>) {
      const data = `${METADATA_CATALOG}.data."${name}"`;
      await this.admin.run(`CREATE TABLE ${data} (visible_to VARCHAR, ${v.columns.map((_, i) => `c${i} VARCHAR`).join(', ')})`);
      const appender = await this.admin.createAppender(name, 'data', METADATA_CATALOG);
      for (const row of v.rows) {
        appender.appendVarchar(`,${row.visibleTo.join(',')},`);
        for (const cell of row.cells) {
          if (cell === null) appender.appendNull();
          else appender.appendVarchar(String(cell));
        }
        appender.endRow();
      }
      appender.flushSync();
      appender.closeSync();
      const select = v.columns.map((c, i) => `CAST(c${i} AS ${c.duckType}) AS "${c.name}"`).join(', ');
      await this.admin.run(
        `CREATE VIEW ${METADATA_SCHEMA}."${name}" AS SELECT ${select} FROM ${data} WHERE contains(visible_to, ',' || getvariable('sf_role') || ',')`,
      );
    }
  }

  /** Runs trusted set-up SQL (schema, seed) as the owner. */
  async exec(sql: string): Promise<void> {
    await this.admin.run(sql);
  }

  /** Appends string rows into a table (the seed path; DuckDB casts from VARCHAR on INSERT … SELECT). */
  async appendText(schema: string, table: string, rows: (string | null)[][]): Promise<void> {
    const appender = await this.admin.createAppender(table, schema, this.database);
    for (const row of rows) {
      for (const v of row) {
        if (v === null) appender.appendNull();
        else appender.appendVarchar(v);
      }
      appender.endRow();
    }
    appender.flushSync();
    appender.closeSync();
  }

  /** The tables and columns, named as Snowflake names them (upper case), for the SQL analyser. */
  async catalog(): Promise<Catalog> {
    const r = await this.admin.runAndReadAll(
      `SELECT table_schema, table_name, column_name, ordinal_position FROM information_schema.columns WHERE table_catalog = '${this.database}' ORDER BY table_schema, table_name, ordinal_position`,
    );
    const views = await this.admin.runAndReadAll(
      `SELECT '${INFORMATION_SCHEMA}', table_name, column_name, ordinal_position FROM information_schema.columns WHERE table_catalog = '${METADATA_CATALOG}' AND table_schema = 'main' ORDER BY table_name, ordinal_position`,
    );
    const oids = new Map<string, number>();
    const cols: CatalogColumn[] = [...r.getRows(), ...views.getRows()].map((row) => {
      const [schema, table, column, pos] = row as [string, string, string, number | bigint];
      const key = `${schema}.${table}`;
      if (!oids.has(key)) oids.set(key, oids.size + 1);
      return { tableOid: oids.get(key)!, schema, table, column, attnum: Number(pos) };
    });
    return new Catalog(this.database, cols);
  }

  async openSession(schema: string, role: string): Promise<EngineSession> {
    const conn = await this.instance.connect();
    // Errors as JSON: class, message, position and name, which domain/snowflake-errors.ts maps.
    await conn.run('SET errors_as_json = true');
    const session = new EngineSession(conn, this.database);
    await session.use(schema);
    await session.setRole(role);
    return session;
  }

  close(): void {
    this.admin.closeSync();
    this.instance.closeSync();
  }
}

/** One session's DuckDB connection. Statements are serialised, as on one Snowflake session. */
export class EngineSession {
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly conn: DuckDBConnection,
    private readonly database: string,
  ) {}

  /** Names resolve in the session's schema; the Snowflake compatibility types and macros live in memory.main. */
  async use(schema: string): Promise<void> {
    const path = schema === INFORMATION_SCHEMA ? METADATA_SCHEMA : `${this.database}.${schema}`;
    await this.conn.run(`USE ${path}`);
    await this.conn.run(`SET search_path = '${path},memory.main'`);
  }

  /** The role INFORMATION_SCHEMA's views answer for (a validated role name). */
  async setRole(role: string): Promise<void> {
    await this.conn.run(`SET VARIABLE sf_role = '${role.replace(/'/g, "''")}'`);
  }

  /** Runs `fn` after everything queued before it on this session. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Executes one translated statement once per bind row; DML counts are summed. */
  async execute(sql: string, bindRows: BindValue[][], isDml: boolean, nameOf: (raw: string) => string): Promise<ExecOutcome> {
    if (this.closed) throw new Error('session closed');
    const hasBinds = bindRows.some((r) => r.length > 0);
    let prepared: DuckDBPreparedStatement | undefined;
    if (hasBinds) prepared = await this.conn.prepare(sql);
    let count = 0n;
    let last: ExecOutcome | undefined;
    for (const row of hasBinds ? bindRows : [[]]) {
      let reader: Awaited<ReturnType<DuckDBConnection['runAndReadAll']>>;
      if (prepared) {
        if (prepared.parameterCount !== row.length) {
          throw Object.assign(new Error(`Bind variable count mismatch: the statement has ${prepared.parameterCount}, ${row.length} were sent`), {
            bindMismatch: true,
          });
        }
        for (const [i, b] of row.entries()) bindOne(prepared, i + 1, b);
        reader = await prepared.runAndReadAll();
      } else reader = await this.conn.runAndReadAll(sql);
      if (isDml) {
        const first = reader.getRows()[0]?.[0];
        count += typeof first === 'bigint' ? first : BigInt(Number(first ?? 0));
      } else last = { kind: 'rows', result: encode(reader.columnNames(), reader.columnTypes(), reader.getRows(), nameOf) };
    }
    if (isDml) return { kind: 'count', count };
    return last ?? { kind: 'rows', result: { columns: [], rows: [] } };
  }

  /** describeOnly: the statement's bind count and result columns, without running it. */
  async describe(sql: string, nameOf: (raw: string) => string): Promise<{ binds: number; result: EncodedResult }> {
    const p = await this.conn.prepare(sql);
    const names: string[] = [];
    const types: DuckDBType[] = [];
    for (let i = 0; i < p.columnCount; i++) {
      names.push(p.columnName(i));
      types.push(p.columnType(i));
    }
    return { binds: p.parameterCount, result: encode(names, types, [], nameOf) };
  }

  /** Parses a translated statement without binding or running it; throws DuckDB's parser error. */
  async parse(sql: string): Promise<void> {
    await this.conn.extractStatements(sql);
  }

  interrupt(): void {
    if (!this.closed) this.conn.interrupt();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn.closeSync();
  }
}

function bindOne(p: DuckDBPreparedStatement, i: number, b: BindValue): void {
  switch (b.type) {
    case 'NULL':
      p.bindNull(i);
      return;
    case 'BIGINT':
      p.bindValue(i, b.value, b.value > 9223372036854775807n || b.value < -9223372036854775808n ? HUGEINT : BIGINT);
      return;
    case 'DECIMAL':
      p.bindValue(i, decimalValue(b.value, 38, b.scale), DECIMAL(38, b.scale));
      return;
    case 'DOUBLE':
      p.bindValue(i, b.value, DOUBLE);
      return;
    case 'VARCHAR':
      p.bindValue(i, b.value, VARCHAR);
      return;
    case 'BOOLEAN':
      p.bindValue(i, b.value, BOOLEAN);
      return;
    case 'DATE':
      p.bindValue(i, dateValue(b.days), DATE);
      return;
    case 'TIME':
      p.bindValue(i, timeValue(b.micros), TIME);
      return;
    case 'TIMESTAMP':
      p.bindValue(i, timestampValue(b.micros), TIMESTAMP);
      return;
    case 'TIMESTAMPTZ':
      p.bindValue(i, timestampTZValue(b.micros), TIMESTAMPTZ);
      return;
    case 'BLOB':
      p.bindValue(i, blobValue(b.bytes), BLOB);
      return;
  }
}

// ---- encoding: DuckDB values → Snowflake JSON rowset cells -------------------------------------

/** A bigint scaled by 10^scale as a plain decimal string ("-12.30" for -1230n, scale 2). */
export function scaled(v: bigint, scale: number): string {
  const neg = v < 0n;
  const digits = (neg ? -v : v).toString().padStart(scale + 1, '0');
  const s = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return neg ? `-${s}` : s;
}

function columnType(name: string, t: DuckDBType): ColumnType {
  const base = { name, precision: null, scale: null, length: null, byteLength: null, nullable: true };
  switch (t.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return { ...base, type: 'boolean' };
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.BIGNUM:
      return { ...base, type: 'fixed', precision: 38, scale: 0 };
    case DuckDBTypeId.DECIMAL: {
      const d = t as DuckDBDecimalType;
      return { ...base, type: 'fixed', precision: d.width, scale: d.scale };
    }
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return { ...base, type: 'real' };
    case DuckDBTypeId.DATE:
      return { ...base, type: 'date' };
    case DuckDBTypeId.TIME:
    case DuckDBTypeId.TIME_NS:
      return { ...base, type: 'time', precision: 0, scale: 9 };
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
      return { ...base, type: 'timestamp_ntz', precision: 0, scale: 9 };
    case DuckDBTypeId.TIMESTAMP_TZ:
      return { ...base, type: 'timestamp_ltz', precision: 0, scale: 9 };
    case DuckDBTypeId.BLOB:
      return { ...base, type: 'binary', length: BINARY_LENGTH, byteLength: BINARY_LENGTH };
    case DuckDBTypeId.STRUCT:
      if (isTimestampTz(t)) return { ...base, type: 'timestamp_tz', precision: 0, scale: 9 };
      return { ...base, type: 'object' };
    case DuckDBTypeId.MAP:
      return { ...base, type: 'object' };
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY:
      return { ...base, type: 'array' };
    case DuckDBTypeId.UNION: {
      const tags = (t as DuckDBUnionType).memberTags;
      if (tags.length === 1 && tags[0] === 'sf_object') return { ...base, type: 'object' };
      if (tags.length === 1 && tags[0] === 'sf_array') return { ...base, type: 'array' };
      return { ...base, type: 'variant' };
    }
    case DuckDBTypeId.VARCHAR:
      if (t.alias === 'JSON') return { ...base, type: 'variant' };
      return { ...base, type: 'text', length: TEXT_LENGTH, byteLength: TEXT_LENGTH };
    default:
      return { ...base, type: 'text', length: TEXT_LENGTH, byteLength: TEXT_LENGTH };
  }
}

function isTimestampTz(t: DuckDBType): boolean {
  const s = t as DuckDBStructType;
  return s.entryNames.length === 2 && s.entryNames[0] === 'sf_tz_utc' && s.entryNames[1] === 'sf_tz_offset';
}

/** A DuckDB value as plain JSON (for OBJECT/ARRAY/VARIANT cells). */
function toJson(v: DuckDBValue): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v instanceof DuckDBListValue) return v.items.map(toJson);
  if (v instanceof DuckDBStructValue) return Object.fromEntries(Object.entries(v.entries).map(([k, x]) => [k, toJson(x)]));
  if (v instanceof DuckDBMapValue) return Object.fromEntries(v.entries.map((e) => [String(e.key), toJson(e.value)]));
  if (v instanceof DuckDBDecimalValue) return Number(scaled(v.value, v.scale));
  if (v instanceof DuckDBUnionValue) return toJson(v.value);
  if (v instanceof DuckDBBlobValue) return Buffer.from(v.bytes).toString('hex').toUpperCase();
  return String(v);
}

/** Snowflake pretty-prints semi-structured values with two-space indentation. */
function jsonText(s: string): string {
  try {
    return JSON.stringify(JSON.parse(s), null, 2);
  } catch {
    return s;
  }
}

function micros(v: DuckDBValue): bigint {
  if (v instanceof DuckDBTimestampValue || v instanceof DuckDBTimestampTZValue) return v.micros;
  if (v instanceof DuckDBTimestampMillisecondsValue) return v.millis * 1000n;
  if (v instanceof DuckDBTimestampSecondsValue) return v.seconds * 1_000_000n;
  throw new Error('not a timestamp');
}

function cell(col: ColumnType, t: DuckDBType, v: DuckDBValue): string | null {
  if (v === null) return null;
  switch (col.type) {
    case 'boolean':
      return v ? '1' : '0';
    case 'fixed':
      if (v instanceof DuckDBDecimalValue) return scaled(v.value, v.scale);
      return String(v);
    case 'real': {
      const n = Number(v);
      if (Number.isNaN(n)) return 'NaN';
      if (n === Number.POSITIVE_INFINITY) return 'inf';
      if (n === Number.NEGATIVE_INFINITY) return '-inf';
      return String(n);
    }
    case 'date':
      return String((v as DuckDBDateValue).days);
    case 'time': {
      const us = v instanceof DuckDBTimeValue ? v.micros : BigInt(String((v as { nanos?: bigint }).nanos ?? 0n)) / 1000n;
      return scaled(us * 1000n, 9);
    }
    case 'timestamp_ntz':
    case 'timestamp_ltz':
      if (v instanceof DuckDBTimestampNanosecondsValue) return scaled(v.nanos, 9);
      return scaled(micros(v) * 1000n, 9);
    case 'timestamp_tz': {
      const s = v as DuckDBStructValue;
      const utc = s.entries.sf_tz_utc;
      if (utc === null || utc === undefined) return null;
      const offset = Number(s.entries.sf_tz_offset ?? 0);
      return `${scaled(micros(utc) * 1000n, 9)} ${offset + 1440}`;
    }
    case 'binary':
      return Buffer.from((v as DuckDBBlobValue).bytes)
        .toString('hex')
        .toUpperCase();
    case 'object':
    case 'array':
    case 'variant':
      if (v instanceof DuckDBUnionValue) return typeof v.value === 'string' ? jsonText(v.value) : JSON.stringify(toJson(v.value), null, 2);
      if (typeof v === 'string') return t.alias === 'JSON' ? jsonText(v) : v;
      return JSON.stringify(toJson(v), null, 2);
    default:
      if (v instanceof DuckDBBlobValue) return Buffer.from(v.bytes).toString('hex').toUpperCase();
      return typeof v === 'string' ? v : String(v);
  }
}

/** Encodes a DuckDB result as Snowflake rowtype + JSON rowset cells. */
export function encode(names: string[], types: DuckDBType[], rows: DuckDBValue[][], nameOf: (raw: string) => string): EncodedResult {
  const columns = names.map((n, i) => columnType(nameOf(n), types[i]!));
  return { columns, rows: rows.map((r) => r.map((v, i) => cell(columns[i]!, types[i]!, v))) };
}

export { DuckDBDateValue };
