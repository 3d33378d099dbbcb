import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { TokenVerifier } from '@phigate/auth';
import type { Analysis, StatementFacts } from '@phigate/model';
import {
  chunkBody,
  chunkSlices,
  decodeBindings,
  dmlCounters,
  type Envelope,
  inProgress,
  isChunked,
  LOGIN,
  loginData,
  monitoringData,
  ok,
  renewData,
  resultData,
  SQL,
  STATEMENT_TYPE,
  sessionExpired,
  sessionTokenOf,
  statementTypeId,
  textColumn,
} from '@phigate/snowflake-wire';
import type { Analyser, Catalog } from '@phigate/sql';
import { type LoadedUser, passwordMatches, verifyKeyPairJwt } from './adapters/credentials.js';
import type { EncodedResult, Engine, EngineSession, ExecOutcome } from './adapters/duckdb/engine.js';
import { type GrantChecker, refusalMessage } from './domain/grants.js';
import { fail, SnowflakeError } from './domain/protocol.js';
import { quotedIgnoreCaseChange } from './domain/session-parameters.js';
import { CODES, fromAnalyser, type Statement, toSnowflakeError } from './domain/snowflake-errors.js';
import { quotedNames, type SessionContext, systemWait, translateMapped } from './domain/translate.js';
import { foldIdentifier } from './domain/users.js';

export type Log = (level: 'info' | 'warn' | 'error', event: string, fields?: Record<string, unknown>) => void;

export interface WarehouseOptions {
  engine: Engine;
  catalog: Catalog;
  analyser: Analyser;
  grants: GrantChecker;
  users: LoadedUser[];
  verify: TokenVerifier;
  log: Log;
  /** Longest a query-request or result poll is held before answering "in progress". */
  holdMs: number;
  /** Rows per result chunk (and in the inline first part) once a result is chunked. */
  chunkRows: number;
  sessionValiditySec: number;
  masterValiditySec: number;
  timezone: string;
  warehouseName: string;
}

interface Session {
  id: number;
  token: string;
  tokenExpires: number;
  masterToken: string;
  masterExpires: number;
  user: LoadedUser;
  role: string;
  database: string;
  schema: string;
  warehouse: string;
  engine: EngineSession;
  byRequestId: Map<string, Query>;
  /** QUOTED_IDENTIFIERS_IGNORE_CASE: quoted names resolve as if unquoted. */
  quotedIgnoreCase: boolean;
}

type Status = 'RUNNING' | 'SUCCESS' | 'FAILED_WITH_ERROR' | 'ABORTED';

interface Result extends EncodedResult {
  statementTypeId: number;
  /** describeOnly: how many binds the statement takes. */
  numberOfBinds?: number;
}

interface Query {
  id: string;
  session: Session;
  status: Status;
  startTime: number;
  endTime: number;
  asyncExec: boolean;
  result?: Result;
  error?: SnowflakeError;
  done: Promise<void>;
  abort: () => void;
  chunkKey: string;
  chunkCache: Map<number, Buffer>;
}

/** What a route hands back: the JSON envelope (always HTTP 200, as Snowflake answers). */
export type Reply = Envelope;

const QUERY_TTL_MS = 15 * 60_000;
const MAX_QUERIES = 2000;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

/** Snowflake's query ids look like `01b5a2c3-0603-8a4f-0000-…`: a UUID is what drivers validate. */
const newQueryId = () => randomUUID();

/**
 * The warehouse's protocol logic: login and sessions, statement execution with grants,
 * idempotent query requests, long-polled results, abort and result chunks. HTTP-agnostic: the
 * routes pass parsed bodies and headers in and send the envelope back.
 */
export class Warehouse {
  private readonly sessions = new Map<string, Session>();
  private readonly masters = new Map<string, Session>();
  private readonly queries = new Map<string, Query>();
  private readonly chunkSigningKey = randomBytes(32);
  private nextSessionId = Date.now() * 1000;
  readonly counters = { logins: 0, loginFailures: 0, queries: 0, queryFailures: 0 };

