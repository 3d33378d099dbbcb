// The Snowflake door's one mapping from our errors to what a driver reads: every refusal the door
// and the query lifecycle raise is a registered AppError, turned here (and only here) into the
// Snowflake error envelope, a 390xxx login/session code or a SQL code with its SQLSTATE, that makes
// each driver act as it does against Snowflake (log in again, renew the session token, raise its SQL
// error). The protocol vocabulary is @phigate/snowflake-wire; codes checked against snowflake-sdk
// 3.3.0, snowflake-connector-python, snowflake-jdbc and gosnowflake (see
// /work/shared/reference/snowflake-protocol.md).
import { type AppError, type ErrorCode, toAppError } from '@phigate/errors';
import { type Envelope, LOGIN, loginRefusal, SQL, sessionExpired, sqlError } from '@phigate/snowflake-wire';
import { upstreamText } from '../../domain/scrub-error.js';

/**
 * How a refusal of a login or of a session's request reads. `login`: drivers log in again
 * (`nextAction`); `renew`: an expired session token, which drivers renew with the master token and
 * retry, so no data; `plain`: a request the door does not serve.
 */
interface SessionRefusal {
  code: string | ((e: AppError) => string);
  shape: 'login' | 'renew' | 'plain';
  /** The message before `[phigate <code>]`; the error's own message when absent. */
  say?: (e: AppError) => string;
}

const ONLY_OAUTH = 'phigate accepts AUTHENTICATOR=OAUTH with an access token from your identity provider (token=<access token>).';
const invalidToken = (e: AppError) => `Invalid OAuth access token${typeof e.details.reason === 'string' ? ` (${e.details.reason})` : ''}.`;
const OAUTH_INVALID: SessionRefusal = { code: LOGIN.OAUTH_TOKEN_INVALID, shape: 'login', say: invalidToken };

/** Login and session refusals, wherever they happen (login-request, or a statement's session check). */
const SESSION_CODES: Partial<Record<ErrorCode, SessionRefusal>> = {
  AUTH_TOKEN_MISSING: OAUTH_INVALID,
  AUTH_TOKEN_INVALID: OAUTH_INVALID,
  AUTH_TOKEN_EXPIRED: { code: LOGIN.OAUTH_TOKEN_EXPIRED, shape: 'login', say: () => 'OAuth access token expired.' },
  AUTH_ISSUER_UNAVAILABLE: {
    code: LOGIN.OAUTH_TOKEN_INVALID,
    shape: 'login',
    say: () => 'Invalid OAuth access token: the identity provider cannot be reached to verify it; try again.',
  },
  // A key-pair login reads as the driver's own JWT failure, any other as a password failure.
  GATEWAY_SF_AUTHENTICATOR_UNSUPPORTED: {
    code: (e) => (e.details.authenticator === 'SNOWFLAKE_JWT' ? LOGIN.JWT_TOKEN_INVALID : LOGIN.INCORRECT_USERNAME_PASSWORD),
    shape: 'login',
    say: (e) => `${e.details.authenticator === 'SNOWFLAKE_JWT' ? 'JWT token is invalid.' : 'Incorrect username or password was specified.'} ${ONLY_OAUTH}`,
  },
  GATEWAY_SF_ACCOUNT_UNKNOWN: { code: LOGIN.OBJECT_NOT_AUTHORIZED, shape: 'login' },
  GATEWAY_SF_DATABASE_NOT_AUTHORIZED: { code: LOGIN.OBJECT_NOT_AUTHORIZED, shape: 'login' },
  GATEWAY_SF_ROLE_NOT_AUTHORIZED: { code: LOGIN.ROLE_NOT_AUTHORIZED, shape: 'login' },
  GATEWAY_SF_SESSION_MISSING: { code: LOGIN.AUTH_HEADER_MISSING, shape: 'login', say: () => 'Authorization header not found in the request data.' },
  GATEWAY_SF_SESSION_INVALID: { code: LOGIN.SESSION_TOKEN_INVALID, shape: 'login', say: () => 'User must login again to access the service.' },
  GATEWAY_SF_SESSION_EXPIRED: { code: LOGIN.SESSION_TOKEN_EXPIRED, shape: 'renew', say: () => 'Session token has expired.' },
  GATEWAY_SF_MASTER_EXPIRED: {
    code: LOGIN.MASTER_TOKEN_EXPIRED,
    shape: 'login',
    say: () => 'Authentication token has expired.  The user must authenticate again.',
  },
  GATEWAY_SF_REQUEST_INVALID: { code: LOGIN.UNSUPPORTED_REQUEST, shape: 'plain' },
};

