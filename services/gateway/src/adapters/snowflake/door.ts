import { randomUUID } from 'node:crypto';
import type { TokenVerifier } from '@phigate/auth';
import { AppError, isAppError, toAppError } from '@phigate/errors';
import { decodeBody, type Envelope, ok } from '@phigate/snowflake-wire';
import { childTrace, type Logger } from '@phigate/telemetry';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HeldQueries } from '../../domain/held-queries.js';
import { peerOf } from '../../domain/peer.js';
import type { UpstreamSession } from '../../domain/ports.js';
import type { QueryService } from '../../domain/query-service.js';
import { withScrubbedUpstream } from '../../domain/scrub-error.js';
import { chunkRefusal, loginError, statementError } from './errors.js';
import { authenticatorOf, login, logout, renew, sessionOf } from './login.js';
import { queryStatus } from './monitoring.js';
import { Results } from './results.js';
import { SessionControl } from './session-control.js';
import { Statements } from './statements.js';
import type { SfSession, SfStore } from './store.js';
import { SfTransactions } from './transactions.js';

/** Largest request body the door accepts (after gunzip): statements with their bind values. */
const MAX_BODY = 4 * 1024 * 1024;

export interface SnowflakeDoorDeps {
  verify: TokenVerifier;
  /** The Snowflake door's query service (its own row limit). */
  queries: QueryService;
  held: Pick<HeldQueries, 'view' | 'settle' | 'cancel'>;
  store: SfStore;
  log: Logger;
  /** Longest a query-request or result poll is held open (ms); below every driver's request timeout. */
  holdMs: number;
  chunkRows: number;
  sessionValiditySec: number;
  masterValiditySec: number;
  /** How long a held statement's record is kept past its approval's expiry. */
  heldRetainMs: number;
  publicUrl?: string;
  /** Pinned upstream sessions for clients' transactions; without it BEGIN and AUTOCOMMIT off are refused. */
  upstream?: {
    session(connection: string, role: string): Promise<UpstreamSession>;
    warehouseOf?(connection: string): string | undefined;
    /** The connection's upstream type (`snowflake`, `postgresql`). */
    typeOf?(connection: string): string | undefined;
  };
  /** How often open transactions are checked against their (possibly expired) door sessions (ms). */
  transactionSweepMs?: number;
  /** An open transaction idle this long is rolled back (ms; default one hour). */
  transactionIdleMs?: number;
  /** This replica's name (a session's open transaction is recorded as held here); default a random one. */
  replicaId?: string;
}

/** What the door reads of every request before an endpoint sees it: the JSON body and the query string. */
interface Call {
  req: FastifyRequest;
  body: Record<string, unknown>;
  params: URLSearchParams;
}

/**
 * The Snowflake door: the REST endpoints the official drivers (snowflake-sdk, snowflake-connector-
 * python, snowflake-jdbc, gosnowflake) use, on the gateway's HTTP port. This file is the wiring: it
 * reads each request, checks its session, and writes the answer as Snowflake's envelope (HTTP 200
 * always; drivers discard anything else). The endpoints are login.ts (login and session), statements.ts
 * (query and abort requests), results.ts (result polls and chunks) and monitoring.ts; every refusal is
 * a registered AppError, mapped to what the driver reads in errors.ts alone.
 */
