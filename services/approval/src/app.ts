import { createTokenVerifier } from '@phigate/auth';
import { internalHttpsServer, oidcIssuers, watchInternalTls } from '@phigate/config';
import { AppError, isAppError, toAppError } from '@phigate/errors';
import { createRedisClient } from '@phigate/redis';
import { Counter, createMetrics, type Logger, registerOpsRoutes } from '@phigate/telemetry';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerApproverRoutes } from './adapters/http/approver-routes.js';
import { registerInternalRoutes } from './adapters/http/internal-routes.js';
import { createSlackClient, responseUrlPolicy } from './adapters/http/slack-client.js';
import { registerSlackRoutes } from './adapters/http/slack-routes.js';
import { createRedisApprovalStore } from './adapters/redis/approval-store.js';
import type { ApprovalConfig } from './config.js';
import { approvalMessage } from './domain/slack-message.js';
import { SLACK_SIGNATURE_WINDOW_SEC } from './domain/slack-signature.js';

export interface ApprovalApp {
  /** `internalPort` is 0 when the internal API is off (no APPROVAL_INTERNAL_TOKEN). */
  start(): Promise<{ httpPort: number; internalPort: number }>;
  stop(): Promise<void>;
}

/** What tests may replace. */
export interface ApprovalDeps {
  clock?: () => Date;
}

// A replayed body is accepted by the signature check for up to twice the window (its timestamp
// may be up to one window ahead of our clock when first seen, and is refused one window after
// it); remembering it a little longer than that makes every accepted replay a no-op.
const REPLAY_TTL_MS = (2 * SLACK_SIGNATURE_WINDOW_SEC + 60) * 1000;

/**
 * The approval service: Slack interactivity (`POST /slack/interactions`), the approvers' API and the
 * ops routes on the public listener; the internal API the gateway calls to open approvals on a
 * listener of its own, with mutual TLS (Slack cannot present a client certificate, so the two
 * cannot share a port that requires one). Approvals live in Redis.
 */
export function buildApp(config: ApprovalConfig, log: Logger, deps: ApprovalDeps = {}): ApprovalApp {
  const clock = deps.clock ?? (() => new Date());
  const metrics = createMetrics('approval');
  const interactions = new Counter({
    name: 'phigate_approval_slack_interactions_total',
    help: 'Slack interactions by outcome (bad_signature, ignored, granted, recorded, denied, duplicate, refused, replay, not_found, unknown_user)',
    labelNames: ['outcome'] as const,
    registers: [metrics],
  });
  const redis = createRedisClient(config, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 });
  redis.on('error', () => {});
  const store = createRedisApprovalStore(redis, {
    prefix: config.APPROVAL_KEY_PREFIX,
    retentionMs: config.APPROVAL_RETENTION_SEC * 1000,
    replayTtlMs: REPLAY_TTL_MS,
  });
  const slack = createSlackClient({ timeoutMs: config.APPROVAL_SLACK_TIMEOUT_MS });
  const pending = new Set<Promise<unknown>>();
  const background = (task: Promise<unknown>) => {
    pending.add(task);
    void task.finally(() => pending.delete(task));
  };

  const errorsOf = (server: FastifyInstance) => {
    server.setErrorHandler((err, _req, reply) => {
      const status = (err as { statusCode?: number }).statusCode;
      const e = isAppError(err)
        ? err
        : status && status < 500
          ? new AppError('COMMON_BAD_REQUEST', { message: `the request is malformed: ${(err as Error).message}` })
          : toAppError(err);
      if (e.kind === 'INTERNAL' || e.kind === 'UNAVAILABLE') log.warn({ code: e.code, err: { message: e.message } }, 'request failed');
      void reply.code(e.httpStatus).send(e.toHttpBody());
    });
    server.setNotFoundHandler((_req, reply) => void reply.code(404).send(new AppError('COMMON_NOT_FOUND').toHttpBody()));
    return server;
  };
  const app = errorsOf(Fastify({ logger: false, bodyLimit: 256 * 1024, return503OnClosing: true }));
  let stopping = false;
  registerOpsRoutes(app, { metrics, isShuttingDown: () => stopping, readiness: async () => ({ redis: await store.ping() }) });

  registerSlackRoutes(app, {
    store,
    slack,
    signingSecret: config.SLACK_SIGNING_SECRET,
    slackUsers: config.APPROVAL_SLACK_USERS,
    // The webhook's own origin is Slack's (or, locally, the Slack stand-in's).
    responseUrlAllowed: responseUrlPolicy([new URL(config.SLACK_WEBHOOK_URL).origin, ...config.APPROVAL_RESPONSE_URL_ORIGINS]),
    clock,
    log,
    interactions,
    background,
  });
  registerApproverRoutes(app, {
    store,
    verify: createTokenVerifier({ issuers: oidcIssuers(config), clockToleranceSec: config.OIDC_CLOCK_SKEW_SEC }),
    clock,
    log,
    announce: (state) =>
      background(
        slack.post(config.SLACK_WEBHOOK_URL, approvalMessage(state, clock())).catch((err: unknown) => {
          log.warn({ approvalId: state.request.approvalId, err: { message: (err as Error).message } }, 'decision announcement not delivered to slack');
        }),
      ),
  });
  // Plaintext only where config allowed it (INTERNAL_PLAINTEXT on loopback); otherwise a client
  // without a certificate of the internal CA is refused in the handshake, before any route runs.
  const tlsFiles = config.APPROVAL_INTERNAL_TOKEN ? watchInternalTls(config) : undefined;
  const https = tlsFiles && internalHttpsServer(tlsFiles);
  const internal = config.APPROVAL_INTERNAL_TOKEN
    ? errorsOf(
        https
          ? Fastify({ logger: false, bodyLimit: 256 * 1024, return503OnClosing: true, https: https.options })
          : Fastify({ logger: false, bodyLimit: 256 * 1024, return503OnClosing: true }),
      )
    : undefined;
  if (internal && config.APPROVAL_INTERNAL_TOKEN) {
    https?.attach(internal.server as unknown as { setSecureContext(o: object): void });
    registerInternalRoutes(internal, { store, slack, webhookUrl: config.SLACK_WEBHOOK_URL, token: config.APPROVAL_INTERNAL_TOKEN, clock, log });
  }

  return {
    async start() {
      await redis.connect().catch(() => undefined);
      await app.listen({ host: config.APPROVAL_HOST, port: config.APPROVAL_HTTP_PORT });
      if (internal) await internal.listen({ host: config.APPROVAL_INTERNAL_HOST, port: config.APPROVAL_INTERNAL_PORT });
      const portOf = (s: FastifyInstance | undefined) => {
        const addr = s?.server.address();
        return typeof addr === 'object' && addr ? addr.port : 0;
      };
      const ports = { httpPort: portOf(app), internalPort: portOf(internal) };
      log.info(
        { slackUsers: Object.keys(config.APPROVAL_SLACK_USERS).length, internalApi: Boolean(internal), internalTls: Boolean(https), ...ports },
        'approval service listening',
      );
      return ports;
    },
    async stop() {
      stopping = true;
      tlsFiles?.close();
      await Promise.all([app.close(), internal?.close()]);
      await Promise.allSettled([...pending]);
      redis.disconnect();
    },
  };
}
