// How gateway outcomes are reported in Snowflake's error envelope. The protocol vocabulary itself
// (envelopes, codes, parameters, login and result shapes) is @phigate/snowflake-wire, shared with
// the local warehouse. Checked against snowflake-sdk 3.3.0, snowflake-connector-python and
// snowflake-jdbc; see /work/shared/reference/snowflake-protocol.md and the README.
import { type AppError, toAppError } from '@phigate/errors';
import { type Envelope, SQL, sqlError } from '@phigate/snowflake-wire';

const ACCESS = { ...SQL.ACCESS_DENIED, prefix: 'SQL access control error:\n' };
const CANCELED = { ...SQL.CANCELED, prefix: 'SQL execution canceled: ' };

/** The Snowflake code and SQLSTATE each gateway outcome is reported as (policy denial: 003001 / 42501). */
const SQL_CODES: Record<string, { code: string; sqlState: string; prefix: string }> = {
  GATEWAY_POLICY_DENIED: ACCESS,
  GATEWAY_APPROVAL_DENIED: ACCESS,
  GATEWAY_CONNECTION_UNKNOWN: ACCESS,
  GATEWAY_UPSTREAM_PERMISSION: ACCESS,
  GATEWAY_APPROVAL_EXPIRED: CANCELED,
  GATEWAY_APPROVAL_CANCELLED: CANCELED,
  GATEWAY_SF_QUERY_CANCELED: CANCELED,
  GATEWAY_SQL_EMPTY: { code: '000900', sqlState: '42000', prefix: 'SQL compilation error:\n' },
  GATEWAY_SQL_TOO_LARGE: { ...SQL.SYNTAX, prefix: 'SQL compilation error:\n' },
  GATEWAY_SF_BIND_UNSUPPORTED: { ...SQL.BIND_MISMATCH, prefix: 'SQL compilation error:\n' },
  GATEWAY_SF_QUERY_NOT_FOUND: { code: SQL.OBJECT_MISSING.code, sqlState: '02000', prefix: '' },
  GATEWAY_SF_NOT_EXECUTING: { ...SQL.NOT_EXECUTING, prefix: '' },
  GATEWAY_RESULT_TOO_LARGE: { ...SQL.RESULT_TOO_LARGE, prefix: '' },
};

/**
 * A gateway error as Snowflake's error envelope. The message names the phigate code and the
 * request id (the same id as in the audit trail); a policy denial also names the rule and reason.
 * An upstream Snowflake error keeps its own code and SQLSTATE but never its message (it can quote data).
 */
export function errorEnvelope(err: unknown, queryId: string): Envelope {
  const e: AppError = toAppError(err);
  const d = e.details as Record<string, unknown>;
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
  const upstreamCode = typeof d.sfCode === 'string' && /^\d{6}$/.test(d.sfCode) ? d.sfCode : undefined;
  const upstreamState = typeof d.sqlstate === 'string' && /^[0-9A-Z]{5}$/.test(d.sqlstate) ? d.sqlstate : undefined;
  // A statement the database would reject: Snowflake's own codes for a syntax error and a missing object.
  if (e.code === 'GATEWAY_SQL_INVALID') {
    const missing = d.sqlstate === '42P01';
    const c = missing ? SQL.OBJECT_MISSING : SQL.SYNTAX;
    return sqlError(c.code, c.sqlState, `SQL compilation error:\n${e.message} ${ref}`, compilation);
  }
  const mapped = SQL_CODES[e.code];
  if (mapped) return sqlError(mapped.code, mapped.sqlState, `${mapped.prefix}${e.message} ${ref}`, compilation);
  if (e.code === 'GATEWAY_UPSTREAM_ERROR')
    return sqlError(
      upstreamCode ?? '002140',
      upstreamState ?? '42000',
      `SQL compilation error:\nthe warehouse rejected the statement${upstreamCode ? ` with error ${upstreamCode}` : ''}; phigate does not pass the warehouse's message on ${ref}`,
      compilation,
    );
  // Anything else (unavailable dependencies, rate limit, internal): an execution error with our code.
  return sqlError(SQL.INTERNAL.code, e.kind === 'UNAVAILABLE' ? '08006' : SQL.INTERNAL.sqlState, `SQL execution error:\n${e.message} ${ref}`, {
    ...compilation,
    type: 'EXECUTION',
    ...(e.retriable ? { retriable: true } : {}),
  });
}
