import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { z } from '@phigate/config';
import { AppError, retry } from '@phigate/errors';
import { redactSqlLiterals } from '@phigate/sql';
import type { Logger } from '@phigate/telemetry';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type ApprovalRequest, type ApprovalState, effectiveStatus } from '../../domain/approvals.js';
import type { ApprovalStore } from '../../domain/ports.js';
import { approvalMessage } from '../../domain/slack-message.js';
import type { SlackClient } from './slack-client.js';

export interface InternalRoutesDeps {
  store: ApprovalStore;
  slack: SlackClient;
  webhookUrl: string;
  /** The shared secret callers present in `x-phigate-internal-token`. */
  token: string;
  clock: () => Date;
  log: Logger;
}

export const INTERNAL_TOKEN_HEADER = 'x-phigate-internal-token';

const name = z.string().min(1).max(256);
const MAX_EXPIRY_MS = 7 * 24 * 3600 * 1000;

/** The body of `POST /internal/approvals`. `statement` is redacted on arrival; only that form is kept. */
const createSchema = z
  .object({
    requestId: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/),
    requester: name,
    connection: name,
    role: name,
    statement: z.string().min(1).max(100_000),
    tables: z.array(name).max(500).default([]),
    phiColumns: z.array(name).max(500).default([]),
    ruleIds: z.array(name).min(1).max(50),
    reason: z.string().max(2000).default(''),
    approverGroups: z.array(name).min(1).max(50),
    quorum: z.number().int().min(1).max(10).default(1),
    expiresAt: z.iso.datetime({ offset: true }),
    purpose: z.string().min(1).max(64).optional(),
  })
  .strict();

/**
 * The interim contract through which the gateway opens an approval, until it does so over its own
 * RPC: `POST /internal/approvals` (creates, posts the Slack message) and `GET
 * /internal/approvals/:id` (reads the status). Both need the shared secret header.
 */
export function registerInternalRoutes(app: FastifyInstance, deps: InternalRoutesDeps): void {
  const expected = digest(deps.token);
  const authorise = (req: FastifyRequest) => {
    const given = req.headers[INTERNAL_TOKEN_HEADER];
    // Hashing first gives equal lengths, so the comparison takes the same time for every input.
    if (typeof given !== 'string' || !timingSafeEqual(digest(given), expected)) {
      throw new AppError('APPROVAL_INTERNAL_TOKEN_INVALID', { message: `the ${INTERNAL_TOKEN_HEADER} header is missing or wrong` });
    }
  };

  app.post('/internal/approvals', async (req, reply) => {
    authorise(req);
    const parsed = createSchema.safeParse(req.body);
    if (!parsed.success) {
      throw new AppError('APPROVAL_REQUEST_INVALID', {
        message: 'the approval request is malformed',
        details: { problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`) },
      });
    }
    const body = parsed.data;
    const now = deps.clock();
    const expiresMs = Date.parse(body.expiresAt);
    if (expiresMs <= now.getTime() || expiresMs - now.getTime() > MAX_EXPIRY_MS) {
      throw new AppError('APPROVAL_REQUEST_INVALID', { message: 'expiresAt must be in the future and at most 7 days ahead' });
    }
    const request: ApprovalRequest = {
      approvalId: randomUUID(),
      requestId: body.requestId,
      requester: body.requester,
      connection: body.connection,
      role: body.role,
      statementRedacted: redactSqlLiterals(body.statement),
      tables: body.tables,
      phiColumns: body.phiColumns,
      ruleIds: body.ruleIds,
      reason: body.reason,
      approverGroups: body.approverGroups,
      quorum: body.quorum,
      expiresAt: new Date(expiresMs).toISOString(),
      ...(body.purpose ? { purpose: body.purpose } : {}),
    };
    const { state, created } = await deps.store.create(request);
    let notified = Boolean(state.notifiedAt);
    if (!notified && state.status === 'pending') notified = await notify(deps, state, now);
    deps.log.info({ approvalId: state.request.approvalId, requestId: state.request.requestId, created, notified }, 'approval requested');
    return reply.code(created ? 201 : 200).send({ ...view(state, now), notified });
  });

  app.get<{ Params: { id: string } }>('/internal/approvals/:id', async (req) => {
    authorise(req);
    const state = await deps.store.get(req.params.id);
    if (!state) throw new AppError('APPROVAL_NOT_FOUND');
    return view(state, deps.clock());
  });
}

/** Posts the approval message, retrying briefly; a failure leaves `notifiedAt` unset for the caller's retry. */
async function notify(deps: InternalRoutesDeps, state: ApprovalState, now: Date): Promise<boolean> {
  try {
    await retry(() => deps.slack.post(deps.webhookUrl, approvalMessage(state, now)), { retries: 2, initialMs: 200, maxMs: 1000 });
    await deps.store.markNotified(state.request.approvalId, deps.clock());
    return true;
  } catch (err) {
    deps.log.warn({ approvalId: state.request.approvalId, err: { message: (err as Error).message } }, 'approval message not delivered to slack');
    return false;
  }
}

function view(state: ApprovalState, now: Date) {
  const r = state.request;
  return {
    approvalId: r.approvalId,
    requestId: r.requestId,
    status: effectiveStatus(state, now),
    expiresAt: r.expiresAt,
    quorum: r.quorum,
    approverGroups: r.approverGroups,
    votes: state.votes,
    notified: Boolean(state.notifiedAt),
    ...(state.decidedAt ? { decidedAt: state.decidedAt } : {}),
  };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
