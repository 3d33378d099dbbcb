import { createHash } from 'node:crypto';
import { z } from '@phigate/config';
import { AppError } from '@phigate/errors';
import type { Counter, Logger } from '@phigate/telemetry';
import type { FastifyInstance } from 'fastify';
import { type Approver, refusalText, type VoteDecision } from '../../domain/approvals.js';
import type { ApprovalStore, VoteResult } from '../../domain/ports.js';
import { ACTION_ID, decisionUpdate, ephemeralNotice, type SlackMessage } from '../../domain/slack-message.js';
import { verifySlackSignature } from '../../domain/slack-signature.js';
import type { SlackClient } from './slack-client.js';

export interface SlackRoutesDeps {
  store: ApprovalStore;
  slack: SlackClient;
  signingSecret: string;
  /** Slack user id → approver identity. */
  slackUsers: Readonly<Record<string, Approver>>;
  /** Whether a payload's `response_url` may be posted to. */
  responseUrlAllowed: (url: string) => boolean;
  clock: () => Date;
  log: Logger;
  interactions: Counter<'outcome'>;
  /** Follow-ups run after Slack has its answer; the app waits for them on stop. */
  background: (task: Promise<unknown>) => void;
}

/** Slack interaction payloads are small; our own message, which Slack echoes back, is the bulk. */
const BODY_LIMIT = 256 * 1024;
const APPROVAL_ID = /^[A-Za-z0-9_-]{1,128}$/;

const payloadSchema = z.object({
  type: z.string(),
  user: z.object({ id: z.string().min(1) }),
  response_url: z.string().optional(),
  trigger_id: z.string().optional(),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().optional(), action_ts: z.string().optional() })).optional(),
});

/**
 * `POST /slack/interactions`, Slack's interactivity request URL. The body is kept as the exact
 * bytes received and the signature checked over them before anything is parsed; a request that
 * fails is answered 401 and has no other effect. A click is a vote; its outcome goes back to
 * Slack through the payload's `response_url`, after Slack has had its 200.
 */
export function registerSlackRoutes(app: FastifyInstance, deps: SlackRoutesDeps): void {
  void app.register(async (scope) => {
    // Own parsers in this scope only: whatever arrives stays bytes until the signature holds.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));

    scope.post('/slack/interactions', async (req, reply) => {
      const now = deps.clock();
      const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const check = verifySlackSignature(
        { rawBody, timestamp: req.headers['x-slack-request-timestamp'], signature: req.headers['x-slack-signature'] },
        deps.signingSecret,
        now,
      );
      if (!check.ok) {
        deps.interactions.inc({ outcome: 'bad_signature' });
        deps.log.warn({ reason: check.reason }, 'slack request signature rejected');
        // Interim code: APPROVAL_SLACK_SIGNATURE_INVALID is proposed for this.
        throw new AppError('APPROVAL_SLACK_SIGNATURE_INVALID');
      }
      const interaction = parseInteraction(req.headers['content-type'], rawBody);
      const action = interaction.actions?.find((a) => a.action_id === ACTION_ID.APPROVE || a.action_id === ACTION_ID.DENY);
      if (interaction.type !== 'block_actions' || !action) {
        deps.interactions.inc({ outcome: 'ignored' });
        return reply.code(200).send({ outcome: 'ignored' });
      }
      const followUp = (message: SlackMessage) => respond(deps, interaction.response_url, message);
      const approvalId = action.value ?? '';
      const approver = Object.hasOwn(deps.slackUsers, interaction.user.id) ? deps.slackUsers[interaction.user.id] : undefined;
      if (!APPROVAL_ID.test(approvalId)) {
        deps.interactions.inc({ outcome: 'not_found' });
        followUp(ephemeralNotice('This approval request is not known (it may have expired and been removed).'));
        return reply.code(200).send({ outcome: 'not_found' });
      }
      if (!approver) {
        deps.interactions.inc({ outcome: 'unknown_user' });
        deps.log.info({ approvalId, slackUser: interaction.user.id }, 'vote from an unmapped slack user refused');
        followUp(ephemeralNotice('Your Slack account is not linked to a phigate approver identity, so your vote was not counted.'));
        return reply.code(200).send({ outcome: 'refused', reason: 'unknown_user' });
      }
      // The exact signed bytes identify this delivery: a replay within the signature window is
      // the same key; after it, the signature check refuses it as stale.
      const replayKey = createHash('sha256').update(`v0:${check.timestampSec}:`).update(rawBody).digest('hex');
      const decision: VoteDecision = action.action_id === ACTION_ID.APPROVE ? 'approve' : 'deny';
      const result = await deps.store.vote(approvalId, { approver, decision }, now, replayKey);
      const outcome = describe(result);
      deps.interactions.inc({ outcome: outcome.outcome });
      deps.log.info({ approvalId, approver: approver.subject, slackUser: interaction.user.id, decision, ...outcome }, 'slack vote processed');
      const message = followUpFor(result, decision, now);
      if (message) followUp(message);
      return reply.code(200).send(outcome);
    });
  });
}