const ACCESS = { ...SQL.ACCESS_DENIED, prefix: 'SQL access control error:\n' };
const CANCELED = { ...SQL.CANCELED, prefix: 'SQL execution canceled: ' };

/** The Snowflake code and SQLSTATE each statement outcome is reported as (policy denial: 003001 / 42501). */
const SQL_CODES: Partial<Record<ErrorCode, { code: string; sqlState: string; prefix: string }>> = {
  GATEWAY_POLICY_DENIED: ACCESS,
  GATEWAY_APPROVAL_DENIED: ACCESS,
  GATEWAY_CONNECTION_UNKNOWN: ACCESS,
  GATEWAY_PURPOSE_REQUIRED: ACCESS,
  GATEWAY_PURPOSE_NOT_ALLOWED: ACCESS,
  GATEWAY_UPSTREAM_PERMISSION: ACCESS,
  GATEWAY_APPROVAL_EXPIRED: CANCELED,
  GATEWAY_APPROVAL_CANCELLED: CANCELED,
  GATEWAY_SF_QUERY_CANCELED: CANCELED,
  GATEWAY_SQL_EMPTY: { code: '000900', sqlState: '42000', prefix: 'SQL compilation error:\n' },
  GATEWAY_SQL_TOO_LARGE: { ...SQL.SYNTAX, prefix: 'SQL compilation error:\n' },
  GATEWAY_SF_BIND_UNSUPPORTED: { ...SQL.BIND_MISMATCH, prefix: 'SQL compilation error:\n' },
  GATEWAY_SF_QUERY_NOT_FOUND: { code: SQL.OBJECT_MISSING.code, sqlState: '02000', prefix: '' },
  GATEWAY_SF_OBJECT_NOT_VISIBLE: { ...SQL.OBJECT_MISSING, prefix: 'SQL compilation error:\n' },
  GATEWAY_SF_NOT_EXECUTING: { ...SQL.NOT_EXECUTING, prefix: '' },
  GATEWAY_RESULT_TOO_LARGE: { ...SQL.RESULT_TOO_LARGE, prefix: '' },
  // Session statements the door answers itself (session-control.ts).
  GATEWAY_SF_SESSION_PARAMETER_REFUSED: { ...SQL.UNSUPPORTED, prefix: 'SQL compilation error:\n' },
  GATEWAY_SF_ROLE_CHANGE_REFUSED: { ...SQL.ROLE_NOT_ASSIGNED, prefix: 'SQL access control error:\n' },
  GATEWAY_SF_USE_REFUSED: { code: '002043', sqlState: '02000', prefix: 'SQL compilation error:\n' },
  GATEWAY_SF_TRANSACTION_ELSEWHERE: { code: SQL.INTERNAL.code, sqlState: '25000', prefix: 'SQL execution error:\n' },
  // Raised for any door's pinned session (the name is the PostgreSQL door's, where it came first): 25001, active transaction.
  GATEWAY_PG_APPROVAL_IN_TRANSACTION: { code: SQL.UNSUPPORTED.code, sqlState: '25001', prefix: 'SQL execution error:\n' },
};

/** The session refusal for `e`, if its code is one; `data` goes with a login refusal. */
function sessionRefusal(e: AppError, data: Record<string, unknown> = {}): Envelope | undefined {
  const m = SESSION_CODES[e.code];
  if (!m) return undefined;
  const code = typeof m.code === 'string' ? m.code : m.code(e);
  const message = `${m.say ? m.say(e) : e.message} [phigate ${e.code}]`;
  if (m.shape === 'renew') return sessionExpired(code, message);
  if (m.shape === 'plain') return { success: false, code, message, data: null, headers: null };
  return loginRefusal(code, message, data);
}

/**
 * A refused login or session request (login-request, token-request, heartbeat, logout). Anything
 * without a login code of its own (the audit log or the session store unavailable) refuses the login
 * as a failed authentication naming our code: the driver has no other answer to a login.
 * `authenticator`: the one a login-request named (Snowflake reports it back as `authnMethod`).
 */
export function loginError(err: unknown, authenticator?: string): Envelope {
  const e = toAppError(err);
  const data = authenticator === undefined ? {} : { authnMethod: authenticator.slice(0, 40) };
  return sessionRefusal(e, data) ?? loginRefusal(LOGIN.INCORRECT_USERNAME_PASSWORD, `${e.message} [phigate ${e.code}]`, data);
}

