import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { bearerToken, type TokenVerifier } from '@phigate/auth';
import { AppError, isAppError, isErrorCode, toAppError } from '@phigate/errors';
import { type Counter, childTrace, type Histogram, type Logger, type OpsOptions, registerOpsRoutes } from '@phigate/telemetry';
import Fastify, { type FastifyInstance } from 'fastify';
import type { HeldQueries, HeldState } from '../../domain/held-queries.js';
import { peerOf } from '../../domain/peer.js';
import type { QueryResult, QueryService } from '../../domain/query-service.js';
import { withScrubbedUpstream } from '../../domain/scrub-error.js';
import type { Identity } from '../../domain/types.js';
import type { ResultStore } from './result-store.js';

/** JSON type for each upstream text type, so the HTTP door returns numbers and booleans as such. */
const NUMERIC = new Set(['int2', 'int4', 'oid', 'float4', 'float8']);

function jsonValue(type: string, v: string | null): unknown {
  if (v === null) return null;
  if (NUMERIC.has(type)) return Number(v);
  if (type === 'bool') return v === 't';
  // int8 and numeric stay strings: JSON numbers would silently lose precision.
  return v;
}

export function resultBody(r: QueryResult): Record<string, unknown> {
  return {
    requestId: r.requestId,
    status: 'completed',
    columns: r.columns.map((c) => ({ name: c.name, type: c.type, ...(c.masking ? { masking: c.masking } : {}) })),
    rows: r.rows.map((row) => row.map((v, i) => jsonValue(r.columns[i]?.type ?? 'text', v))),
    rowCount: r.rowCount,
    ...(r.truncated ? { truncated: true, rowLimit: r.decision.rowLimit } : {}),
    command: r.command,
    ...(r.affectedRows === undefined ? {} : { affectedRows: r.affectedRows }),
    policy: { decisionId: r.decision.decisionId, ruleIds: r.decision.ruleIds, revision: r.decision.policyRevision },
  };
}

/** The body for a held request that has no outcome yet (HTTP 202). */
function heldBody(requestId: string, state: Pick<HeldState, 'status'> & { continuation: { approvalId: string; expiresAt: string } }) {
  return {
    requestId,
    status: state.status === 'running' ? 'running' : 'pending_approval',
    approvalId: state.continuation.approvalId,
    expiresAt: state.continuation.expiresAt,
    statusUrl: `/v1/requests/${encodeURIComponent(requestId)}`,
  };
}

/** Longest `?wait=` a client may ask GET /v1/requests/:id to hold the request open, in seconds. */
const MAX_WAIT_SEC = 30;

export interface HttpDeps {
  verify: TokenVerifier;
  queries: QueryService;
  results: ResultStore;
  held: Pick<HeldQueries, 'view' | 'settle'>;
  log: Logger;
  ops: OpsOptions;
  metrics: { requests: Counter<'outcome'>; latency: Histogram };
  bodyLimit: number;
  /** Extra routes (the admin API) registered on the same server. */
  extraRoutes?: (app: FastifyInstance) => void;
}

