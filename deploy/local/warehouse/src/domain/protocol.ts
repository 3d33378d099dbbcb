/**
 * The warehouse's errors in Snowflake's terms. The protocol vocabulary itself (envelopes, codes,
 * parameters, login and result shapes) is @phigate/snowflake-wire, shared with the gateway's
 * Snowflake door. See ../../README.md for what each driver needs.
 */
import { type Envelope, loginRefusal, sqlError } from '@phigate/snowflake-wire';

/** An error as Snowflake reports it: code (6-digit string), SQLSTATE (statements only) and message. */
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

/** The envelope of an error: a statement error with its SQLSTATE, else a login or session refusal. */
export function fail(err: SnowflakeError, extra: Record<string, unknown> = {}): Envelope {
  if (err.sqlState !== undefined) return sqlError(err.code, err.sqlState, err.message, { ...err.data, ...extra });
  return loginRefusal(err.code, err.message, { ...err.data, ...extra });
}