/**
 * A statement's error, or a refused request within a session (query-request, result, monitoring,
 * abort), as the driver raises it (ProgrammingError / SnowflakeSQLException / OperationFailedError).
 * The message names our code and the request id (the audit trail's); a policy denial also names the
 * rule and the reason. An upstream error reads as the upstream's own message scrubbed of values
 * (domain/scrub-error.ts; its DETAIL on the next line) with the upstream's code and SQLSTATE; the
 * upstream's original text never reaches the driver.
 */
export function statementError(err: unknown, queryId: string): Envelope {
  const e = toAppError(err);
  const refused = sessionRefusal(e);
  if (refused) return refused;
  const d = e.details;
  const ref = `(phigate ${e.code}, request ${queryId})`;
  const compilation = { queryId, phigateCode: e.code, type: 'COMPILATION' };
  if (e.code === 'GATEWAY_POLICY_DENIED') {
    const rule = typeof d.ruleId === 'string' && d.ruleId ? d.ruleId : 'default-deny';
    const reason = typeof d.reason === 'string' && d.reason ? d.reason : 'no rule allows this statement';
    return sqlError(ACCESS.code, ACCESS.sqlState, `${ACCESS.prefix}Denied by phigate policy rule '${rule}': ${reason} ${ref}`, {
      ...compilation,
      ruleId: rule,
      ruleIds: d.ruleIds ?? [],
      reason,
      policyRevision: d.policyRevision ?? '',
    });
  }
  // A statement the database would reject: Snowflake's own codes for a syntax error and a missing object.
  if (e.code === 'GATEWAY_SQL_INVALID') {
    const c = d.sqlstate === '42P01' ? SQL.OBJECT_MISSING : SQL.SYNTAX;
    return sqlError(c.code, c.sqlState, `SQL compilation error:\n${e.message} ${ref}`, compilation);
  }
  // A limit of the caller's that resets (the statement rate limit, a PHI budget): its own code, not
  // an internal error, with the limit and when it resets in the message and the error data.
  if (e.code === 'GATEWAY_RATE_LIMITED' || e.code === 'GATEWAY_BUDGET_EXCEEDED') {
    const limit = Object.fromEntries(
      ['limit', 'perMinute', 'resetsAt', 'retryAfterSec', 'budget', 'metric', 'used', 'windowSec'].filter((k) => d[k] !== undefined).map((k) => [k, d[k]]),
    );
    return sqlError(SQL.LIMIT_REACHED.code, SQL.LIMIT_REACHED.sqlState, `SQL execution error:\n${e.message} ${ref}`, {
      ...compilation,
      type: 'EXECUTION',
      retriable: true,
      ...limit,
    });
  }
  const mapped = SQL_CODES[e.code];
  if (mapped) return sqlError(mapped.code, mapped.sqlState, `${mapped.prefix}${e.message} ${ref}`, compilation);
  if (e.code === 'GATEWAY_UPSTREAM_ERROR') return upstreamError(e, ref, compilation);
  // Anything else (unavailable dependencies, internal): an execution error with our code.
  return sqlError(SQL.INTERNAL.code, e.kind === 'UNAVAILABLE' ? '08006' : SQL.INTERNAL.sqlState, `SQL execution error:\n${e.message} ${ref}`, {
    ...compilation,
    type: 'EXECUTION',
    ...(e.retriable ? { retriable: true } : {}),
  });
}

/** An upstream Snowflake (or warehouse) error: its code and SQLSTATE, its message only as scrubbed. */
function upstreamError(e: AppError, ref: string, data: Record<string, unknown>): Envelope {
  const d = e.details;
  const code = typeof d.sfCode === 'string' && /^\d{6}$/.test(d.sfCode) ? d.sfCode : undefined;
  const sqlState = typeof d.sqlstate === 'string' && /^[0-9A-Z]{5}$/.test(d.sqlstate) ? d.sqlstate : '42000';
  const upstream = upstreamText(e);
  const text = upstream
    ? `${upstream.detail ? `${upstream.message}\n${upstream.detail}` : upstream.message} ${ref}`
    : `SQL compilation error:\nthe warehouse rejected the statement${code ? ` with error ${code}` : ''}; phigate does not pass the warehouse's message on ${ref}`;
  return sqlError(code ?? '002140', sqlState, text, data);
}

/**
 * A refused chunk download. Drivers fetch chunks as presigned cloud-storage URLs, without the session
 * token, so the answer is a bare HTTP status (403 forbidden, 404 gone), as a cloud store gives it.
 */
export function chunkRefusal(err: unknown): { status: number; body: string } {
  const e = toAppError(err);
  return { status: e.httpStatus, body: e.kind === 'NOT_FOUND' ? 'Not Found' : e.kind === 'PERMISSION_DENIED' ? 'Forbidden' : 'Error' };
}