export function registerSnowflakeDoor(app: FastifyInstance, d: SnowflakeDoorDeps): void {
  const results = new Results(d);
  const upstream = d.upstream;
  const transactions = new SfTransactions({
    // The binding's role as the query lifecycle resolves it (the session's is its display form).
    pin: async (connection, identity) => {
      if (!upstream) throw new AppError('GATEWAY_SF_REQUEST_INVALID', { message: 'Transactions are not available on this gateway.' });
      return upstream.session(connection, d.queries.bind(identity, connection).role);
    },
    alive: (id) => d.store.sessionAlive(id),
    log: d.log,
    sweepMs: d.transactionSweepMs ?? 30_000,
    idleMs: d.transactionIdleMs ?? 3_600_000,
  });
  const control = new SessionControl({
    store: d.store,
    transactions,
    replica: d.replicaId ?? randomUUID(),
    ...(upstream?.warehouseOf ? { warehouseOf: (c) => upstream.warehouseOf?.(c) } : {}),
    ...(upstream?.typeOf ? { typeOf: (c) => upstream.typeOf?.(c) } : {}),
    log: d.log,
  });
  const statements = new Statements({ ...d, control }, results);
  app.addHook('onClose', () => transactions.close());
  const base = (req: FastifyRequest) => d.publicUrl?.replace(/\/$/, '') ?? `${req.protocol}://${req.headers.host ?? '127.0.0.1'}`;

  app.register(async (scope) => {
    // Drivers send gzip'd or plain JSON with any content type: read every body as bytes.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_BODY }, (_req, body, done) => done(null, body));
    const send = (reply: FastifyReply, env: Envelope) => reply.code(200).header('content-type', 'application/json').send(JSON.stringify(env));

    const read = (req: FastifyRequest): Call => {
      let body: Record<string, unknown>;
      try {
        body = decodeBody(req.body, MAX_BODY);
      } catch {
        throw new AppError('GATEWAY_SF_REQUEST_INVALID', { message: 'The request body is not valid JSON.' });
      }
      const q = req.url.indexOf('?');
      return { req, body, params: new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1)) };
    };
    const logFailure = (req: FastifyRequest, e: AppError) => {
      if (e.kind === 'INTERNAL' || e.kind === 'UNAVAILABLE')
        d.log.warn({ reqId: req.id, code: e.code, cause: (e.cause as { code?: string })?.code }, 'snowflake request failed');
    };

    /**
     * A login or session endpoint (no session token of its own): its `data`, or a login refusal.
     * `authenticator`: the authenticator the request names, which a login refusal reports back.
     */
    const loginRoute =
      (handler: (call: Call) => Promise<unknown>, authenticatorOf?: (body: Record<string, unknown>) => string) =>
      async (req: FastifyRequest, reply: FastifyReply) => {
        let authenticator: string | undefined;
        try {
          const call = read(req);
          authenticator = authenticatorOf?.(call.body);
          return send(reply, ok(await handler(call)));
        } catch (err) {
          const e = toAppError(err);
          logFailure(req, e);
          d.log.info({ authenticator, code: e.code }, 'snowflake login or session request refused');
          return send(reply, loginError(e, authenticator));
        }
      };
    /**
     * An endpoint of a session: the session token checked, then the endpoint's answer. A refusal reads
     * as the statement's error (the id in the path, else this request's id); a session refusal as the
     * 390xxx code that makes the driver renew or log in again.
     */
    const sessionRoute = (handler: (call: Call, s: SfSession) => Promise<Envelope>) => async (req: FastifyRequest, reply: FastifyReply) => {
      try {
        const call = read(req);
        const s = await sessionOf(d.store, req.headers.authorization);
        return send(reply, await handler(call, { ...s, peer: peerOf(req.socket) }));
      } catch (err) {
        const e = withScrubbedUpstream(toAppError(err));
        logFailure(req, e);
        return send(reply, statementError(e, (req.params as { id?: string }).id ?? req.id));
      }
    };
    // What escapes the routes (a body over MAX_BODY, a framework failure) still answers an envelope.
    scope.setErrorHandler((err: FastifyError, req, reply) => {
      const client = !isAppError(err) && typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500;
      const e = client ? new AppError('GATEWAY_SF_REQUEST_INVALID', { message: 'The request is too large or malformed.' }) : toAppError(err);
      logFailure(req, e);
      void send(reply, statementError(e, req.id));
    });

    scope.post(
      '/session/v1/login-request',
      loginRoute(({ req, body, params }) => login(d, body, params, peerOf(req.socket)), authenticatorOf),
    );
    scope.post(
      '/session/token-request',
      loginRoute(({ req, body }) => renew(d, body, req.headers.authorization)),
    );
    scope.post(
      '/session/heartbeat',
      sessionRoute(async () => ok(null)),
    );
    scope.post(
      '/session',
      sessionRoute(async ({ params }, s) => {
        const answer = ok(await logout(d, s, params));
        // A session closed with an open transaction rolls it back, as Snowflake does.
        await transactions.abandon(s.id, 'logout');
        return answer;
      }),
    );
    // Client telemetry is acknowledged and dropped: it never reaches logs (it can carry SQL text).
    scope.post('/telemetry/send', async (_req, reply) => send(reply, ok('Log Received')));

    scope.post(
      '/queries/v1/query-request',
      sessionRoute(({ req, body, params }, s) =>
        statements.request(s, body, params.get('requestId') ?? randomUUID(), childTrace(req.headers.traceparent as string | undefined).traceparent, base(req)),
      ),
    );
    scope.post(
      '/queries/v1/abort-request',
      sessionRoute(async ({ body }, s) => {
        const requestId = typeof body.requestId === 'string' ? body.requestId : '';
        return ok(await statements.abort(s, requestId ? await statements.byRequest(s, requestId) : undefined));
      }),
    );
    scope.post(
      '/queries/:id/abort-request',
      sessionRoute(async ({ req }, s) => ok(await statements.abort(s, (req.params as { id: string }).id))),
    );

    // Result polls and monitoring. The router folds repeated slashes (adapters/http/server.ts): the
    // Python connector 5 asks `/monitoring/queries//<id>`.
    scope.get(
      '/queries/:id/result',
      sessionRoute(({ req }, s) => results.answer(s, (req.params as { id: string }).id, Date.now() + d.holdMs, base(req))),
    );
    scope.get(
      '/monitoring/queries/:id',
      sessionRoute(async ({ req }, s) => ok(await queryStatus(results, s, (req.params as { id: string }).id))),
    );

    scope.get<{ Params: { id: string; index: string }; Querystring: { exp?: string; sig?: string } }>('/sf/chunks/:id/:index', async (req, reply) => {
      const key = req.headers['x-phigate-chunk-key'];
      try {
        const body = await results.chunk(
          req.params.id,
          req.params.index,
          Number(req.query.exp),
          req.query.sig ?? '',
          typeof key === 'string' ? key : undefined,
        );
        return reply.code(200).header('content-type', 'application/octet-stream').header('content-encoding', 'gzip').send(body);
      } catch (err) {
        const refused = chunkRefusal(err);
        return reply.code(refused.status).header('content-type', 'text/plain').send(refused.body);
      }
    });
  });
}
