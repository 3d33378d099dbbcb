import { gzipSync } from 'node:zlib';
import { STATEMENT_TYPE } from './codes.js';
import { formatParameters } from './parameters.js';
import type { SessionInfo } from './session.js';

/** Snowflake's column types in a JSON result's `rowtype`. */
export type SnowflakeType =
  | 'fixed'
  | 'real'
  | 'text'
  | 'boolean'
  | 'date'
  | 'time'
  | 'timestamp_ntz'
  | 'timestamp_ltz'
  | 'timestamp_tz'
  | 'variant'
  | 'object'
  | 'array'
  | 'binary';

/** A result column without the per-response origin fields. */
export interface ColumnType {
  name: string;
  type: SnowflakeType;
  precision: number | null;
  scale: number | null;
  length: number | null;
  byteLength: number | null;
  nullable: boolean;
}

/** One `rowtype` entry, with every key the drivers read (empty or null where it does not apply). */
export interface RowType extends ColumnType {
  database: string;
  schema: string;
  table: string;
  collation: null;
}

/** Snowflake's length of an unbounded VARCHAR. */
export const TEXT_LENGTH = 16_777_216;
/** Snowflake's length of an unbounded BINARY. */
export const BINARY_LENGTH = 8_388_608;

/** A rowtype entry for a column (origin fields empty: neither server reports them). */
export function rowType(c: ColumnType): RowType {
  return { ...c, database: '', schema: '', table: '', collation: null };
}

/** A VARCHAR column. */
export function textColumn(name: string, nullable = true): ColumnType {
  return { name, type: 'text', precision: null, scale: null, length: TEXT_LENGTH, byteLength: TEXT_LENGTH, nullable };
}

/** The counters a DML statement answers with, by command (Node and Python sum them into the update count). */
export const DML_COUNTERS: Readonly<Record<string, readonly string[]>> = {
  INSERT: ['number of rows inserted'],
  UPDATE: ['number of rows updated', 'number of multi-joined rows updated'],
  DELETE: ['number of rows deleted'],
  MERGE: ['number of rows inserted', 'number of rows updated', 'number of rows deleted'],
};

/**
 * A DML statement's counter columns and its one row (undefined for other commands). A MERGE's
 * split between inserted, updated and deleted rows is reported as updates.
 */
export function dmlCounters(command: string, affected: bigint | number): { columns: ColumnType[]; row: string[] } | undefined {
  const names = DML_COUNTERS[command.toUpperCase()];
  if (!names) return undefined;
  const merge = command.toUpperCase() === 'MERGE';
  return {
    columns: names.map((name) => ({ name, type: 'fixed', precision: 19, scale: 0, length: null, byteLength: null, nullable: false })),
    row: names.map((n, i) => ((merge ? n === 'number of rows updated' : i === 0) ? String(affected) : '0')),
  };
}

/** What a finished statement's result `data` is built from. */
export interface ResultParts {
  queryId: string;
  columns: readonly ColumnType[];
  /** The rows sent inline (the first chunk when the result is chunked). */
  rowset: unknown[][];
  /** Rows in the whole result (inline and chunks). */
  total: number;
  statementTypeId: number;
  session: SessionInfo;
  timezone?: string;
  numberOfBinds?: number;
  arrayBindSupported: boolean;
  sendResultTime?: number;
}

/** A finished statement's `data`: rowtype, inline rowset, counts and the session it ran in. */
export function resultData(r: ResultParts): Record<string, unknown> {
  return {
    queryId: r.queryId,
    queryResultFormat: 'json',
    rowtype: r.columns.map(rowType),
    rowset: r.rowset,
    total: r.total,
    returned: r.total,
    statementTypeId: r.statementTypeId,
    version: 1,
    parameters: formatParameters(r.timezone),
    finalDatabaseName: r.session.databaseName,
    finalSchemaName: r.session.schemaName,
    finalWarehouseName: r.session.warehouseName,
    finalRoleName: r.session.roleName,
    numberOfBinds: r.numberOfBinds ?? 0,
    arrayBindSupported: r.arrayBindSupported,
    queryContext: null,
    ...(r.sendResultTime !== undefined ? { sendResultTime: r.sendResultTime } : {}),
  };
}

/** Whether a result of `total` rows is chunked (only SELECT results are). */
export function isChunked(statementTypeId: number, total: number, chunkRows: number): boolean {
  return statementTypeId === STATEMENT_TYPE.SELECT && total > chunkRows;
}

/** The chunks after the inline first part: index, first row and row count of each. */
export function chunkSlices(total: number, chunkRows: number): Array<{ index: number; start: number; rowCount: number }> {
  const out = [];
  for (let start = chunkRows, index = 0; start < total; start += chunkRows, index++) out.push({ index, start, rowCount: Math.min(chunkRows, total - start) });
  return out;
}

/** One chunk's body: its rows without the enclosing brackets (drivers add them), gzip'd. */
export function chunkBody(rows: readonly unknown[][]): { body: Buffer; uncompressedSize: number; compressedSize: number } {
  const plain = Buffer.from(rows.map((r) => JSON.stringify(r)).join(','));
  const body = gzipSync(plain);
  return { body, uncompressedSize: plain.length, compressedSize: body.length };
}
