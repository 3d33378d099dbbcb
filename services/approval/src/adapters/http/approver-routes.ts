import { bearerToken, type TokenVerifier } from '@phigate/auth';
import { AppError } from '@phigate/errors';
import type { Logger } from '@phigate/telemetry';
import type { FastifyInstance } from 'fastify';
import { type ApprovalState, type Approver, effectiveStatus, type VoteDecision } from '../../domain/approvals.js';
import type { ApprovalStore } from '../../domain/ports.js';

export interface ApproverRoutesDeps {
  store: ApprovalStore;
  verify: TokenVerifier;
  clock: () => Date;
  log: Logger;
  /**
   * Called when an API vote gives an approval its final status. An incoming webhook cannot edit
   * the original message (only a click's response_url can), so the decision is posted as a new
   * message in the same channel.
   */
  announce?: (state: ApprovalState) => void;
}

const APPROVAL_ID = /^[0-9a-f-]{36}$/;

/**
 * The approvers' API, the same decisions as the Slack buttons for approvers who work from a
 * terminal or a tool: `GET /v1/approvals` lists the pending approvals the caller may decide;
 * `POST /v1/approvals/:id/approve` and `/deny` vote. The caller is the token's identity: its
 * subject and groups are checked by the same rules as a Slack click (eligible group, not the
 * requester, quorum). A vote that does not count is an error, with the reason.
 */
export function registerApproverRoutes(app: FastifyInstance, deps: ApproverRoutesDeps): void {
  const approverOf = async (authorization: string | undefined): Promise<Approver> => {
    const identity = await deps.verify(bearerToken(authorization));
    return { subject: identity.subject, groups: identity.groups };
  };

  app.get('/v1/approvals', async (req) => {
    const me = await approverOf(req.headers.authorization);
    const now = deps.clock();
    const pending = await deps.store.listPending(now, 200);
    const mine = pending.filter((s) => s.request.requester !== me.subject && s.request.approverGroups.some((g) => me.groups.includes(g)));
    return { approvals: mine.map((s) => view(s, now)) };
  });

  for (const decision of ['approve', 'deny'] as const satisfies readonly VoteDecision[]) {
    app.post<{ Params: { id: string } }>(`/v1/approvals/:id/${decision}`, async (req) => {
      const me = await approverOf(req.headers.authorization);
      const id = req.params.id;
      if (!APPROVAL_ID.test(id)) throw new AppError('APPROVAL_NOT_FOUND');
      const now = deps.clock();
      const result = await deps.store.vote(id, { approver: me, decision }, now);
      if (result.kind !== 'applied') throw new AppError('APPROVAL_NOT_FOUND');
      const o = result.outcome;
      deps.log.info({ approvalId: id, approver: me.subject, decision, outcome: o.kind }, 'api vote processed');
      if (o.kind === 'refused') {
        throw new AppError('APPROVAL_VOTE_REFUSED', { message: `the vote was not counted: ${o.reason}`, details: { approvalId: id, reason: o.reason } });
      }
      if (result.changed && result.state.status !== 'pending') deps.announce?.(result.state);
      return { outcome: o.kind, ...view(result.state, now) };
    });
  }
}

function view(s: ApprovalState, now: Date) {
  const r = s.request;
  return {
    approvalId: r.approvalId,
    requestId: r.requestId,
    requester: r.requester,
    connection: r.connection,
    role: r.role,
    statement: r.statementRedacted,
    tables: r.tables,
    phiColumns: r.phiColumns,
    ruleIds: r.ruleIds,
    reason: r.reason,
    approverGroups: r.approverGroups,
    quorum: r.quorum,
    expiresAt: r.expiresAt,
    purpose: r.purpose ?? '',
    status: effectiveStatus(s, now),
    votes: s.votes,
  };
}
