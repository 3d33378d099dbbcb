import type { InternalHttpClient } from '@phigate/config';
import { AppError } from '@phigate/errors';
import type { ApprovalStatus, ApprovalsPort, ApprovalView, Continuation } from '../../domain/held-queries.js';

export interface ApprovalClientOptions {
  /** Base URL of the approval service's internal listener, e.g. https://127.0.0.1:8083. */
  url: string;
  /** Mutual TLS with the internal CA (or plaintext where config allowed it): @phigate/config's internalHttpClient. */
  http: InternalHttpClient;
  /** Shared secret sent as `x-phigate-internal-token`. */
  token: string;
  timeoutMs: number;
}

const STATUSES = new Set<ApprovalStatus>(['pending', 'granted', 'denied', 'expired']);

/**
 * The approval service's internal API. The statement goes over the wire once, to be redacted on
 * arrival; only ids come back. Any transport failure or unexpected answer is an error (fail closed).
 */
export function createApprovalClient(opts: ApprovalClientOptions): ApprovalsPort {
  const base = opts.url.replace(/\/$/, '');
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    let res: { status: number; text: string };
    try {
      res = await opts.http.request(method, `${base}${path}`, {
        headers: { 'x-phigate-internal-token': opts.token, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
        timeoutMs: opts.timeoutMs,
      });
    } catch (cause) {
      // A refused TLS handshake (a certificate the CA did not sign, either way) lands here too.
      throw new AppError('GATEWAY_APPROVAL_UNAVAILABLE', { cause, message: 'the approval service cannot be reached; the statement was not run' });
    }
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(res.text) as Record<string, unknown>;
    } catch {}
    return { status: res.status, json };
  };

  return {
    async open(c: Continuation, facts) {
      const approval = c.decision.approval;
      if (!approval) throw new AppError('COMMON_INTERNAL', { message: 'a held statement without an approval requirement' });
      const { status, json } = await call('POST', '/internal/approvals', {
        requestId: c.ctx.requestId,
        requester: c.ctx.identity.subject,
        connection: c.ctx.connection,
        role: c.ctx.role,
        statement: c.sql,
        tables: facts.tables.slice(0, 500),
        phiColumns: facts.phiColumns.slice(0, 500),
        ruleIds: c.decision.ruleIds.length ? c.decision.ruleIds : ['(unnamed)'],
        reason: c.decision.reasons.join('; ').slice(0, 2000),
        approverGroups: approval.groups,
        quorum: approval.quorum,
        expiresAt: c.expiresAt,
        ...(c.ctx.purpose ? { purpose: c.ctx.purpose } : {}),
      });
      if ((status !== 200 && status !== 201) || typeof json.approvalId !== 'string') {
        throw new AppError('GATEWAY_APPROVAL_UNAVAILABLE', {
          message: `the approval service refused to open the approval (HTTP ${status}${typeof json.code === 'string' ? `, ${json.code}` : ''})`,
        });
      }
      return { approvalId: json.approvalId, notified: json.notified === true };
    },

    async status(approvalId): Promise<ApprovalView | undefined> {
      const { status, json } = await call('GET', `/internal/approvals/${encodeURIComponent(approvalId)}`);
      if (status === 404) return undefined;
      if (status !== 200 || !STATUSES.has(json.status as ApprovalStatus)) {
        throw new AppError('GATEWAY_APPROVAL_UNAVAILABLE', { message: `the approval service answered HTTP ${status} for an approval's status` });
      }
      const votes = Array.isArray(json.votes) ? (json.votes as ApprovalView['votes']) : [];
      return { status: json.status as ApprovalStatus, votes, notified: json.notified === true };
    },
  };
}