  constructor(private readonly o: WarehouseOptions) {}

  // ---- login and sessions -----------------------------------------------------------------

  async login(body: unknown, params: URLSearchParams): Promise<Reply> {
    const data = ((body as { data?: unknown } | null)?.data ?? {}) as Record<string, unknown>;
    const authenticator = String(data.AUTHENTICATOR ?? 'SNOWFLAKE').toUpperCase();
    const loginName = typeof data.LOGIN_NAME === 'string' ? foldIdentifier(data.LOGIN_NAME) : undefined;
    const refuse = (code: string, message: string, extra: Record<string, unknown> = {}) => {
      this.counters.loginFailures++;
      this.o.log('info', 'login.refused', { authenticator, code, ...(loginName ? { user: loginName } : {}) });
      return fail(new SnowflakeError(code, undefined, message, { nextAction: 'RETRY_LOGIN', authnMethod: authenticator, ...extra }));
    };
    let user: LoadedUser | undefined;
    switch (authenticator) {
      case 'OAUTH': {
        const token = typeof data.TOKEN === 'string' ? data.TOKEN : undefined;
        const hint = token ? `[${token.length > 12 ? `${token.slice(0, 6)}…` : '…'}]` : '[]';
        try {
          const identity = await this.o.verify(token);
          user = this.o.users.find((u) => u.oauthSubject === identity.subject);
          if (!user) return refuse(LOGIN.OAUTH_TOKEN_INVALID, `Invalid OAuth access token. The user in the token is not a user of this account. ${hint}`);
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code === 'AUTH_TOKEN_EXPIRED') return refuse(LOGIN.OAUTH_TOKEN_EXPIRED, `OAuth access token expired. ${hint}`);
          if (code === 'AUTH_ISSUER_UNAVAILABLE')
            return refuse(LOGIN.OAUTH_TOKEN_INVALID, `Invalid OAuth access token: the identity provider cannot be reached to verify it. ${hint}`);
          return refuse(LOGIN.OAUTH_TOKEN_INVALID, `Invalid OAuth access token. ${hint}`);
        }
        break;
      }
      case 'SNOWFLAKE': {
        user = this.o.users.find((u) => u.name === loginName);
        if (!user || !passwordMatches(user, data.PASSWORD)) return refuse(LOGIN.INCORRECT_USERNAME_PASSWORD, 'Incorrect username or password was specified.');
        break;
      }
      case 'SNOWFLAKE_JWT': {
        user = this.o.users.find((u) => u.name === loginName);
        if (!user || !(await verifyKeyPairJwt(user, data.TOKEN))) return refuse(LOGIN.JWT_TOKEN_INVALID, 'JWT token is invalid.');
        break;
      }
      default:
        return refuse(
          LOGIN.INCORRECT_USERNAME_PASSWORD,
          `Authenticator '${authenticator.slice(0, 40)}' is not supported by this account; use OAUTH, SNOWFLAKE_JWT or SNOWFLAKE.`,
        );
    }
    const roleParam = params.get('roleName');
    const role = roleParam ? foldIdentifier(roleParam) : user.defaultRole;
    if (!user.roles.includes(role) || !this.o.grants.hasRole(role))
      return refuse(
        LOGIN.ROLE_NOT_AUTHORIZED,
        `Role '${role.slice(0, 64)}' specified in the connect string does not exist or not authorized. Contact your local system administrator, or attempt to login with another role, e.g. ${user.defaultRole}.`,
      );
    const dbParam = params.get('databaseName');
    const database = dbParam ? foldIdentifier(dbParam) : this.o.engine.database;
    if (database !== this.o.engine.database) return refuse(LOGIN.OBJECT_NOT_AUTHORIZED, 'The requested database does not exist or not authorized.');
    const schemaParam = params.get('schemaName');
    const schema = schemaParam ? foldIdentifier(schemaParam) : 'PUBLIC';
    if (!this.o.catalog.tables(schema).length) return refuse(LOGIN.OBJECT_NOT_AUTHORIZED, 'The requested schema does not exist or not authorized.');
    const warehouse = params.get('warehouse') ? foldIdentifier(params.get('warehouse')!) : this.o.warehouseName;
    const now = Date.now();
    const session: Session = {
      id: this.nextSessionId++,
      token: `ST-${randomBytes(32).toString('base64url')}`,
      tokenExpires: now + this.o.sessionValiditySec * 1000,
      masterToken: `MT-${randomBytes(32).toString('base64url')}`,
      masterExpires: now + this.o.masterValiditySec * 1000,
      user,
      role,
      database,
      schema,
      warehouse,
      engine: await this.o.engine.openSession(schema, role),
      byRequestId: new Map(),
      quotedIgnoreCase: false,
    };
    this.sessions.set(session.token, session);
    this.masters.set(session.masterToken, session);
    this.counters.logins++;
    this.o.log('info', 'login.accepted', { authenticator, user: user.name, role, sessionId: session.id });
    return ok(
      loginData({
        token: session.token,
        masterToken: session.masterToken,
        validityInSeconds: this.o.sessionValiditySec,
        masterValidityInSeconds: this.o.masterValiditySec,
        sessionId: session.id,
        displayUserName: user.name,
        timezone: this.o.timezone,
        sessionInfo: sessionInfo(session),
      }),
    );
  }

  /** The session a `Snowflake Token="…"` header names, or the error a driver expects. */
  session(authorization: string | undefined): Session | Reply {
    const token = sessionTokenOf(authorization);
    if (!token) return fail(new SnowflakeError(LOGIN.AUTH_HEADER_MISSING, undefined, 'Authorization header not found in the request data.'));
    const s = this.sessions.get(token);
    if (!s) return fail(new SnowflakeError(LOGIN.SESSION_TOKEN_INVALID, undefined, 'User must login again to access the service.'));
    if (Date.now() > s.tokenExpires) return sessionExpired(LOGIN.SESSION_TOKEN_EXPIRED, 'Session token has expired.');
    return s;
  }

  renew(authorization: string | undefined, body: unknown): Reply {
    const master = sessionTokenOf(authorization);
    const s = master ? this.masters.get(master) : undefined;
    if (!s) return fail(new SnowflakeError(LOGIN.SESSION_TOKEN_INVALID, undefined, 'User must login again to access the service.'));
    if (Date.now() > s.masterExpires) {
      this.end(s);
      return fail(new SnowflakeError(LOGIN.MASTER_TOKEN_EXPIRED, undefined, 'Authentication token has expired.  The user must authenticate again.'));
    }
    const old = (body as { oldSessionToken?: unknown } | null)?.oldSessionToken;
    if (typeof old === 'string' && old !== s.token && this.sessions.has(old))
      return fail(new SnowflakeError(LOGIN.SESSION_TOKEN_INVALID, undefined, 'User must login again to access the service.'));
    this.sessions.delete(s.token);
    s.token = `ST-${randomBytes(32).toString('base64url')}`;
    s.tokenExpires = Date.now() + this.o.sessionValiditySec * 1000;
    this.sessions.set(s.token, s);
    this.o.log('info', 'session.renewed', { sessionId: s.id });
    return ok(
      renewData({
        sessionToken: s.token,
        validityInSecondsST: this.o.sessionValiditySec,
        masterToken: s.masterToken,
        validityInSecondsMT: Math.max(0, Math.floor((s.masterExpires - Date.now()) / 1000)),
        sessionId: s.id,
      }),
    );
  }

  logout(s: Session): Reply {
    this.end(s);
    this.o.log('info', 'session.closed', { sessionId: s.id });
    return ok(null);
  }

  private end(s: Session): void {
    this.sessions.delete(s.token);
    this.masters.delete(s.masterToken);
    for (const q of s.byRequestId.values()) if (q.status === 'RUNNING') q.abort();
    void s.engine.serial(async () => s.engine.close());
  }

  // ---- queries ------------------------------------------------------------------------------

  /** POST /queries/v1/query-request: a re-sent requestId attaches to the query it started. */
  async queryRequest(s: Session, body: unknown, params: URLSearchParams, base: string): Promise<Reply> {
    const b = (body ?? {}) as Record<string, unknown>;
    const requestId = params.get('requestId') ?? undefined;
    let q = requestId ? s.byRequestId.get(requestId) : undefined;
    if (!q) {
      q = this.start(s, b);
      if (requestId) s.byRequestId.set(requestId, q);
    }
    if (q.asyncExec && q.status === 'RUNNING') return inProgress(q.id, true);
    return this.answer(q, base, q.asyncExec);
  }

  /** GET /queries/<id>/result: long-polled. */
  async result(s: Session, queryId: string, base: string): Promise<Reply> {
    const q = this.queries.get(queryId);
    if (!q || q.session.user.name !== s.user.name)
      return fail(new SnowflakeError(SQL.OBJECT_MISSING.code, SQL.OBJECT_MISSING.sqlState, `Statement ${queryId.slice(0, 40)} not found`, { queryId }));
    return this.answer(q, base, false);
  }

  /** GET /monitoring/queries/<id>. */
  monitoring(s: Session, queryId: string): Reply {
    const q = this.queries.get(queryId);
    const mine = q && q.session.user.name === s.user.name ? q : undefined;
    return ok(
      monitoringData(
        mine && { id: mine.id, status: mine.status, startTime: mine.startTime, endTime: mine.endTime, sessionId: s.id, error: mine.error },
        Date.now(),
      ),
    );
  }

  /** Abort by query id, or by the request id of a statement whose query id the client does not know yet. */
  abort(s: Session, ref: { queryId?: string; requestId?: string }): Reply {
    const q = ref.queryId ? this.queries.get(ref.queryId) : ref.requestId ? s.byRequestId.get(ref.requestId) : undefined;
    if (!q || q.session !== s || q.status !== 'RUNNING')
      return fail(new SnowflakeError(SQL.NOT_EXECUTING.code, undefined, 'Identified SQL statement is not currently executing.'));
    q.abort();
    this.o.log('info', 'query.aborted', { queryId: q.id, sessionId: s.id });
    return ok(null);
  }

  /** GET of one result chunk: the signed URL and the chunk header secret both must match. */
  chunk(queryId: string, index: number, sig: string | undefined, key: string | undefined): { status: number; body?: Buffer } {
    const q = this.queries.get(queryId);
    if (!q?.result || !sig || sig !== this.sign(queryId, index) || key !== q.chunkKey) return { status: 403 };
    const slice = chunkSlices(q.result.rows.length, this.o.chunkRows)[index];
    if (!slice) return { status: 404 };
    let body = q.chunkCache.get(index);
    if (!body) {
      body = chunkBody(q.result.rows.slice(slice.start, slice.start + slice.rowCount)).body;
      q.chunkCache.set(index, body);
    }
    return { status: 200, body };
  }

  private sign(queryId: string, index: number): string {
    return createHmac('sha256', this.chunkSigningKey).update(`${queryId}/${index}`).digest('base64url');
  }

  private async answer(q: Query, base: string, asyncExec: boolean): Promise<Reply> {
    if (q.status === 'RUNNING') {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([q.done, new Promise<void>((r) => (timer = setTimeout(r, this.o.holdMs)))]);
      clearTimeout(timer);
    }
    if (q.status === 'RUNNING') return inProgress(q.id, asyncExec);
    if (q.error) return fail(q.error, { queryId: q.id });
    return ok(this.resultData(q, base));
  }

  private resultData(q: Query, base: string): Record<string, unknown> {
    const r = q.result!;
    const total = r.rows.length;
    const chunked = isChunked(r.statementTypeId, total, this.o.chunkRows);
    const data = resultData({
      queryId: q.id,
      columns: r.columns,
      rowset: chunked ? r.rows.slice(0, this.o.chunkRows) : r.rows,
      total,
      statementTypeId: r.statementTypeId,
      session: sessionInfo(q.session),
      timezone: this.o.timezone,
      numberOfBinds: r.numberOfBinds ?? 0,
      // Array binding (one statement, arrays of values) is executed row by row.
      arrayBindSupported: true,
      sendResultTime: q.endTime,
    });
    if (chunked) {
      data.chunks = chunkSlices(total, this.o.chunkRows).map((c) => ({
        url: `${base}/results/${q.id}/chunks/${c.index}?sig=${this.sign(q.id, c.index)}`,
        rowCount: c.rowCount,
        uncompressedSize: c.rowCount * 100,
        compressedSize: c.rowCount * 30,
      }));
      data.chunkHeaders = { 'x-phigate-chunk-key': q.chunkKey };
      data.qrmk = null;
    }
    return data;
  }

  private start(s: Session, b: Record<string, unknown>): Query {
    this.gc();
    const ac = new AbortController();
    const q: Query = {
      id: newQueryId(),
      session: s,
      status: 'RUNNING',
      startTime: Date.now(),
      endTime: 0,
      asyncExec: b.asyncExec === true,
      done: Promise.resolve(),
      abort: () => {
        if (q.status !== 'RUNNING') return;
        ac.abort();
        s.engine.interrupt();
      },
      chunkKey: randomBytes(24).toString('base64url'),
      chunkCache: new Map(),
    };
    this.queries.set(q.id, q);
    this.counters.queries++;
    const sqlText = typeof b.sqlText === 'string' ? b.sqlText : '';
    q.done = s.engine
      .serial(() => this.run(s, sqlText, b, ac.signal))
      .then(
        (result) => {
          if (ac.signal.aborted) throw canceled();
          q.result = result;
          q.status = 'SUCCESS';
        },
        (err: unknown) => {
          q.error = ac.signal.aborted ? canceled() : toSnowflakeError(err);
          q.status = ac.signal.aborted ? 'ABORTED' : 'FAILED_WITH_ERROR';
          this.counters.queryFailures++;
        },
      )
      .catch((err: unknown) => {
        q.error = toSnowflakeError(err);
        q.status = 'ABORTED';
      })
      .finally(() => {
        q.endTime = Date.now();
        this.o.log('info', 'query.finished', {
          queryId: q.id,
          sessionId: s.id,
          role: s.role,
          status: q.status,
          ...(q.error ? { code: q.error.code } : { rows: q.result?.rows.length ?? 0 }),
          durationMs: q.endTime - q.startTime,
        });
      });
    return q;
  }

  private gc(): void {
    const now = Date.now();
    for (const [id, q] of this.queries) {
      if ((q.status !== 'RUNNING' && now - q.endTime > QUERY_TTL_MS) || (this.queries.size > MAX_QUERIES && q.status !== 'RUNNING')) {
        this.queries.delete(id);
        for (const [rid, x] of q.session.byRequestId) if (x === q) q.session.byRequestId.delete(rid);
      }
    }
  }

  /** Analyse, authorise, translate and execute one statement as the session's role. */
  private async run(s: Session, sqlText: string, b: Record<string, unknown>, signal: AbortSignal): Promise<Result> {
    if (!sqlText.trim()) throw new SnowflakeError(CODES.EMPTY.code, CODES.EMPTY.sqlState, 'SQL compilation error:\nEmpty SQL statement.');
    const params = (b.parameters ?? {}) as Record<string, unknown>;
    if (/^\s*ALTER\s+SESSION\s+(SET|UNSET)\b/i.test(sqlText) && !/;\s*\S/.test(sqlText)) {
      const ignoreCase = quotedIgnoreCaseChange(sqlText);
      if (ignoreCase !== undefined) s.quotedIgnoreCase = ignoreCase === true;
      return statusResult('Statement executed successfully.', STATEMENT_TYPE.SCL);
    }
    const wait = systemWait(sqlText);
    if (wait) {
      await sleep(wait.ms, signal);
      return { statementTypeId: STATEMENT_TYPE.SELECT, columns: [textColumn(wait.label)], rows: [[`waited ${wait.ms / 1000} seconds`]] };
    }
    const analysis: Analysis = this.o.analyser(sqlText, 'snowflake', this.o.catalog, s.schema, { quotedIdentifiersIgnoreCase: s.quotedIgnoreCase });
    const expected = params.MULTI_STATEMENT_COUNT === undefined ? 1 : Number(params.MULTI_STATEMENT_COUNT);
    if (analysis.statements.length > 1 || (expected > 1 && analysis.statements.length !== expected))
      throw new SnowflakeError(
        SQL.STATEMENT_COUNT.code,
        SQL.STATEMENT_COUNT.sqlState,
        `Actual statement count ${Math.max(analysis.statements.length, 1)} did not match the desired statement count ${expected === 0 ? 1 : expected}.`,
      );
    if (!analysis.understood) throw await this.notUnderstood(s, sqlText, analysis.error);
    const facts = analysis.statements[0]!;
    const refusal = this.o.grants.check(s.role, facts);
    if (refusal) {
      this.o.log('info', 'query.refused', { sessionId: s.id, role: s.role, object: refusal.objectName, privilege: refusal.privilege });
      throw new SnowflakeError(SQL.ACCESS_DENIED.code, SQL.ACCESS_DENIED.sqlState, refusalMessage(refusal), { type: 'COMPILATION' });
    }
    if (facts.kind === 'use') return this.use(s, sqlText);
    if (facts.kind === 'show' || facts.kind === 'describe')
      throw new SnowflakeError(
        SQL.UNSUPPORTED.code,
        SQL.UNSUPPORTED.sqlState,
        `SQL compilation error:\n${facts.kind.toUpperCase()} is not supported by the local warehouse.`,
      );
    // From here on an engine error is reported as Snowflake reports it, placed in the client's text.
    const stmt: Statement = { sql: sqlText };
    try {
      const duck = translateMapped(sqlText, context(s));
      stmt.duck = duck;
      const isDml = dmlCounters(facts.kind, 0) !== undefined;
      // Result column names as Snowflake reports them: a quoted alias keeps its case unless the session ignores it.
      const quoted = s.quotedIgnoreCase ? new Set<string>() : quotedNames(sqlText);
      if (b.describeOnly === true) {
        const d = await s.engine.describe(duck.text, (raw) => (quoted.has(raw) ? raw : raw.toUpperCase()));
        const type = statementTypeId(facts.kind);
        const columns = isDml ? this.shape(facts, { kind: 'count', count: 0n }).columns : d.result.columns;
        return { statementTypeId: type, columns, rows: [], numberOfBinds: d.binds };
      }
      const bindRows = decodeBindings(b.bindings);
      const outcome: ExecOutcome = await s.engine.execute(duck.text, bindRows, isDml, (raw) =>
        quoted.has(raw) ? raw : raw === 'count_star()' ? 'COUNT(*)' : raw.toUpperCase(),
      );
      return this.shape(facts, outcome);
    } catch (err) {
      throw toSnowflakeError(err, stmt);
    }
  }

  /**
   * A statement the analyser could not follow: what Snowflake says of it (a missing table, schema
   * or database; else a syntax error, found by DuckDB parsing the translation, which binds and runs
   * nothing), or, for a statement that parses, the analyser's reason (the warehouse fails closed).
   */
  private async notUnderstood(s: Session, sqlText: string, error: string): Promise<SnowflakeError> {
    const known = fromAnalyser(error, sqlText, { database: s.database, hasSchema: (schema) => this.o.catalog.tables(schema).length > 0 });
    if (known) return known;
    const stmt: Statement = { sql: sqlText };
    try {
      stmt.duck = translateMapped(sqlText, context(s));
      await s.engine.parse(stmt.duck.text);
    } catch (err) {
      return toSnowflakeError(err, stmt);
    }
    return new SnowflakeError(CODES.SYNTAX.code, CODES.SYNTAX.sqlState, `SQL compilation error:\n${error}`, { type: 'COMPILATION' });
  }

  private shape(facts: StatementFacts, outcome: ExecOutcome): Result {
    const type = statementTypeId(facts.kind);
    if (outcome.kind === 'count') {
      // DuckDB reports one count; an UPDATE has no multi-joined rows, a MERGE is reported as updates.
      const counters = dmlCounters(facts.kind, outcome.count)!;
      return { statementTypeId: type, columns: counters.columns, rows: [counters.row] };
    }
    if (type !== STATEMENT_TYPE.SELECT) return statusResult('Statement executed successfully.', type);
    return { statementTypeId: type, ...outcome.result };
  }

  private async use(s: Session, sqlText: string): Promise<Result> {
    const m =
      /^\s*USE\s+(?:(ROLE|WAREHOUSE|DATABASE|SCHEMA)\s+)?("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)(?:\s*\.\s*("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*))?\s*;?\s*$/i.exec(
        sqlText,
      );
    if (!m) throw new SnowflakeError(SQL.SYNTAX.code, SQL.SYNTAX.sqlState, 'SQL compilation error:\nUSE of something this warehouse does not support.');
    const what = (m[1] ?? (m[3] ? 'SCHEMA' : 'DATABASE')).toUpperCase();
    const a = foldIdentifier(m[2]!);
    const b = m[3] ? foldIdentifier(m[3]) : undefined;
    const missing = () =>
      new SnowflakeError(CODES.CANNOT_USE.code, CODES.CANNOT_USE.sqlState, 'SQL compilation error:\nObject does not exist, or operation cannot be performed.');
    switch (what) {
      case 'ROLE':
        if (!s.user.roles.includes(a))
          throw new SnowflakeError(
            SQL.ROLE_NOT_ASSIGNED.code,
            SQL.ROLE_NOT_ASSIGNED.sqlState,
            `SQL access control error:\nRequested role '${a.slice(0, 64)}' is not assigned to the executing user. Specify another role to activate.`,
          );
        await s.engine.setRole(a);
        s.role = a;
        break;
      case 'WAREHOUSE':
        s.warehouse = a;
        break;
      case 'DATABASE':
        if (a !== this.o.engine.database) throw missing();
        break;
      case 'SCHEMA': {
        const db = b ? a : s.database;
        const schema = b ?? a;
        if (db !== this.o.engine.database || !this.o.catalog.tables(schema).length) throw missing();
        await s.engine.use(schema);
        s.schema = schema;
        break;
      }
    }
    return statusResult('Statement executed successfully.', STATEMENT_TYPE.USE);
  }
}

/** What translation substitutes for the session context functions. */
function context(s: Session): SessionContext {
  return { database: s.database, schema: s.schema, role: s.role, user: s.user.name, warehouse: s.warehouse };
}

/** Where a session stands, as login and result responses report it. */
function sessionInfo(s: Session) {
  return { databaseName: s.database, schemaName: s.schema, warehouseName: s.warehouse, roleName: s.role };
}

function statusResult(message: string, statementTypeId: number): Result {
  return { statementTypeId, columns: [textColumn('status')], rows: [[message]] };
}

function canceled(): SnowflakeError {
  return new SnowflakeError(SQL.CANCELED.code, SQL.CANCELED.sqlState, 'SQL execution canceled');
}