/** The HTTP door: `POST /v1/query`, `GET /v1/requests/:id`, and the ops routes. */
export function buildHttp(deps: HttpDeps): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: deps.bodyLimit,
    genReqId: () => randomUUID(),
    // Node refuses headers over 16 KiB with a bare 431 before any handler runs; accept up to 64 KiB
    // so an oversized token gets our own answer (401 AUTH_TOKEN_INVALID; tokens are capped at 8 KB).
    serverFactory: (handler) => createServer({ maxHeaderSize: 64 * 1024 }, handler),
    // Never let a framework error carry request content back into logs or responses.
    return503OnClosing: true,
    // `/a//b` is `/a/b`: the Snowflake door's clients send such paths (the Python connector 5 asks
    // `/monitoring/queries//<id>`), and no route here tells them apart.
    routerOptions: { ignoreDuplicateSlashes: true },
  });
  registerOpsRoutes(app, deps.ops);

  app.setErrorHandler((err, req, reply) => {
    // Every answer passes here: an upstream error not yet scrubbed of values is scrubbed now.
    const e = isAppError(err)
      ? withScrubbedUpstream(err)
      : (err as { statusCode?: number }).statusCode && (err as { statusCode: number }).statusCode < 500
        ? new AppError('COMMON_BAD_REQUEST', { message: `the request is malformed: ${(err as Error).message}` })
        : toAppError(err);
    if (typeof e.details.retryAfterSec === 'number') void reply.header('retry-after', String(e.details.retryAfterSec));
    if (e.kind === 'INTERNAL' || e.kind === 'UNAVAILABLE')
      deps.log.warn({ requestId: req.id, code: e.code, cause: (e.cause as { code?: string })?.code }, 'request failed');
    void reply.code(e.httpStatus).send(e.toHttpBody());
  });
  app.setNotFoundHandler((_req, reply) => {
    const e = new AppError('COMMON_NOT_FOUND');
    void reply.code(404).send(e.toHttpBody());
  });

  deps.extraRoutes?.(app);

  const authenticate = async (authorization: string | undefined): Promise<Identity> => deps.verify(bearerToken(authorization));

  app.post<{ Body: { connection?: unknown; sql?: unknown; params?: unknown; purpose?: unknown } }>('/v1/query', async (req, reply) => {
    const started = performance.now();
    const requestId = req.id;
    let outcome = 'error';
    try {
      const identity = await authenticate(req.headers.authorization);
      const body = req.body;
      if (
        !body ||
        typeof body !== 'object' ||
        typeof body.connection !== 'string' ||
        typeof body.sql !== 'string' ||
        (body.params !== undefined && !Array.isArray(body.params)) ||
        (body.purpose !== undefined && typeof body.purpose !== 'string')
      ) {
        throw new AppError('COMMON_BAD_REQUEST', { message: 'expected a JSON body {connection: string, sql: string, params?: array, purpose?: string}' });
      }
      // The purpose of use: the X-Phigate-Purpose header, else the body's `purpose`; both must agree.
      const header = req.headers['x-phigate-purpose'];
      const purpose = (Array.isArray(header) ? header.join(',') : header) || (body.purpose as string | undefined) || undefined;
      if (header && body.purpose && header !== body.purpose)
        throw new AppError('COMMON_BAD_REQUEST', { message: "the X-Phigate-Purpose header and the body's purpose differ; state the purpose of use once" });
      const trace = childTrace(req.headers.traceparent as string | undefined);
      const submitted = await deps.queries.submit({
        requestId,
        sessionId: requestId,
        frontDoor: 'http',
        identity,
        client: peerOf(req.socket),
        connection: body.connection,
        sql: body.sql,
        params: (body.params as unknown[] | undefined) ?? [],
        traceparent: trace.traceparent,
        ...(purpose ? { purpose } : {}),
      });
      if (submitted.kind === 'held') {
        outcome = 'held';
        const h = submitted.held;
        deps.log.info({ requestId, approvalId: h.approvalId, connection: body.connection }, 'query held for approval');
        return reply
          .code(202)
          .header('x-request-id', requestId)
          .header('location', `/v1/requests/${requestId}`)
          .send(heldBody(requestId, { status: 'pending', continuation: h }));
      }
      const result = submitted.result;
      const out = resultBody(result);
      deps.results.put(requestId, identity.subject, out);
      outcome = 'completed';
      // Per statement, so debug: the audit trail records every statement, and the metrics count them.
      deps.log.debug({ requestId, connection: body.connection, rows: result.rowCount, latencyMs: Math.round(performance.now() - started) }, 'query completed');
      return reply.header('x-request-id', requestId).send(out);
    } catch (err) {
      // An upstream error goes on scrubbed of values (a no-op when its adapter already scrubbed it).
      const e = withScrubbedUpstream(toAppError(err), typeof req.body?.sql === 'string' ? req.body.sql : undefined);
      outcome = e.code === 'GATEWAY_POLICY_DENIED' ? 'denied' : e.kind.toLowerCase();
      deps.log.info({ requestId, code: e.code, latencyMs: Math.round(performance.now() - started) }, 'query refused');
      reply.header('x-request-id', requestId);
      throw e.details.requestId ? e : new AppError(e.code, { message: e.message, details: { ...e.details, requestId }, cause: e.cause });
    } finally {
      deps.metrics.requests.inc({ outcome });
      deps.metrics.latency.observe((performance.now() - started) / 1000);
    }
  });

  app.get<{ Params: { id: string }; Querystring: { wait?: string } }>('/v1/requests/:id', async (req, reply) => {
    const identity = await authenticate(req.headers.authorization);
    const id = req.params.id;
    const waitSec = req.query.wait === undefined ? 0 : Number(req.query.wait);
    if (!Number.isFinite(waitSec) || waitSec < 0 || waitSec > MAX_WAIT_SEC)
      throw new AppError('COMMON_BAD_REQUEST', { message: `wait must be a number of seconds from 0 to ${MAX_WAIT_SEC}` });
    const found = deps.results.get(id, identity.subject);
    if (found) return found;
    // A held request lives in the shared store: any replica answers, for its requester only.
    let state = /^[A-Za-z0-9_.:-]{1,128}$/.test(id) ? await deps.held.view(id, identity.subject, identity.issuer) : undefined;
    if (state && waitSec > 0 && (state.status === 'pending' || state.status === 'running'))
      state = (await deps.held.settle(id, Date.now() + waitSec * 1000)) ?? state;
    // The same answer for "no such request" and "not yours": ids of others are not confirmed.
    if (!state) throw new AppError('GATEWAY_REQUEST_NOT_FOUND', { details: { requestId: id } });
    reply.header('x-request-id', id);
    if (state.outcome?.kind === 'result') return { ...resultBody(state.outcome.result), approvalId: state.continuation.approvalId };
    if (state.outcome?.kind === 'error') {
      const o = state.outcome;
      throw new AppError(isErrorCode(o.code) ? o.code : 'COMMON_INTERNAL', { message: o.message, details: { ...o.details, requestId: id } });
    }
    return reply.code(202).send(heldBody(id, state));
  });
  return app;
}
