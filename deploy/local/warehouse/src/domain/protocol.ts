/**
 * Snowflake REST protocol vocabulary: response envelopes, the error codes real Snowflake sends
 * (as numeric strings, which every driver parses), statement type ids and the session
 * parameters each query response carries. See ../../README.md for what each driver needs.
 */

/** An error as Snowflake reports it: code (6-digit string), SQLSTATE and message. */
export class SnowflakeError extends Error {
  constructor(
    readonly code: string,
    readonly sqlState: string | undefined,
    message: string,
    readonly data: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Login and session codes (Node's constants/gs_errors.js, Snowflake's documented messages). */
export const LOGIN = {
  INCORRECT_USERNAME_PASSWORD: '390100',
  SESSION_TOKEN_INVALID: '390104',
  GONE_SESSION: '390111',
  SESSION_TOKEN_EXPIRED: '390112',
  MASTER_TOKEN_EXPIRED: '390114',
  MASTER_TOKEN_INVALID: '390115',
  AUTH_HEADER_MISSING: '390101',
  JWT_TOKEN_INVALID: '390144',
  ROLE_NOT_AUTHORIZED: '390189',
  OBJECT_NOT_AUTHORIZED: '390201',
  OAUTH_TOKEN_INVALID: '390303',
  OAUTH_TOKEN_EXPIRED: '390318',
} as const;

/** SQL error codes and their SQLSTATEs. */
export const SQL = {
  SYNTAX: { code: '001003', sqlState: '42000' },
  OBJECT_MISSING: { code: '002003', sqlState: '42S02' },
  INVALID_IDENTIFIER: { code: '000904', sqlState: '42000' },
  ACCESS_DENIED: { code: '003001', sqlState: '42501' },
  ROLE_NOT_ASSIGNED: { code: '003013', sqlState: '42501' },
  CANCELED: { code: '000604', sqlState: '57014' },
  NOT_EXECUTING: { code: '000605', sqlState: '01000' },
  STATEMENT_COUNT: { code: '000008', sqlState: '0A000' },
  NUMERIC_VALUE: { code: '100038', sqlState: '22018' },
  CONSTRAINT: { code: '100072', sqlState: '22000' },
  UNSUPPORTED: { code: '002040', sqlState: '0A000' },
  INTERNAL: { code: '000603', sqlState: 'XX000' },
  BIND_MISMATCH: { code: '002049', sqlState: '07001' },
} as const;

export const IN_PROGRESS = '333333';
export const IN_PROGRESS_ASYNC = '333334';

/** Statement type ids (JDBC's SFStatementType; Node counts 0x3000–0x3FFF as DML). */
export const STATEMENT_TYPE = {
  SELECT: 0x1000,
  INSERT: 0x3100,
  UPDATE: 0x3200,
  DELETE: 0x3300,
  MERGE: 0x3400,
  DML: 0x3000,
  SCL: 0x4000,
  USE: 0x4300,
  SHOW: 0x4400,
  DESCRIBE: 0x4500,
  TCL: 0x5000,
  DDL: 0x6000,
} as const;

export interface Envelope {
  success: boolean;
  code: string | null;
  message: string | null;
  data: unknown;
  headers?: null;
}

export function ok(data: unknown): Envelope {
  return { success: true, code: null, message: null, data };
}

export function fail(err: SnowflakeError, extra: Record<string, unknown> = {}): Envelope {
  return {
    success: false,
    code: err.code,
    message: err.message,
    data: {
      ...(err.sqlState !== undefined ? { errorCode: err.code, sqlState: err.sqlState, internalError: false, age: 0, line: -1, pos: -1 } : {}),
      ...err.data,
      ...extra,
    },
    headers: null,
  };
}

/** Session parameters every query response carries (Node builds its converters only from these). */
export function formatParameters(timezone: string): Array<{ name: string; value: unknown }> {
  return [
    { name: 'TIMEZONE', value: timezone },
    { name: 'DATE_OUTPUT_FORMAT', value: 'YYYY-MM-DD' },
    { name: 'TIME_OUTPUT_FORMAT', value: 'HH24:MI:SS' },
    { name: 'TIMESTAMP_OUTPUT_FORMAT', value: 'YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM' },
    { name: 'TIMESTAMP_NTZ_OUTPUT_FORMAT', value: 'YYYY-MM-DD HH24:MI:SS.FF3' },
    { name: 'TIMESTAMP_LTZ_OUTPUT_FORMAT', value: '' },
    { name: 'TIMESTAMP_TZ_OUTPUT_FORMAT', value: '' },
    { name: 'BINARY_OUTPUT_FORMAT', value: 'HEX' },
    { name: 'CLIENT_RESULT_CHUNK_SIZE', value: 16 },
  ];
}

/**
 * Login parameters. The *_QUERY_RESULT_FORMAT entries are how Snowflake tells the Python, JDBC and
 * Go drivers that results come as JSON (they would otherwise expect Arrow); the array-binding
 * threshold 0 stops Python and JDBC from uploading large binds to a stage.
 */
export function loginParameters(timezone: string): Array<{ name: string; value: unknown }> {
  return [
    { name: 'AUTOCOMMIT', value: true },
    { name: 'CLIENT_SESSION_KEEP_ALIVE', value: false },
    { name: 'CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY', value: 3600 },
    { name: 'CLIENT_STAGE_ARRAY_BINDING_THRESHOLD', value: 0 },
    { name: 'CLIENT_PREFETCH_THREADS', value: 4 },
    { name: 'QUERY_CONTEXT_CACHE_SIZE', value: 5 },
    { name: 'JDBC_QUERY_RESULT_FORMAT', value: 'JSON' },
    { name: 'PYTHON_CONNECTOR_QUERY_RESULT_FORMAT', value: 'JSON' },
    { name: 'GO_QUERY_RESULT_FORMAT', value: 'JSON' },
    { name: 'ODBC_QUERY_RESULT_FORMAT', value: 'JSON' },
    { name: 'CLIENT_TELEMETRY_ENABLED', value: false },
    { name: 'CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED', value: false },
    ...formatParameters(timezone),
  ];
}
