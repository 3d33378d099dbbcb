import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { AppError, CODES, type ErrorCode } from '@phigate/errors';
import { chunkRefusal, loginError, statementError } from './errors.js';

const SF_CODES = Object.keys(CODES).filter((c) => c.startsWith('GATEWAY_SF_')) as ErrorCode[];
const QID = '01b2c3d4-0000-4000-8000-000000000001';

/** The Snowflake code and SQLSTATE (or null) a registered code reaches a driver as, in a session's request. */
const reached = (code: ErrorCode, details: Record<string, unknown> = {}) => {
  const env = statementError(new AppError(code, { details }), QID);
  return [env.code, (env.data as { sqlState?: string } | null)?.sqlState ?? null];
};

test('each Snowflake-door code reaches the driver as the Snowflake code it acts on', () => {
  const expected: Partial<Record<ErrorCode, [string, string | null]>> = {
    GATEWAY_SF_AUTHENTICATOR_UNSUPPORTED: ['390100', null],
    GATEWAY_SF_ACCOUNT_UNKNOWN: ['390201', null],
    GATEWAY_SF_DATABASE_NOT_AUTHORIZED: ['390201', null],
    GATEWAY_SF_ROLE_NOT_AUTHORIZED: ['390189', null],
    GATEWAY_SF_SESSION_MISSING: ['390101', null],
    GATEWAY_SF_SESSION_INVALID: ['390104', null],
    GATEWAY_SF_SESSION_EXPIRED: ['390112', null],
    GATEWAY_SF_MASTER_EXPIRED: ['390114', null],
    GATEWAY_SF_REQUEST_INVALID: ['390400', null],
    GATEWAY_SF_BIND_UNSUPPORTED: ['002049', '07001'],
    GATEWAY_SF_QUERY_NOT_FOUND: ['002003', '02000'],
    GATEWAY_SF_QUERY_CANCELED: ['000604', '57014'],
    GATEWAY_SF_NOT_EXECUTING: ['000605', '01000'],
    // DESCRIBE of a table that is missing or that policy hides (metadata.ts): the same answer for both.
    GATEWAY_SF_OBJECT_NOT_VISIBLE: ['002003', '42S02'],
    // Dependencies down: an execution error a client may retry.
    GATEWAY_SF_SESSION_STORE_UNAVAILABLE: ['000603', '08006'],
    GATEWAY_SF_UPSTREAM_LOGIN_FAILED: ['000603', '08006'],
    // Session statements the door answers itself (session-control.ts).
    GATEWAY_SF_SESSION_PARAMETER_REFUSED: ['002040', '0A000'],
    GATEWAY_SF_USE_REFUSED: ['002043', '02000'],
    GATEWAY_SF_ROLE_CHANGE_REFUSED: ['003013', '42501'],
    GATEWAY_SF_TRANSACTION_ELSEWHERE: ['000603', '25000'],
    // A held statement inside a transaction (raised for every door's pinned session): an active transaction.
    GATEWAY_PG_APPROVAL_IN_TRANSACTION: ['002040', '25001'],
  };
  // Not a JSON answer at all: a chunk download is refused with a bare HTTP status.
  const httpOnly = new Set<ErrorCode>(['GATEWAY_SF_CHUNK_FORBIDDEN']);
  assert.deepEqual(
    SF_CODES.filter((c) => !expected[c] && !httpOnly.has(c)),
    [],
    'every GATEWAY_SF_* code has its expected Snowflake answer here',
  );
  for (const [code, want] of Object.entries(expected)) assert.deepEqual(reached(code as ErrorCode), want, code);
  assert.deepEqual(reached('GATEWAY_SF_AUTHENTICATOR_UNSUPPORTED', { authenticator: 'SNOWFLAKE_JWT' }), ['390144', null], 'key-pair: the JWT failure');
  assert.deepEqual(chunkRefusal(new AppError('GATEWAY_SF_CHUNK_FORBIDDEN')), { status: 403, body: 'Forbidden' });
  assert.deepEqual(chunkRefusal(new AppError('GATEWAY_SF_QUERY_NOT_FOUND')), { status: 404, body: 'Not Found' });
});

test('session refusals have the shape each driver acts on: log in again, or renew and retry', () => {
  const invalid = statementError(new AppError('GATEWAY_SF_SESSION_INVALID'), QID);
  assert.deepEqual(invalid.data, { nextAction: 'RETRY_LOGIN' });
  assert.equal(invalid.message, 'User must login again to access the service. [phigate GATEWAY_SF_SESSION_INVALID]');
  // 390112 with no data: drivers renew the session token with the master token and retry.
  const expired = statementError(new AppError('GATEWAY_SF_SESSION_EXPIRED'), QID);
  assert.deepEqual([expired.success, expired.data], [false, null]);
  const role = loginError(
    new AppError('GATEWAY_SF_ROLE_NOT_AUTHORIZED', { message: "Role 'X' specified in the connect string does not exist or not authorized." }),
    'OAUTH',
  );
  assert.equal(role.message, "Role 'X' specified in the connect string does not exist or not authorized. [phigate GATEWAY_SF_ROLE_NOT_AUTHORIZED]");
  assert.deepEqual(role.data, { nextAction: 'RETRY_LOGIN', authnMethod: 'OAUTH' });
});

