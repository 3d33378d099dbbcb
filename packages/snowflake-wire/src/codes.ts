// The codes drivers act on. Login and session codes: snowflake-sdk's constants/gs_errors.js and
// Snowflake's documented messages; SQL codes with their SQLSTATEs as Snowflake reports them.

/** Login and session codes (no SQLSTATE). */
export const LOGIN = {
  INCORRECT_USERNAME_PASSWORD: '390100',
  AUTH_HEADER_MISSING: '390101',
  SESSION_TOKEN_INVALID: '390104',
  SESSION_GONE: '390111',
  SESSION_TOKEN_EXPIRED: '390112',
  MASTER_TOKEN_EXPIRED: '390114',
  MASTER_TOKEN_INVALID: '390115',
  JWT_TOKEN_INVALID: '390144',
  ROLE_NOT_AUTHORIZED: '390189',
  OBJECT_NOT_AUTHORIZED: '390201',
  OAUTH_TOKEN_INVALID: '390303',
  OAUTH_TOKEN_EXPIRED: '390318',
  UNSUPPORTED_REQUEST: '390400',
} as const;

/** Statement error codes and their SQLSTATEs. */
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
  RESULT_TOO_LARGE: { code: '000630', sqlState: '54000' },
  /**
   * phigate's own: a statement refused by a limit of the caller's (its statement rate limit, a PHI
   * budget) that resets. Snowflake has no statement code for a per-user limit, and its generic
   * 000603 reads as an internal error; six digits, so every driver parses it (errno 999429 in
   * Python, getErrorCode() in JDBC, Number in Go), with the PostgreSQL door's SQLSTATE 53400.
   */
  LIMIT_REACHED: { code: '999429', sqlState: '53400' },
} as const;

/** Statement type ids (JDBC's SFStatementType; Node counts 0x3000–0x3FFF as DML). */
export const STATEMENT_TYPE = {
  SELECT: 0x1000,
  DML: 0x3000,
  INSERT: 0x3100,
  UPDATE: 0x3200,
  DELETE: 0x3300,
  MERGE: 0x3400,
  SCL: 0x4000,
  USE: 0x4300,
  SHOW: 0x4400,
  DESCRIBE: 0x4500,
  TCL: 0x5000,
  DDL: 0x6000,
} as const;

const BY_COMMAND: Record<string, number> = {
  SELECT: STATEMENT_TYPE.SELECT,
  INSERT: STATEMENT_TYPE.INSERT,
  UPDATE: STATEMENT_TYPE.UPDATE,
  DELETE: STATEMENT_TYPE.DELETE,
  MERGE: STATEMENT_TYPE.MERGE,
  USE: STATEMENT_TYPE.USE,
  SHOW: STATEMENT_TYPE.SHOW,
  DESCRIBE: STATEMENT_TYPE.DESCRIBE,
  SET: STATEMENT_TYPE.SCL,
  RESET: STATEMENT_TYPE.SCL,
  ALTER_SESSION: STATEMENT_TYPE.SCL,
  BEGIN: STATEMENT_TYPE.TCL,
  COMMIT: STATEMENT_TYPE.TCL,
  ROLLBACK: STATEMENT_TYPE.TCL,
  TRANSACTION: STATEMENT_TYPE.TCL,
};

/** The statement type id of a command (`SELECT`, `INSERT`, … in any case); anything else is DDL. */
export function statementTypeId(command: string): number {
  return BY_COMMAND[command.toUpperCase()] ?? STATEMENT_TYPE.DDL;
}
