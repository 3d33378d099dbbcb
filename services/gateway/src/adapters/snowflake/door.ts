import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { TokenVerifier } from '@phigate/auth';
import { AppError, isAppError, isErrorCode, toAppError } from '@phigate/errors';
import {
  chunkBody,
  chunkSlices,
  decodeBody,
  dmlCounters,
  type Envelope,
  inProgress,
  LOGIN,
  loginData,
  loginRefusal,
  monitoringData,
  ok,
  renewData,
  resultData,
  type SessionInfo,
  sessionExpired,
  sessionTokenOf,
  statementTypeId,
} from '@phigate/snowflake-wire';
import { childTrace, type Logger } from '@phigate/telemetry';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HeldQueries } from '../../domain/held-queries.js';
import type { RequestContext } from '../../domain/ports.js';
import type { QueryResult, QueryService } from '../../domain/query-service.js';
import { upstreamText, withScrubbedUpstream } from '../../domain/scrub-error.js';
import { bindStatement, takesArrayBinds } from './binds.js';
import { encodeResult } from './encoding.js';
import { errorEnvelope } from './protocol.js';
import type { ChunkMeta, QueryRecord, SfSession, SfStore } from './store.js';

/** Largest request body the door accepts (after gunzip): statements with their bind values. */
const MAX_BODY = 4 * 1024 * 1024;
/** How often a poll re-reads the state of a statement another replica is running. */
const REMOTE_POLL_MS = 250;

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
}

type Sessioned = { session: SfSession } | { refusal: Envelope };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** Snowflake folds unquoted identifiers to upper case: compare names as it would. */
const sameName = (a: string, b: string) => a.replace(/^"|"$/g, '').toUpperCase() === b.replace(/^"|"$/g, '').toUpperCase();

const parseBody = (raw: unknown) => decodeBody(raw, MAX_BODY);

/** Where a session stands, as login and result responses report it. */
function sessionInfo(s: Pick<SfSession, 'database' | 'schema' | 'warehouse' | 'role'>): SessionInfo {
  return { databaseName: s.database, schemaName: s.schema, warehouseName: s.warehouse, roleName: s.role };
}

/** The statement's first keyword, for describe-only answers. */
function firstKeyword(sql: string): string {
  const m = /^\s*(?:(?:--[^\n]*\n|\/\*[\s\S]*?\*\/)\s*)*([A-Za-z]+)/.exec(sql);
  const k = (m?.[1] ?? '').toUpperCase();
  return k === 'WITH' || k === 'SHOW' || k === 'DESCRIBE' || k === 'DESC' ? 'SELECT' : k;
}

/**
 * The Snowflake door: the REST endpoints the official drivers (snowflake-sdk, snowflake-connector-
 * python, snowflake-jdbc) use, on the gateway's HTTP port. Login takes the IdP access token
 * (AUTHENTICATOR=OAUTH) and the phigate connection name as the account; every statement goes
 * through the same lifecycle as the HTTP API; a statement held for approval answers "in progress"
 * and the driver's own polling waits for it.
 */
