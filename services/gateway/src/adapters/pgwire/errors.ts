// The PostgreSQL wire door's one mapping from our errors to ErrorResponse fields: a registered code's
// own SQLSTATE where PostgreSQL has one for that situation, else the kind's (packages/errors/kinds.ts).
import { type AppError, type ErrorCode, SQLSTATE } from '@phigate/errors';
import { upstreamText } from '../../domain/scrub-error.js';
import type { Notice } from './codec.js';

const BY_CODE: Partial<Record<ErrorCode, string>> = {
  GATEWAY_POLICY_DENIED: '42501',
  GATEWAY_PURPOSE_REQUIRED: '42501',
  GATEWAY_PURPOSE_NOT_ALLOWED: '42501',
  GATEWAY_APPROVAL_DENIED: '42501',
  GATEWAY_APPROVAL_EXPIRED: '42501',
  AUTH_TOKEN_MISSING: '28P01',
  AUTH_TOKEN_INVALID: '28P01',
  AUTH_TOKEN_EXPIRED: '28P01',
  GATEWAY_PG_AUTH_FAILED: '28P01',
  GATEWAY_PG_TLS_REQUIRED: '28000',
  GATEWAY_PG_PROTOCOL_VIOLATION: '08P01',
  GATEWAY_PG_TOO_MANY_CONNECTIONS: '53300',
  GATEWAY_PG_UNSUPPORTED: '0A000',
  GATEWAY_PG_NAME_UNKNOWN: '26000',
  GATEWAY_PG_NAME_IN_USE: '42P05',
  GATEWAY_PG_TRANSACTION_ABORTED: '25P02',
  GATEWAY_PG_TRANSACTION_BLOCK: '25001',
  GATEWAY_PG_CURSOR_UNKNOWN: '34000',
  GATEWAY_PG_NO_TRANSACTION: '25P01',
  GATEWAY_PG_APPROVAL_IN_TRANSACTION: '25001',
  GATEWAY_PG_RESULT_CHANGED: '0A000',
  GATEWAY_PG_QUERY_CANCELED: '57014',
  GATEWAY_SQL_EMPTY: '42601',
  GATEWAY_SQL_TOO_LARGE: '54000',
  // PostgreSQL's "invalid byte sequence for encoding" / "character not in repertoire".
  GATEWAY_SQL_INVALID_TEXT: '22021',
};

/** The SQLSTATE for an error; an upstream error keeps the upstream's own SQLSTATE. */
export function sqlstateOf(e: AppError): string {
  const upstream = e.details.sqlstate;
  if (
    (e.code === 'GATEWAY_UPSTREAM_ERROR' || e.code === 'GATEWAY_UPSTREAM_UNAVAILABLE' || e.code === 'GATEWAY_SQL_INVALID') &&
    typeof upstream === 'string' &&
    /^[0-9A-Z]{5}$/.test(upstream)
  )
    return upstream;
  return BY_CODE[e.code] ?? SQLSTATE[e.kind];
}

/**
 * ErrorResponse fields: SQLSTATE, our message, and a detail line naming the request (and, for a
 * denial, the rule and the reason) so a user can quote it to whoever reads the audit trail. An
 * upstream error reads as the upstream's own, scrubbed of values (domain/scrub-error.ts): its
 * message, its DETAIL before ours, its HINT before ours. Never the upstream's original text.
 */
export function errorNotice(e: AppError, requestId: string, severity: 'ERROR' | 'FATAL' = 'ERROR'): Notice {
  const d = e.details;
  const parts: string[] = [];
  if (typeof d.ruleId === 'string' && d.ruleId) parts.push(`rule: ${d.ruleId}`);
  if (typeof d.reason === 'string' && d.reason) parts.push(`reason: ${d.reason}`);
  if (typeof d.approvalId === 'string' && d.approvalId) parts.push(`approval id: ${d.approvalId}`);
  if (typeof d.policyRevision === 'string' && d.policyRevision) parts.push(`policy revision: ${d.policyRevision}`);
  parts.push(`request id: ${typeof d.requestId === 'string' && d.requestId ? d.requestId : requestId}`);
  const upstream = upstreamText(e);
  const ours = { detail: parts.join('; '), hint: `phigate error code ${e.code}` };
  return {
    severity,
    code: sqlstateOf(e),
    message: upstream?.message ?? e.message,
    detail: upstream?.detail ? `${upstream.detail}\n${ours.detail}` : ours.detail,
    hint: upstream?.hint ? `${upstream.hint}\n${ours.hint}` : ours.hint,
    ...(upstream?.position ? { position: upstream.position } : {}),
  };
}