function parseInteraction(contentType: string | undefined, rawBody: Buffer) {
  if ((contentType ?? '').split(';')[0]?.trim().toLowerCase() !== 'application/x-www-form-urlencoded') {
    throw new AppError('APPROVAL_REQUEST_INVALID', { message: 'a Slack interaction must be application/x-www-form-urlencoded' });
  }
  const payload = new URLSearchParams(rawBody.toString('utf8')).get('payload');
  let json: unknown;
  try {
    json = JSON.parse(payload ?? '');
  } catch {
    throw new AppError('APPROVAL_REQUEST_INVALID', { message: 'the Slack interaction has no JSON payload field' });
  }
  const parsed = payloadSchema.safeParse(json);
  if (!parsed.success) throw new AppError('APPROVAL_REQUEST_INVALID', { message: 'the Slack interaction payload is malformed' });
  return parsed.data;
}

/** The answer to Slack, and what is logged and counted. Ids and reasons only. */
function describe(result: VoteResult): { outcome: string; reason?: string; status?: string } {
  switch (result.kind) {
    case 'replay':
    case 'not_found':
      return { outcome: result.kind };
    case 'applied': {
      const o = result.outcome;
      if (o.kind === 'refused') return { outcome: 'refused', reason: o.reason, status: result.state.status };
      return { outcome: o.kind, status: result.state.status };
    }
  }
}

function followUpFor(result: VoteResult, decision: VoteDecision, now: Date): SlackMessage | undefined {
  switch (result.kind) {
    case 'replay':
      return undefined;
    case 'not_found':
      return ephemeralNotice('This approval request is not known (it may have expired and been removed).');
    case 'applied': {
      const o = result.outcome;
      if (o.kind === 'duplicate') return ephemeralNotice(`You already voted to ${decision} this request; nothing changed.`);
      // An expiry discovered by this vote changes the message for everyone, and the voter learns why.
      if (o.kind === 'refused' && !o.expired) return ephemeralNotice(refusalText(o.reason, o.status));
      return decisionUpdate(result.state, now);
    }
  }
}

function respond(deps: SlackRoutesDeps, responseUrl: string | undefined, message: SlackMessage): void {
  if (!responseUrl) return;
  if (!deps.responseUrlAllowed(responseUrl)) {
    deps.log.warn({ host: hostOf(responseUrl) }, 'response_url outside the allowed origins was not contacted');
    return;
  }
  deps.background(
    deps.slack.post(responseUrl, message).catch((err: unknown) => {
      deps.log.warn({ err: { message: (err as Error).message, status: (err as AppError).details?.status } }, 'slack response_url post failed');
    }),
  );
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(not a url)';
  }
}