export function registerSnowflakeDoor(app: FastifyInstance, d: SnowflakeDoorDeps): void {
  const local = new Map<string, Promise<void>>();
  const hmac = (what: string) => createHmac('sha256', d.store.signingKey()).update(what).digest('base64url');
  const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
  /**
   * Session events form one timeline under a request id derived from the session id (request ids
   * are UUIDs in the event contract; Snowflake session ids are numbers, as the drivers expect).
   */
  const sessionContext = (s: SfSession): RequestContext => ({
    requestId: uuidOf(`snowflake-session\0${s.id}`),
    sessionId: String(s.id),
    frontDoor: 'snowflake',
    identity: s.identity,
    connection: s.connection,
    role: s.role,
    traceparent: '',
  });
  const chunkHeaderKey = (q: QueryRecord) => hmac(`chunk-key\0${q.queryId}\0${q.sessionId}`);

  async function sessionOf(req: FastifyRequest): Promise<Sessioned> {
    const token = sessionTokenOf(req.headers.authorization);
    if (!token) return { refusal: loginRefusal(LOGIN.AUTH_HEADER_MISSING, 'Authorization header not found in the request data.') };
    const s = await d.store.sessionByToken(token);
    if (!s) return { refusal: loginRefusal(LOGIN.SESSION_TOKEN_INVALID, 'User must login again to access the service.') };
    if (Date.now() > s.tokenExpires) return { refusal: sessionExpired(LOGIN.SESSION_TOKEN_EXPIRED, 'Session token has expired.') };
    return { session: s };
  }

  const base = (req: FastifyRequest) => d.publicUrl?.replace(/\/$/, '') ?? `${req.protocol}://${req.headers.host ?? '127.0.0.1'}`;

  /** A finished result's `data`, with chunk URLs (signed, expiring) minted for this answer. */
  function withChunkUrls(q: QueryRecord, req: FastifyRequest): Record<string, unknown> {
    const data = { ...(q.data ?? {}) };
    if (q.chunks?.length) {
      const exp = Date.now() + 10 * 60_000;
      data.chunks = q.chunks.map((c, i) => ({
        url: `${base(req)}/sf/chunks/${q.queryId}/${i}?exp=${exp}&sig=${hmac(`chunk\0${q.queryId}\0${i}\0${exp}`)}`,
        ...c,
      }));
      data.chunkHeaders = { 'x-phigate-chunk-key': chunkHeaderKey(q) };
      data.qrmk = null;
    }
    return data;
  }

  /** Shapes a masked result as Snowflake's result data; rows past the first chunk go to sealed chunks. */
  async function complete(q: QueryRecord, s: Pick<SfSession, 'database' | 'schema' | 'warehouse' | 'role'>, r: QueryResult): Promise<void> {
    const counters = r.affectedRows !== undefined ? dmlCounters(r.command, r.affectedRows) : undefined;
    const { rowtype, rowset } = counters ? { rowtype: counters.columns, rowset: [counters.row] } : encodeResult(r.columns, r.rows);
    const total = rowset.length;
    const chunked = !counters && total > d.chunkRows;
    const chunks: ChunkMeta[] = [];
    if (chunked) {
      for (const c of chunkSlices(total, d.chunkRows)) {
        const { body, uncompressedSize, compressedSize } = chunkBody(rowset.slice(c.start, c.start + c.rowCount));
        await d.store.putChunk(q.queryId, c.index, body);
        chunks.push({ rowCount: c.rowCount, uncompressedSize, compressedSize });
      }
    }
    q.data = resultData({
      queryId: q.queryId,
      columns: rowtype,
      rowset: chunked ? rowset.slice(0, d.chunkRows) : rowset,
      total,
      statementTypeId: statementTypeId(r.command),
      session: sessionInfo(s),
      arrayBindSupported: false,
    });
    q.chunks = chunks;
    q.status = 'done';
    q.endTime = Date.now();
  }

  /** Writes a final state unless the client aborted the statement meanwhile (an abort wins). */
  async function settleRecord(q: QueryRecord): Promise<void> {
    const now = await d.store.getQuery(q.queryId);
    if (now?.status === 'aborted') return;
    await d.store.putQuery(q);
  }

  async function run(s: SfSession, q: QueryRecord, sql: string, params: unknown[], traceparent: string): Promise<void> {
    try {
      const outcome = await d.queries.submit({
        requestId: q.queryId,
        sessionId: String(s.id),
        frontDoor: 'snowflake',
        identity: s.identity,
        connection: s.connection,
        sql,
        params,
        traceparent,
      });
      if (outcome.kind === 'held') {
        q.status = 'held';
        d.log.info({ requestId: q.queryId, sessionId: s.id, approvalId: outcome.held.approvalId }, 'snowflake statement held for approval');
        const keep = Date.parse(outcome.held.expiresAt) - Date.now() + d.heldRetainMs;
        const now = await d.store.getQuery(q.queryId);
        if (now?.status !== 'aborted') await d.store.putQuery(q, Math.max(keep, 60_000));
        return;
      }
      await complete(q, s, outcome.result);
      d.log.info({ requestId: q.queryId, sessionId: s.id, rows: outcome.result.rowCount, chunks: q.chunks?.length ?? 0 }, 'snowflake statement completed');
    } catch (err) {
      const e = withScrubbedUpstream(toAppError(err), sql);
      d.log.info({ requestId: q.queryId, sessionId: s.id, code: e.code }, 'snowflake statement refused');
      q.status = 'failed';
      q.error = statementError(e, q.queryId);
      q.endTime = Date.now();
    }
    await settleRecord(q);
  }

  /**
   * The answer for a statement: its result or error as soon as there is one, else "in progress"
   * after holding the request open until `deadline` (drivers poll again at once, so never spin).
   */
  async function answer(req: FastifyRequest, s: SfSession, queryId: string, deadline: number, asyncCode: boolean): Promise<Envelope> {
    for (;;) {
      const q = await d.store.getQuery(queryId);
      if (!q || q.subject !== s.identity.subject || q.issuer !== s.identity.issuer)
        return errorEnvelope(new AppError('GATEWAY_SF_QUERY_NOT_FOUND', { message: `Statement ${queryId.slice(0, 40)} not found` }), queryId);
      if (q.status === 'done') return ok(withChunkUrls(q, req));
      if (q.status === 'failed' || q.status === 'aborted') return q.error ?? errorEnvelope(new AppError('COMMON_INTERNAL'), queryId);
      const left = deadline - Date.now();
      if (q.status === 'held') {
        const state = await d.held.view(queryId, s.identity.subject, s.identity.issuer);
        if (!state) return errorEnvelope(new AppError('GATEWAY_SF_QUERY_NOT_FOUND', { message: 'the held statement is no longer known (expired)' }), queryId);
        const settled = state && left > 0 && (state.status === 'pending' || state.status === 'running') ? await d.held.settle(queryId, deadline) : state;
        if (settled?.outcome?.kind === 'result') {
          await complete(q, s, settled.outcome.result);
          await settleRecord(q);
          continue;
        }
        if (settled?.outcome?.kind === 'error') {
          const o = settled.outcome;
          q.status = 'failed';
          q.error = statementError(new AppError(isErrorCode(o.code) ? o.code : 'COMMON_INTERNAL', { message: o.message, details: o.details }), queryId);
          q.endTime = Date.now();
          await settleRecord(q);
          continue;
        }
        if (Date.now() >= deadline) return inProgress(queryId, asyncCode);
        await sleep(Math.min(deadline - Date.now(), REMOTE_POLL_MS));
        continue;
      }
      if (left <= 0) return inProgress(queryId, asyncCode);
      const mine = local.get(queryId);
      await (mine ? Promise.race([mine, sleep(left)]) : sleep(Math.min(left, REMOTE_POLL_MS)));
    }
  }

  async function login(req: FastifyRequest, body: Record<string, unknown>): Promise<Envelope> {
    const data = (body.data && typeof body.data === 'object' ? body.data : {}) as Record<string, unknown>;
    const authenticator = String(data.AUTHENTICATOR ?? 'SNOWFLAKE').toUpperCase();
    const refuse = (code: string, message: string, reason: string) => {
      d.log.info({ authenticator: authenticator.slice(0, 40), code, reason }, 'snowflake login refused');
      return loginRefusal(code, message, { authnMethod: authenticator.slice(0, 40) });
    };
    const onlyOauth = 'phigate accepts AUTHENTICATOR=OAUTH with an access token from your identity provider (token=<access token>).';
    if (authenticator !== 'OAUTH') {
      const e = new AppError('GATEWAY_SF_AUTHENTICATOR_UNSUPPORTED');
      if (authenticator === 'SNOWFLAKE_JWT') return refuse(LOGIN.JWT_TOKEN_INVALID, `JWT token is invalid. ${onlyOauth}`, e.code);
      return refuse(LOGIN.INCORRECT_USERNAME_PASSWORD, `Incorrect username or password was specified. ${onlyOauth}`, e.code);
    }
    let identity: Awaited<ReturnType<TokenVerifier>>;
    try {
      identity = await d.verify(typeof data.TOKEN === 'string' ? data.TOKEN : undefined);
    } catch (err) {
      const e = toAppError(err);
      const why = typeof e.details.reason === 'string' ? ` (${e.details.reason})` : '';
      if (e.code === 'AUTH_TOKEN_EXPIRED') return refuse(LOGIN.OAUTH_TOKEN_EXPIRED, 'OAuth access token expired. [phigate AUTH_TOKEN_EXPIRED]', e.code);
      if (e.code === 'AUTH_ISSUER_UNAVAILABLE')
        return refuse(
          LOGIN.OAUTH_TOKEN_INVALID,
          'Invalid OAuth access token: the identity provider cannot be reached to verify it; try again. [phigate AUTH_ISSUER_UNAVAILABLE]',
          e.code,
        );
      return refuse(LOGIN.OAUTH_TOKEN_INVALID, `Invalid OAuth access token${why}. [phigate ${e.code}]`, e.code);
    }
    const account = String(data.ACCOUNT_NAME ?? '').toLowerCase();
    let bound: ReturnType<QueryService['bind']>;
    try {
      bound = d.queries.bind(identity, account);
    } catch {
      // Unknown and unbound connections get the same answer: never confirm which exist.
      return refuse(
        LOGIN.OBJECT_NOT_AUTHORIZED,
        `Account '${account.slice(0, 63)}' does not exist or this identity is not authorized to use it (the account names a phigate connection).`,
        'GATEWAY_SF_ACCOUNT_UNKNOWN',
      );
    }
    const q = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
    const { conn, role } = bound;
    const sf = conn.type === 'snowflake';
    const shown = (v: string) => (sf ? v.toUpperCase() : v);
    const roleName = q.get('roleName');
    if (roleName && !sameName(roleName, role))
      return refuse(
        LOGIN.ROLE_NOT_AUTHORIZED,
        `Role '${roleName.slice(0, 63)}' specified in the connect string does not exist or not authorized. This identity's role on '${conn.name}' is ${shown(role)}.`,
        'GATEWAY_SF_ROLE_NOT_AUTHORIZED',
      );
    const database = q.get('databaseName');
    if (database && !sameName(database, conn.database))
      return refuse(
        LOGIN.OBJECT_NOT_AUTHORIZED,
        `The requested database does not exist or not authorized. The database of '${conn.name}' is ${shown(conn.database)}.`,
        'GATEWAY_SF_ACCOUNT_UNKNOWN',
      );
    const schema = q.get('schemaName');
    if (schema && !sameName(schema, conn.defaultSchema))
      return refuse(
        LOGIN.OBJECT_NOT_AUTHORIZED,
        `The requested schema does not exist or not authorized. Statements on '${conn.name}' run in schema ${shown(conn.defaultSchema)} (name other schemas in full).`,
        'GATEWAY_SF_ACCOUNT_UNKNOWN',
      );
    const now = Date.now();
    const { session, token, masterToken } = await d.store.createSession({
      identity,
      connection: conn.name,
      role: shown(role),
      database: shown(conn.database),
      schema: shown(conn.defaultSchema),
      warehouse: q.get('warehouse')?.toUpperCase() ?? 'PHIGATE',
      tokenExpires: now + d.sessionValiditySec * 1000,
      masterExpires: now + d.masterValiditySec * 1000,
    });
    // The login is on the audit trail (OCSF Authentication) before the driver gets its tokens: no
    // session without its record (fail closed).
    try {
      await d.queries.recordOrFail(sessionContext(session), [{ type: 'session.opened', clientAddress: req.ip ?? '' }]);
    } catch (err) {
      await d.store.endSession(session).catch(() => undefined);
      const e = toAppError(err, 'GATEWAY_AUDIT_UNAVAILABLE');
      return refuse(LOGIN.INCORRECT_USERNAME_PASSWORD, `The login could not be recorded in the audit log, so it was refused. [phigate ${e.code}]`, e.code);
    }
    d.log.info({ sessionId: session.id, subject: identity.subject, connection: conn.name, role }, 'snowflake session opened');
    return ok(
      loginData({
        token,
        masterToken,
        validityInSeconds: d.sessionValiditySec,
        masterValidityInSeconds: d.masterValiditySec,
        sessionId: session.id,
        displayUserName: identity.clientId,
        sessionInfo: sessionInfo(session),
      }),
    );
  }

  async function queryRequest(req: FastifyRequest, s: SfSession, body: Record<string, unknown>): Promise<Envelope> {
    const params = new URLSearchParams(req.url.slice(req.url.indexOf('?') + 1));
    const requestId = params.get('requestId') ?? randomUUID();
    const sql = typeof body.sqlText === 'string' ? body.sqlText : '';
    const asyncExec = body.asyncExec === true;
    const deadline = Date.now() + d.holdMs;
    if (body.describeOnly === true) {
      // Describe-only (JDBC prepares this way) must not execute: answer the shape it can know.
      const command = firstKeyword(sql);
      return ok(
        resultData({
          queryId: randomUUID(),
          // A DML statement's result is its counters (Python's executemany reads them before binding).
          columns: dmlCounters(command, 0)?.columns ?? [],
          rowset: [],
          total: 0,
          statementTypeId: statementTypeId(command),
          session: sessionInfo(s),
          numberOfBinds: (sql.match(/\?/g) ?? []).length,
          arrayBindSupported: takesArrayBinds(sql),
        }),
      );
    }
    const claim = await d.store.claimRequest(s.id, requestId, randomUUID());
    if (claim.fresh) {
      let bound: { sql: string; params: unknown[] };
      try {
        bound = bindStatement(sql, body.bindings);
      } catch (err) {
        return errorEnvelope(err, claim.queryId);
      }
      const q: QueryRecord = {
        queryId: claim.queryId,
        sessionId: s.id,
        subject: s.identity.subject,
        issuer: s.identity.issuer,
        asyncExec,
        status: 'running',
        startTime: Date.now(),
        endTime: 0,
      };
      await d.store.putQuery(q);
      const trace = childTrace(req.headers.traceparent as string | undefined);
      const p = run(s, q, bound.sql, bound.params, trace.traceparent).finally(() => setTimeout(() => local.delete(q.queryId), 60_000).unref());
      local.set(q.queryId, p);
      if (asyncExec) return inProgress(q.queryId, true);
    }
    return answer(req, s, claim.queryId, deadline, asyncExec);
  }

  async function abort(s: SfSession, queryId: string | undefined): Promise<Envelope> {
    const q = queryId ? await d.store.getQuery(queryId) : undefined;
    if (!q || q.sessionId !== s.id || (q.status !== 'running' && q.status !== 'held'))
      return errorEnvelope(new AppError('GATEWAY_SF_NOT_EXECUTING', { message: 'Identified SQL statement is not currently executing.' }), queryId ?? '');
    // A held statement's continuation is cancelled too, so a later approval does not run it.
    if (q.status === 'held') await d.held.cancel(q.queryId, s.identity.subject, s.identity.issuer);
    q.status = 'aborted';
    q.endTime = Date.now();
    q.error = errorEnvelope(new AppError('GATEWAY_SF_QUERY_CANCELED'), q.queryId);
    await d.store.putQuery(q);
    d.log.info({ requestId: q.queryId, sessionId: s.id }, 'snowflake statement aborted by the client');
    return ok(null);
  }

  function monitoring(q: QueryRecord | undefined, s: SfSession): Envelope {
    const mine = q && q.subject === s.identity.subject && q.issuer === s.identity.issuer ? q : undefined;
    const status = { running: 'RUNNING', held: 'QUEUED', done: 'SUCCESS', failed: 'FAILED_WITH_ERROR', aborted: 'ABORTED' } as const;
    return ok(
      monitoringData(
        mine && {
          id: mine.queryId,
          status: status[mine.status],
          startTime: mine.startTime,
          endTime: mine.endTime,
          sessionId: mine.sessionId,
          error: mine.error,
        },
        Date.now(),
      ),
    );
  }

  app.register(async (scope) => {
    // Drivers send gzip'd or plain JSON with any content type: read every body as bytes.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_BODY }, (_req, body, done) => done(null, body));
    const send = (reply: FastifyReply, env: Envelope) => reply.code(200).header('content-type', 'application/json').send(JSON.stringify(env));
    scope.setErrorHandler((err, req, reply) => {
      const e = withScrubbedUpstream(isAppError(err) ? err : toAppError(err));
      if (e.kind === 'INTERNAL' || e.kind === 'UNAVAILABLE')
        d.log.warn({ reqId: req.id, code: e.code, cause: (e.cause as { code?: string })?.code }, 'snowflake request failed');
      void send(reply, statementError(e, String(req.id)));
    });

    const withBody =
      (handler: (req: FastifyRequest, body: Record<string, unknown>) => Promise<Envelope>) => async (req: FastifyRequest, reply: FastifyReply) => {
        let body: Record<string, unknown>;
        try {
          body = parseBody(req.body);
        } catch {
          return send(reply, { success: false, code: LOGIN.UNSUPPORTED_REQUEST, message: 'The request body is not valid JSON.', data: null, headers: null });
        }
        return send(reply, await handler(req, body));
      };
    const withSession =
      (handler: (req: FastifyRequest, s: SfSession, body: Record<string, unknown>) => Promise<Envelope>) =>
      async (req: FastifyRequest, reply: FastifyReply) => {
        let body: Record<string, unknown>;
        try {
          body = parseBody(req.body);
        } catch {
          return send(reply, { success: false, code: LOGIN.UNSUPPORTED_REQUEST, message: 'The request body is not valid JSON.', data: null, headers: null });
        }
        const s = await sessionOf(req);
        if ('refusal' in s) return send(reply, s.refusal);
        return send(reply, await handler(req, s.session, body));
      };

    scope.post('/session/v1/login-request', withBody(login));

    scope.post(
      '/session/token-request',
      withBody(async (req, body) => {
        const master = sessionTokenOf(req.headers.authorization);
        const s = master ? await d.store.sessionByMaster(master) : undefined;
        if (!master || !s) return loginRefusal(LOGIN.SESSION_TOKEN_INVALID, 'User must login again to access the service.');
        if (Date.now() > s.masterExpires) {
          await d.store.endSession(s);
          return loginRefusal(LOGIN.MASTER_TOKEN_EXPIRED, 'Authentication token has expired.  The user must authenticate again.');
        }
        if (body.requestType !== undefined && body.requestType !== 'RENEW') return loginRefusal(LOGIN.UNSUPPORTED_REQUEST, 'Unsupported token request type.');
        const renewed = await d.store.renew(s, d.sessionValiditySec * 1000);
        d.log.info({ sessionId: s.id }, 'snowflake session renewed');
        return ok(
          renewData({
            sessionToken: renewed.token,
            validityInSecondsST: Math.floor((renewed.session.tokenExpires - Date.now()) / 1000),
            masterToken: master,
            validityInSecondsMT: Math.max(0, Math.floor((s.masterExpires - Date.now()) / 1000)),
            sessionId: s.id,
          }),
        );
      }),
    );

    scope.post(
      '/session/heartbeat',
      withSession(async () => ok(null)),
    );

    scope.post(
      '/session',
      withSession(async (req, s) => {
        if (new URLSearchParams(req.url.slice(req.url.indexOf('?') + 1)).get('delete') !== 'true')
          return loginRefusal(LOGIN.UNSUPPORTED_REQUEST, 'Unsupported request');
        await d.store.endSession(s);
        const openedAt = s.masterExpires - d.masterValiditySec * 1000;
        await d.queries
          .recordOrFail(sessionContext(s), [{ type: 'session.closed', reason: 'logout', durationMs: Math.max(0, Date.now() - openedAt) }])
          .catch(() => d.log.warn({ sessionId: s.id }, 'session.closed not recorded (audit unavailable)'));
        d.log.info({ sessionId: s.id }, 'snowflake session closed');
        return ok(null);
      }),
    );

    // Client telemetry is acknowledged and dropped: it never reaches logs (it can carry SQL text).
    scope.post('/telemetry/send', async (_req, reply) => send(reply, ok('Log Received')));

    scope.post('/queries/v1/query-request', withSession(queryRequest));

    scope.get<{ Params: { id: string } }>(
      '/queries/:id/result',
      withSession(async (req, s) => answer(req, s, (req.params as { id: string }).id, Date.now() + d.holdMs, false)),
    );

    scope.get<{ Params: { id: string } }>(
      '/monitoring/queries/:id',
      withSession(async (req, s) => monitoring(await d.store.getQuery((req.params as { id: string }).id), s)),
    );

    scope.post(
      '/queries/v1/abort-request',
      withSession(async (_req, s, body) => {
        const requestId = typeof body.requestId === 'string' ? body.requestId : '';
        return abort(s, requestId ? await d.store.queryByRequest(s.id, requestId) : undefined);
      }),
    );

    scope.post<{ Params: { id: string } }>(
      '/queries/:id/abort-request',
      withSession(async (req, s) => abort(s, (req.params as { id: string }).id)),
    );

    // Result chunks: fetched without the session token (drivers treat them as presigned cloud URLs),
    // so each needs an unexpired signed URL and the per-result key sent in the chunk header.
    scope.get<{ Params: { id: string; index: string }; Querystring: { exp?: string; sig?: string } }>('/sf/chunks/:id/:index', async (req, reply) => {
      const { id, index } = req.params;
      const exp = Number(req.query.exp);
      const sig = req.query.sig ?? '';
      const key = req.headers['x-phigate-chunk-key'];
      const forbidden = () => reply.code(403).header('content-type', 'text/plain').send('Forbidden');
      if (!/^\d{1,6}$/.test(index) || !Number.isFinite(exp) || exp < Date.now() || !same(sig, hmac(`chunk\0${id}\0${index}\0${exp}`))) return forbidden();
      const q = await d.store.getQuery(id);
      if (q?.status !== 'done' || typeof key !== 'string' || !same(key, chunkHeaderKey(q))) return forbidden();
      const body = await d.store.getChunk(id, Number(index));
      if (!body) return reply.code(404).header('content-type', 'text/plain').send('Not Found');
      return reply.code(200).header('content-type', 'application/octet-stream').header('content-encoding', 'gzip').send(body);
    });
  });
}

/** A stable UUID-shaped id for a name (SHA-256 based, version nibble 8: custom). */
function uuidOf(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((Number.parseInt(h[16] ?? '0', 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * A statement's error envelope. An upstream error reads as the upstream's own message scrubbed of
 * values (domain/scrub-error.ts; its DETAIL on the next line) with the upstream's code and SQLSTATE,
 * which errorEnvelope keeps; the upstream's original text never reaches the driver.
 */
function statementError(e: AppError, queryId: string): Envelope {
  const env = errorEnvelope(e, queryId);
  const upstream = upstreamText(e);
  if (env.success || e.code !== 'GATEWAY_UPSTREAM_ERROR' || !upstream) return env;
  const text = upstream.detail ? `${upstream.message}\n${upstream.detail}` : upstream.message;
  return { ...env, message: `${text} (phigate ${e.code}, request ${queryId})` };
}