test('login refusals: OAuth token failures as Snowflake words them, anything else as a refused login naming our code', () => {
  const invalid = loginError(new AppError('AUTH_TOKEN_INVALID', { details: { reason: 'signature' } }), 'OAUTH');
  assert.deepEqual([invalid.code, invalid.message], ['390303', 'Invalid OAuth access token (signature). [phigate AUTH_TOKEN_INVALID]']);
  const expired = loginError(new AppError('AUTH_TOKEN_EXPIRED'));
  assert.deepEqual([expired.code, expired.message], ['390318', 'OAuth access token expired. [phigate AUTH_TOKEN_EXPIRED]']);
  const audit = loginError(new AppError('GATEWAY_AUDIT_UNAVAILABLE', { message: 'The login could not be recorded in the audit log, so it was refused.' }));
  assert.deepEqual(
    [audit.code, audit.message],
    ['390100', 'The login could not be recorded in the audit log, so it was refused. [phigate GATEWAY_AUDIT_UNAVAILABLE]'],
  );
  assert.equal(loginError(new Error('boom with a secret')).message, 'internal error [phigate COMMON_INTERNAL]', 'an unknown error never leaks its text');
});

test('statement errors keep their codes, SQLSTATEs and references', () => {
  const denied = statementError(new AppError('GATEWAY_POLICY_DENIED', { details: { ruleId: 'block-ddl', reason: 'no DDL' } }), QID);
  assert.deepEqual([denied.code, (denied.data as { sqlState: string }).sqlState], ['003001', '42501']);
  assert.equal(denied.message, `SQL access control error:\nDenied by phigate policy rule 'block-ddl': no DDL (phigate GATEWAY_POLICY_DENIED, request ${QID})`);
  const missing = statementError(new AppError('GATEWAY_SQL_INVALID', { details: { sqlstate: '42P01' } }), QID);
  assert.deepEqual([missing.code, (missing.data as { sqlState: string }).sqlState], ['002003', '42S02']);
  const upstream = statementError(new AppError('GATEWAY_UPSTREAM_ERROR', { details: { sfCode: '100051', sqlstate: '22012' } }), QID);
  assert.deepEqual([upstream.code, (upstream.data as { sqlState: string }).sqlState], ['100051', '22012']);
  assert.match(upstream.message ?? '', /does not pass the warehouse's message on/);
});

test('a rate limit (or a PHI budget) is its own code with SQLSTATE 53400, naming the limit and when it resets, never the internal 000603', () => {
  const message =
    'rate limit reached: 3 statements per minute for this identity, set by the binding of groups ai-agents; it resets at 2026-12-07T23:00:00.000Z (in 42 s)';
  const details = { retryAfterSec: 42, resetsAt: '2026-12-07T23:00:00.000Z', perMinute: 3, limit: 'binding' };
  const limited = statementError(new AppError('GATEWAY_RATE_LIMITED', { message, details }), QID);
  assert.equal(limited.code, '999429');
  assert.equal(limited.message, `SQL execution error:\n${message} (phigate GATEWAY_RATE_LIMITED, request ${QID})`);
  assert.deepEqual(limited.data, {
    errorCode: '999429',
    sqlState: '53400',
    internalError: false,
    age: 0,
    line: -1,
    pos: -1,
    queryId: QID,
    phigateCode: 'GATEWAY_RATE_LIMITED',
    type: 'EXECUTION',
    retriable: true,
    ...details,
  });
  const budget = statementError(
    new AppError('GATEWAY_BUDGET_EXCEEDED', { details: { budget: 'b', metric: 'patients', limit: 500, used: 500, windowSec: 600 } }),
    QID,
  );
  assert.deepEqual([budget.code, (budget.data as { sqlState: string }).sqlState], ['999429', '53400']);
});

test('every GATEWAY_SF_* code is raised by the door or its upstream, and each is raised for one meaning', () => {
  const dir = new URL('../../../../src/adapters/snowflake/', import.meta.url);
  const sources = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'errors.ts')
    .map((f) => readFileSync(new URL(f, dir), 'utf8'))
    .join('\n');
  const raised = new Set([...sources.matchAll(/new AppError\('(GATEWAY_SF_[A-Z_]+)'/g)].map((m) => m[1]));
  assert.deepEqual(
    SF_CODES.filter((c) => !raised.has(c)),
    [],
    'registered but never raised: raise it or retire it',
  );
  const messages = SF_CODES.map((c) => CODES[c].message);
  assert.equal(new Set(messages).size, messages.length, 'two codes registered with the same meaning');
});
