// One PostgreSQL client connection: the protocol state machine from the startup packet to
// Terminate. Every statement goes through the QueryService (analysed, decided, audited, masked);
// this file only speaks the protocol and keeps the client's session state (prepared statements,
// portals, transaction status, the pinned upstream session of a transaction).
import { randomUUID } from 'node:crypto';
import { isIP, type Socket } from 'node:net';
import { type SecureContext, TLSSocket } from 'node:tls';
import type { TokenVerifier } from '@phigate/auth';
import { AppError, isErrorCode, toAppError } from '@phigate/errors';
import { childTrace, type Logger } from '@phigate/telemetry';
import type { HeldQueries } from '../../domain/held-queries.js';
import { resultMasks } from '../../domain/masks.js';
import { peerOf } from '../../domain/peer.js';
import type { ClientEndpoint, RequestContext, SessionUpstreamPort } from '../../domain/ports.js';
import type { QueryResult, QueryService, RowRelease } from '../../domain/query-service.js';
import type { StreamingCursor } from '../../domain/streaming-cursor.js';
import type { Cell, Decision, Identity, ResultColumn } from '../../domain/types.js';
import type { CancelRegistry } from './cancel-registry.js';
import * as wire from './codec.js';
import { type FieldDescription, type Frame, type FrontendMessage, formatAt, ProtocolViolation } from './codec.js';
import { copyLine } from './copy.js';
import { type CursorCommand, CursorStore } from './cursors.js';
import { withoutDatabase } from './database-name.js';
import { errorNotice } from './errors.js';
import { commandTag, encodeCell, fieldOf, TEXT_FIELD } from './fields.js';
import { ClientSettings, reported, SETTABLE, type SessionCommand, startupOptions, startupSetting, upstreamSettings } from './session.js';
import { classifyStatement, type SplitStatement, splitStatements } from './split.js';
import { TransactionUnit } from './transaction.js';
import { binaryToText, hasBinary, OID } from './types.js';

export interface PgDoorDeps {
  verify: TokenVerifier;
  queries: Pick<QueryService, 'submit' | 'declareCursor' | 'decide' | 'bind' | 'prepare' | 'recordOrFail' | 'checkPurpose'>;
  held: Pick<HeldQueries, 'settle'>;
  upstream: Pick<SessionUpstreamPort, 'session' | 'describe' | 'settings' | 'applySettings'>;
  log: Logger;
  tls?: SecureContext;
  requireTlsNonLoopback: boolean;
  authTimeoutMs: number;
  maxMessageBytes: number;
  cancels: CancelRegistry;
}

interface Statement {
  sql: string;
  paramTypes: number[];
  info: ReturnType<typeof classifyStatement>;
  /** What Describe found (masked columns as text), once asked. */
  described?: { params: number[]; fields: FieldDescription[] | null };
  /** The client was sent that description: results must keep to it. */
  describedSent?: boolean;
}

interface Portal {
  stmt: Statement;
  params: Cell[];
  resultFormats: number[];
  /** Fields announced by an earlier Describe (the result must match them). */
  described?: FieldDescription[] | null;
  /** Describe answered together with the Execute that follows it (no upstream round trip). */
  describeOnExecute?: boolean;
  /** A simple-protocol statement: a RowDescription only when it returns rows, never NoData. */
  simple?: boolean;
  result?: { fields: FieldDescription[]; rows: Cell[][]; offset: number; tag: string };
}

const WRITE_CHUNK = 64 * 1024;
/** Received but unprocessed bytes beyond which the socket stops reading (backpressure on the client). */
const READ_HIGH_WATER = 1024 * 1024;

function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));
}

/** The `exp` claim of a token that has already been verified (seconds since the epoch). */
function tokenExpiry(token: string): number {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' ? claims.exp : 0;
  } catch {
    return 0;
  }
}

export class PgConnection {
  private sock: Socket;
  /** The client's address and port, recorded on every event of the session. */
  private readonly client: ClientEndpoint;
  private readonly reader: wire.FrameReader;
  private phase: 'startup' | 'password' | 'ready' | 'closed' = 'startup';
  private tls = false;
  private user = '';
  private database = '';
  private applicationName = '';
  /** The connection's default schema: the only search_path a client may set (session.ts). */
  private defaultSchema = 'public';
  /** Session settings the client changed, kept by the door (session.ts). */
  private readonly settings = new ClientSettings();
  /** The startup packet's parameters: the allowed settings among them are taken at login. */
  private startupParams: ReadonlyMap<string, string> = new Map();
  /** Open cursors (cursors.ts): the masked rows of their SELECT, read forward. */
  private readonly cursors = new CursorStore<FieldDescription>();
  /** The client's transaction and the upstream session pinned for it (transaction.ts). */
  private readonly tx = new TransactionUnit({
    pin: () => this.deps.upstream.session(this.database, this.deps.queries.bind(this.identity!, this.database).role, upstreamSettings(this.settings.values)),
    began: () => this.settings.beginTransaction(),
    ended: (how) => this.transactionEnded(how),
    warn: (code, message) => this.notice('WARNING', code, message),
  });
  private identity: Identity | undefined;
  private tokenExp = 0;
  private readonly sessionId = randomUUID();
  private openedAt = 0;

  /** Session events are keyed by the session id (as their request id), so they form one timeline. */
  private sessionContext(identity: Identity, purpose = this.purpose()): RequestContext {
    let role = '';
    try {
      role = this.deps.queries.bind(identity, this.database).role;
    } catch {
      // unbound by now: the event still says who and where
    }
    return {
      requestId: this.sessionId,
      sessionId: this.sessionId,
      frontDoor: 'pgwire',
      identity,
      connection: this.database,
      role,
      traceparent: '',
      client: this.client,
      ...(purpose ? { purpose } : {}),
    };
  }

  /** The purpose of use the client stated (startup option or SET phigate.purpose), if any. */
  private purpose(): string | undefined {
    return this.settings.values.get('phigate.purpose') || undefined;
  }
  private backend: { processId: number; secretKey: number } | undefined;
  private readonly statements = new Map<string, Statement>();
  private readonly portals = new Map<string, Portal>();
  private skipTillSync = false;
  private running: AbortController | undefined;
  private requestId = '';
  private out: Buffer[] = [];
  private outBytes = 0;
  private peeked: Frame | undefined;
  private wake: (() => void) | undefined;
  private readonly authTimer: NodeJS.Timeout;

  constructor(
    socket: Socket,
    private readonly deps: PgDoorDeps,
  ) {
    this.sock = socket;
    this.client = peerOf(socket);
    this.reader = new wire.FrameReader(deps.maxMessageBytes);
    this.attach(socket);
    this.authTimer = setTimeout(() => {
      if (this.phase !== 'ready') this.fatal(new AppError('GATEWAY_PG_PROTOCOL_VIOLATION', { message: 'authentication timed out' }));
    }, deps.authTimeoutMs);
    this.authTimer.unref();
    void this.loop();
  }

  private onAuthenticated: () => void = () => {};
  /** Resolves when the client has authenticated (never, if it closes first). */
  readonly authenticated = new Promise<void>((resolve) => {
    this.onAuthenticated = resolve;
  });
  private onClosed: () => void = () => {};
  /** Resolves when the connection is closed. */
  readonly closed = new Promise<void>((resolve) => {
    this.onClosed = resolve;
  });

  private readonly onData = (chunk: Buffer) => {
    this.reader.push(chunk);
    if (this.reader.pending > READ_HIGH_WATER && !this.wake) this.sock.pause();
    this.wake?.();
  };
  private readonly onEnd = () => {
    // A socket event handler must never throw: that would take the whole gateway down.
    try {
      // A Terminate still queued behind a statement being served is the client's goodbye, not a drop.
      this.close(false, this.reader.hasTerminate() ? 'client terminated' : 'client disconnected');
    } catch (err) {
      this.deps.log.error({ sessionId: this.sessionId, err: String(err) }, 'pg connection cleanup failed');
    }
  };

  private attach(s: Socket): void {
    s.on('data', this.onData);
    s.on('error', this.onEnd);
    s.on('close', this.onEnd);
    s.setNoDelay(true);
  }

  private detach(s: Socket): void {
    s.removeListener('data', this.onData);
    s.removeListener('error', this.onEnd);
    s.removeListener('close', this.onEnd);
  }

  /** Ends the connection: rolls back an open transaction, forgets the cancel key. */
  close(graceful = false, reason = graceful ? 'ended by the gateway' : 'client disconnected'): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    clearTimeout(this.authTimer);
    this.running?.abort();
    this.wake?.();
    if (this.backend) this.deps.cancels.remove(this.backend.processId);
    this.closeStreams(this.cursors.clear());
    this.tx.abandon();
    if (graceful) {
      // Let the last messages (an ErrorResponse) reach the client before the socket goes.
      const sock = this.sock;
      sock.end();
      setTimeout(() => sock.destroy(), 1000).unref();
    } else this.sock.destroy();
    if (this.identity) {
      this.deps.log.info({ sessionId: this.sessionId, clientId: this.identity.clientId, connection: this.database }, 'pg session closed');
      const ctx = this.sessionContext(this.identity);
      const durationMs = Date.now() - this.openedAt;
      void this.deps.queries
        .recordOrFail(ctx, [{ type: 'session.closed', reason, durationMs }])
        .catch(() => this.deps.log.warn({ sessionId: this.sessionId }, 'session.closed not recorded (audit unavailable)'));
    }
    this.onClosed();
  }

  /** Stops the server side: tells the client why, then closes (graceful shutdown). */
  shutdown(): void {
    this.fatal(new AppError('COMMON_SHUTTING_DOWN'), '57P01');
  }

  // ---- input ----

  private async nextFrame(): Promise<Frame | undefined> {
    if (this.peeked) {
      const f = this.peeked;
      this.peeked = undefined;
      return f;
    }
    for (;;) {
      if (this.phase === 'closed') return undefined;
      const f = this.reader.next();
      if (f) return f;
      if (this.sock.isPaused()) this.sock.resume();
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }

  private async peekMessage(): Promise<FrontendMessage | undefined> {
    this.peeked ??= await this.nextFrame();
    const f = this.peeked;
    if (!f || f.startup) return undefined;
    try {
      return wire.decodeMessage(f.code, f.body);
    } catch {
      return undefined;
    }
  }

  private async loop(): Promise<void> {
    for (;;) {
      let frame: Frame | undefined;
      try {
        frame = await this.nextFrame();
        if (!frame) return;
        if (frame.startup) await this.onStartup(wire.decodeStartup(frame.body));
        else await this.onMessage(wire.decodeMessage(frame.code, frame.body));
      } catch (err) {
        if (err instanceof ProtocolViolation) this.fatal(new AppError('GATEWAY_PG_PROTOCOL_VIOLATION', { message: `protocol violation: ${err.message}` }));
        else {
          const e = toAppError(err);
          this.deps.log.warn({ sessionId: this.sessionId, code: e.code, cause: (e.cause as { code?: string })?.code }, 'pg connection failed');
          this.fatal(e);
        }
        return;
      }
    }
  }

  // ---- output ----

  private send(buf: Buffer): void {
    this.out.push(buf);
    this.outBytes += buf.length;
  }

  private flush(): void {
    if (!this.out.length || this.phase === 'closed') return;
    this.sock.write(this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out, this.outBytes));
    this.out = [];
    this.outBytes = 0;
  }

  /** Writes what is buffered and, when the client reads slowly, waits until its socket drains. */
  private async flushAndDrain(): Promise<void> {
    this.flush();
    if (this.sock.writableNeedDrain && this.phase !== 'closed') {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.sock.removeListener('drain', done);
          this.sock.removeListener('close', done);
          resolve();
        };
        this.sock.once('drain', done);
        this.sock.once('close', done);
      });
    }
    if (this.phase === 'closed') throw new AppError('GATEWAY_PG_QUERY_CANCELED', { message: 'the client went away' });
  }

  private error(err: unknown): void {
    const e = toAppError(err);
    this.send(wire.errorResponse(errorNotice(e, this.requestId)));
  }

  private fatal(e: AppError, sqlstate?: string): void {
    if (this.phase === 'closed') return;
    const n = errorNotice(e, this.requestId || this.sessionId, 'FATAL');
    this.send(wire.errorResponse(sqlstate ? { ...n, code: sqlstate } : n));
    this.flush();
    this.close(true);
  }

  private notice(severity: 'NOTICE' | 'WARNING', code: string, message: string, detail?: string): void {
    this.send(wire.noticeResponse({ severity, code, message, ...(detail ? { detail } : {}) }));
  }

  // ---- startup and authentication ----

  private async onStartup(p: wire.StartupPacket): Promise<void> {
    if (this.phase !== 'startup') throw new ProtocolViolation('unexpected startup packet');
    if (p.kind === 'cancel') {
      this.deps.cancels.cancel(p.processId, p.secretKey);
      this.close(true);
      return;
    }
    if (p.kind === 'gssenc' || (p.kind === 'ssl' && (this.tls || !this.deps.tls))) {
      this.sock.write(Buffer.from('N'));
      return;
    }
    if (p.kind === 'ssl') {
      // Bytes sent after SSLRequest but before the handshake would be trusted as if encrypted:
      // refuse them (CVE-2021-23214).
      if (this.reader.pending > 0) throw new ProtocolViolation('received unencrypted data after SSL request');
      this.detach(this.sock);
      this.sock.on('error', () => undefined); // the TLS socket reports its transport's errors
      this.sock.write(Buffer.from('S'));
      const secure = new TLSSocket(this.sock, { isServer: true, secureContext: this.deps.tls! });
      this.sock = secure;
      this.tls = true;
      this.attach(secure);
      return;
    }
    const params = p.params;
    this.startupParams = params;
    this.user = params.get('user') ?? '';
    this.database = params.get('database') || this.user;
    this.applicationName = (params.get('application_name') ?? '').slice(0, 64);
    if (!this.user) throw new ProtocolViolation('no PostgreSQL user name specified in startup packet');
    if (params.has('replication') && params.get('replication') !== 'false')
      return this.fatal(new AppError('GATEWAY_PG_UNSUPPORTED', { message: 'replication connections are not supported by the PostgreSQL door' }));
    const unknown = [...params.keys()].filter((k) => k.startsWith('_pq_.'));
    if (p.minor > 0 || unknown.length) this.send(wire.negotiateProtocolVersion(0, unknown));
    const loopback = isLoopback(this.sock.remoteAddress);
    if (!this.tls && this.deps.requireTlsNonLoopback && !loopback) return this.fatal(new AppError('GATEWAY_PG_TLS_REQUIRED'));
    this.reader.startupPhase = false;
    this.phase = 'password';
    this.send(wire.authenticationCleartextPassword());
    this.flush();
  }

  private async onPassword(token: string): Promise<void> {
    this.requestId = randomUUID();
    let identity: Identity;
    try {
      identity = await this.deps.verify(token);
    } catch (err) {
      const e = toAppError(err);
      this.deps.log.info({ sessionId: this.sessionId, code: e.code }, 'pg authentication refused');
      return this.fatal(e.kind === 'UNAUTHENTICATED' ? new AppError('GATEWAY_PG_AUTH_FAILED', { details: { reason: e.code } }) : e);
    }
    // The startup user names the identity: a token issued to another client is refused.
    if (identity.clientId !== this.user) {
      this.deps.log.info({ sessionId: this.sessionId, code: 'GATEWAY_PG_AUTH_FAILED' }, 'pg authentication refused: user is not the token client');
      return this.fatal(new AppError('GATEWAY_PG_AUTH_FAILED'));
    }
    try {
      const { conn } = this.deps.queries.bind(identity, this.database);
      // Only PostgreSQL upstreams speak this protocol's types and semantics.
      if (conn.type !== 'postgresql') throw new AppError('GATEWAY_CONNECTION_UNKNOWN', { message: 'this connection is not served by the PostgreSQL door' });
      this.defaultSchema = conn.defaultSchema;
    } catch (err) {
      return this.fatal(toAppError(err), '3D000');
    }
    // Settings sent at startup are taken as a SET would take them (a value the server refuses ends the login).
    // Those in `options` (-c name=value) the client asked for by name: one that is not allowed ends
    // the login, naming it, rather than leaving the client to believe it took effect.
    const startup = new Map<string, string>();
    for (const [k, v] of this.startupParams) {
      if (k === 'user' || k === 'database' || k === 'application_name' || k === 'options') continue;
      const s = startupSetting(k, v, this.defaultSchema);
      if (s) startup.set(s.name, s.value);
    }
    const options = this.startupParams.get('options');
    const asked = options === undefined ? [] : startupOptions(options);
    if (!asked) return this.fatal(new AppError('GATEWAY_PG_UNSUPPORTED', { message: 'startup options other than -c name=value are not supported' }));
    for (const [k, v] of asked) {
      const s = startupSetting(k, v, this.defaultSchema);
      if (!s) return this.fatal(new AppError('GATEWAY_PG_SETTING_REFUSED', { message: refusedSettingMessage(k) }));
      startup.set(s.name, s.value);
    }
    // A purpose of use stated at startup must be one the binding allows: else the login ends, saying so.
    const purpose = startup.get('phigate.purpose') || undefined;
    if (purpose) {
      try {
        this.deps.queries.checkPurpose({ identity, connection: this.database }, purpose);
      } catch (err) {
        return this.fatal(toAppError(err));
      }
    }
    const settings = await this.deps.upstream.settings(this.database).catch((err) => {
      throw toAppError(err, 'GATEWAY_UPSTREAM_UNAVAILABLE');
    });
    // The login is on the audit trail (OCSF Authentication) before the session exists: no session
    // without its record (fail closed).
    try {
      await this.deps.queries.recordOrFail(this.sessionContext(identity, purpose), [{ type: 'session.opened', clientAddress: this.sock.remoteAddress ?? '' }]);
    } catch (err) {
      return this.fatal(toAppError(err, 'GATEWAY_AUDIT_UNAVAILABLE'));
    }
    if (Object.keys(upstreamSettings(startup)).length) {
      try {
        await this.deps.upstream.applySettings(this.database, this.deps.queries.bind(identity, this.database).role, upstreamSettings(startup));
      } catch (err) {
        return this.fatal(toAppError(err));
      }
    }
    this.settings.adopt(startup);
    this.openedAt = Date.now();
    this.identity = identity;
    this.tokenExp = tokenExpiry(token);
    this.phase = 'ready';
    clearTimeout(this.authTimer);
    this.onAuthenticated();
    this.backend = this.deps.cancels.add(() => this.running?.abort());
    this.send(wire.authenticationOk());
    const status: Record<string, string> = {
      server_version: (settings.server_version ?? '15.0').split(' ')[0]!,
      server_encoding: 'UTF8',
      client_encoding: 'UTF8',
      DateStyle: startup.get('DateStyle') ?? settings.DateStyle ?? 'ISO, MDY',
      IntervalStyle: startup.get('IntervalStyle') ?? settings.IntervalStyle ?? 'postgres',
      TimeZone: startup.get('TimeZone') ?? settings.TimeZone ?? 'UTC',
      integer_datetimes: 'on',
      standard_conforming_strings: 'on',
      application_name: this.applicationName,
      is_superuser: 'off',
      session_authorization: this.user,
      default_transaction_read_only: 'off',
      in_hot_standby: 'off',
    };
    for (const [k, v] of Object.entries(status)) this.send(wire.parameterStatus(k, v));
    this.send(wire.backendKeyData(this.backend.processId, this.backend.secretKey));
    this.send(wire.readyForQuery('I'));
    this.flush();
    this.deps.log.info({ sessionId: this.sessionId, clientId: identity.clientId, connection: this.database, tls: this.tls }, 'pg session opened');
  }

  // ---- messages ----

  private async onMessage(m: FrontendMessage): Promise<void> {
    if (this.phase === 'password') {
      if (m.type !== 'password') throw new ProtocolViolation(`expected a password message, got ${m.type}`);
      return this.onPassword(m.password);
    }
    if (m.type === 'terminate') return this.close(true, 'client terminated');
    if (m.type === 'sync') return this.onSync();
    if (m.type === 'flush') return this.flush();
    // After an error in an extended-protocol exchange everything up to Sync is discarded.
    if (this.skipTillSync) return;
    if (m.type === 'copy') return; // CopyData/CopyDone/CopyFail outside COPY are ignored, as PostgreSQL does
    if (this.tokenExp && Date.now() / 1000 > this.tokenExp) return this.fatal(new AppError('AUTH_TOKEN_EXPIRED'));
    this.requestId = randomUUID();
    try {
      switch (m.type) {
        case 'query':
          return await this.simpleQuery(m.sql);
        case 'parse':
          return this.onParse(m);
        case 'bind':
          return await this.onBind(m);
        case 'describe':
          return await this.onDescribe(m.what, m.name);
        case 'execute':
          return await this.onExecute(m.portal, m.maxRows);
        case 'close':
          if (m.what === 'S') this.statements.delete(m.name);
          else this.portals.delete(m.name);
          return this.send(wire.closeComplete());
        default:
          throw new ProtocolViolation(`invalid frontend message type ${JSON.stringify(m.type === 'other' ? m.code : m.type)}`);
      }
    } catch (err) {
      if (err instanceof ProtocolViolation || this.phase === 'closed') throw err;
      this.error(err);
      this.tx.fail();
      this.skipTillSync = true;
    }
  }

  private onSync(): void {
    this.skipTillSync = false;
    // Outside a transaction block each Sync ends the implicit transaction, and its portals.
    if (this.tx.status === 'I') this.portals.clear();
    this.send(wire.readyForQuery(this.tx.status));
    this.flush();
  }

  // ---- simple query ----

  private async simpleQuery(sql: string): Promise<void> {
    const stmts = splitStatements(withoutDatabase(sql, this.database), this.defaultSchema);
    if (!stmts.length) this.send(wire.emptyQueryResponse());
    // Several statements outside a transaction block run as one implicit transaction, as in
    // PostgreSQL: a denial or error in any of them rolls back the ones before it.
    const implicit = stmts.length > 1 && this.tx.status === 'I' && !stmts.some((s) => s.control);
    try {
      if (implicit) await this.tx.begin('BEGIN');
      for (const s of stmts) {
        this.requestId = randomUUID();
        await this.simpleStatement(s);
      }
      if (implicit) await this.tx.end('COMMIT');
    } catch (err) {
      if (this.phase === 'closed') throw err;
      this.error(err);
      if (implicit) await this.tx.end('ROLLBACK').catch(() => undefined);
      else this.tx.fail();
    }
    // A simple Query replaces the unnamed statement and portal.
    this.statements.delete('');
    this.portals.delete('');
    this.send(wire.readyForQuery(this.tx.status));
    await this.flushAndDrain();
  }

  private async simpleStatement(s: SplitStatement): Promise<void> {
    if (s.control) return this.send(wire.commandComplete(await this.tx.control(s.control, s.sql)));
    if (s.session) return this.sessionStatement(s.session, 'simple');
    if (s.cursor) return this.cursorStatement(s.cursor, 'simple', []);
    if (s.copyOut || s.copyError) return this.copyOut(s);
    const portal: Portal = {
      stmt: { sql: s.sql, paramTypes: [], info: { empty: false, multiple: false, ...s } },
      params: [],
      resultFormats: [],
      describeOnExecute: true,
      simple: true,
    };
    await this.run(portal, 0);
  }

  // ---- extended query ----

  private onParse(m: { name: string; sql: string; paramTypes: number[] }): void {
    if (m.name && this.statements.has(m.name)) throw new AppError('GATEWAY_PG_NAME_IN_USE', { message: `prepared statement "${m.name}" already exists` });
    const sql = withoutDatabase(m.sql, this.database);
    const info = classifyStatement(sql, this.defaultSchema);
    if (info.multiple) throw new AppError('GATEWAY_PG_UNSUPPORTED', { message: 'cannot insert multiple commands into a prepared statement' });
    this.statements.set(m.name, { sql, paramTypes: m.paramTypes, info });
    this.send(wire.parseComplete());
  }

  private async onBind(m: Extract<FrontendMessage, { type: 'bind' }>): Promise<void> {
    const stmt = this.statements.get(m.statement);
    if (!stmt) throw new AppError('GATEWAY_PG_NAME_UNKNOWN', { message: `prepared statement "${m.statement}" does not exist` });
    if (m.portal && this.portals.has(m.portal)) throw new AppError('GATEWAY_PG_NAME_IN_USE', { message: `portal "${m.portal}" already exists` });
    if (m.paramFormats.length > 1 && m.paramFormats.length !== m.params.length)
      throw new ProtocolViolation(`bind message has ${m.paramFormats.length} parameter formats but ${m.params.length} parameters`);
    let types = stmt.paramTypes;
    const binary = m.params.some((v, i) => v !== null && formatAt(m.paramFormats, i) === 1);
    if (binary && m.params.some((_, i) => !types[i])) types = (await this.describe(stmt)).params;
    const params: Cell[] = m.params.map((v, i) => {
      if (v === null) return null;
      if (formatAt(m.paramFormats, i) === 0) return v.toString('utf8');
      try {
        return binaryToText(types[i] ?? 0, v);
      } catch (err) {
        throw new AppError('GATEWAY_PG_UNSUPPORTED', { message: `parameter $${i + 1}: ${(err as Error).message}` });
      }
    });
    this.portals.set(m.portal, { stmt, params, resultFormats: m.resultFormats });
    this.send(wire.bindComplete());
  }

  private async onDescribe(what: 'S' | 'P', name: string): Promise<void> {
    if (what === 'S') {
      const stmt = this.statements.get(name);
      if (!stmt) throw new AppError('GATEWAY_PG_NAME_UNKNOWN', { message: `prepared statement "${name}" does not exist` });
      const d = await this.describe(stmt);
      stmt.describedSent = true;
      this.send(wire.parameterDescription(d.params));
      this.send(d.fields ? wire.rowDescription(d.fields) : wire.noData());
      return;
    }
    const portal = this.portals.get(name);
    // A cursor is a portal in PostgreSQL: psycopg describes its named cursors this way.
    const cursor = portal ? undefined : this.cursors.get(name);
    if (cursor) return void this.send(wire.rowDescription(cursor.fields));
    if (!portal) throw new AppError('GATEWAY_PG_NAME_UNKNOWN', { message: `portal "${name}" does not exist` });
    if (portal.result) return void this.send(wire.rowDescription(portal.result.fields));
    // Describe(portal) right before its Execute (what libpq, node-postgres and JDBC send): the
    // description comes from the execution itself, so it is the truth and costs nothing extra.
    const next = await this.peekMessage();
    if (next?.type === 'execute' && next.portal === name) {
      portal.describeOnExecute = true;
      return;
    }
    const d = await this.describe(portal.stmt);
    portal.described = d.fields ? d.fields.map((f, i) => ({ ...f, format: formatAt(portal.resultFormats, i) })) : null;
    this.send(portal.described ? wire.rowDescription(portal.described) : wire.noData());
  }

  /**
   * Parameter types and result fields of a statement before it runs: Parse + Describe on the
   * upstream as the identity's role (on the transaction's session when there is one), with the
   * masking the policy decides now applied, so masked columns are described as text.
   */
  private async describe(stmt: Statement): Promise<{ params: number[]; fields: FieldDescription[] | null }> {
    if (stmt.described) return stmt.described;
    if (stmt.info.session) return { params: stmt.paramTypes, fields: sessionFields(stmt.info.session) };
    if (stmt.info.copyOut || stmt.info.copyError) return { params: stmt.paramTypes, fields: null };
    if (stmt.info.cursor) {
      const c = stmt.info.cursor;
      const open = c.kind === 'fetch' && !c.move ? this.cursors.get(c.name) : undefined;
      return { params: stmt.paramTypes, fields: open ? open.fields : null };
    }
    if (stmt.info.empty || stmt.info.control || stmt.info.copy) return { params: stmt.paramTypes, fields: null };
    const identity = this.identity!;
    const { role } = this.deps.queries.bind(identity, this.database);
    const d = await this.deps.upstream.describe(this.database, role, stmt.sql, stmt.paramTypes, this.tx.session);
    let fields: FieldDescription[] | null = null;
    if (d.columns) {
      const decision = await this.deps.queries.decide({
        requestId: this.requestId,
        frontDoor: 'pgwire',
        identity,
        connection: this.database,
        sql: stmt.sql,
        ...(this.purpose() ? { purpose: this.purpose() } : {}),
      });
      fields = maskedFields(d.columns, decision);
    }
    stmt.described = { params: d.params, fields };
    return stmt.described;
  }

  private async onExecute(name: string, maxRows: number): Promise<void> {
    const portal = this.portals.get(name);
    if (!portal) throw new AppError('GATEWAY_PG_NAME_UNKNOWN', { message: `portal "${name}" does not exist` });
    if (portal.result) return this.sendRows(portal, maxRows);
    const { info, sql } = portal.stmt;
    const how: Describing = portal.describeOnExecute ? 'portal' : 'none';
    if (info.session) return this.sessionStatement(info.session, how);
    if (info.cursor) return this.cursorStatement(info.cursor, how, portal.resultFormats);
    if (info.copyOut || info.copyError) {
      if (portal.describeOnExecute) this.send(wire.noData());
      return this.copyOut(info);
    }
    const local = info.empty || info.control;
    if (local && portal.describeOnExecute) this.send(wire.noData());
    if (info.empty) return void this.send(wire.emptyQueryResponse());
    if (info.control) return void this.send(wire.commandComplete(await this.tx.control(info.control, sql)));
    await this.run(portal, maxRows);
  }

  // ---- running statements ----

  /** Runs a portal's statement through the request lifecycle and sends its first `maxRows` rows. */
  private async run(portal: Portal, maxRows: number): Promise<void> {
    this.tx.assertNotFailed();
    const { sql } = portal.stmt;
    const result = portal.stmt.info.copy ? await this.refuseCopy(sql) : await this.statement(sql, portal.params);
    const fields = result.columns.map((c, i) => fieldOf(c, formatAt(portal.resultFormats, i)));
    const announced = portal.described !== undefined ? portal.described : portal.stmt.describedSent ? portal.stmt.described?.fields : undefined;
    if (announced !== undefined) {
      const before = announced ?? [];
      if (before.length !== fields.length || before.some((f, i) => f.typeOid !== fields[i]!.typeOid))
        throw new AppError('GATEWAY_PG_RESULT_CHANGED', { details: { requestId: result.requestId } });
    }
    const binaryless = fields.find((f) => f.format === 1 && !hasBinary(f.typeOid));
    if (binaryless)
      throw new AppError('GATEWAY_PG_UNSUPPORTED', { message: `no binary format for column "${binaryless.name}" (type ${binaryless.typeOid}); ask for text` });
    if (portal.describeOnExecute && (fields.length || !portal.simple)) this.send(fields.length ? wire.rowDescription(fields) : wire.noData());
    if (result.truncated)
      this.notice(
        'WARNING',
        '01000',
        `the result was cut to ${result.rowCount} rows by policy`,
        `rule: ${result.decision.ruleIds[0] ?? ''}; request id: ${result.requestId}`,
      );
    portal.result = { fields, rows: result.rows, offset: 0, tag: commandTag(result.command, result.affectedRows ?? result.rowCount) };
    await this.sendRows(portal, maxRows);
  }

  /** Sends up to `maxRows` (0: all) of a portal's rows, waiting for the client when its socket is full. */
  private async sendRows(portal: Portal, maxRows: number): Promise<void> {
    const r = portal.result!;
    const end = maxRows > 0 ? Math.min(r.rows.length, r.offset + maxRows) : r.rows.length;
    for (; r.offset < end; r.offset++) {
      const row = r.rows[r.offset]!;
      this.send(wire.dataRow(row.map((v, i) => encodeCell(v, r.fields[i]!))));
      if (this.outBytes >= WRITE_CHUNK) await this.flushAndDrain();
    }
    if (r.offset < r.rows.length) this.send(wire.portalSuspended());
    else this.send(wire.commandComplete(r.tag));
  }

  /** COPY is decided (and recorded) by policy like any statement; if policy lets it through, the door still cannot stream it. */
  private async refuseCopy(sql: string): Promise<never> {
    const p = await this.deps.queries.prepare(this.request(sql, []));
    const e = new AppError('GATEWAY_PG_UNSUPPORTED', { message: 'COPY is not supported by the PostgreSQL door', details: { requestId: p.ctx.requestId } });
    await this.deps.queries.recordOrFail(p.ctx, [{ type: 'query.failed', code: e.code, message: e.message, stage: 'upstream' }]);
    throw e;
  }

  private request(sql: string, params: Cell[]) {
    return {
      requestId: this.requestId,
      sessionId: this.sessionId,
      frontDoor: 'pgwire',
      identity: this.identity!,
      client: this.client,
      connection: this.database,
      sql,
      params,
      traceparent: childTrace(undefined).traceparent,
      ...(this.tx.session ? { session: this.tx.session } : {}),
      ...(this.settings.values.size ? { settings: upstreamSettings(this.settings.values) } : {}),
      ...(this.purpose() ? { purpose: this.purpose() } : {}),
    };
  }

  /** One statement through the QueryService; a held one keeps the client waiting (with a NOTICE). */
  /** Runs a statement through the request lifecycle; with `release`, a plain read's rows stream there. */
  private statement(sql: string, params: Cell[], release?: RowRelease): Promise<QueryResult> {
    return this.cancellable(sql, async (signal) => {
      const outcome = await this.deps.queries.submit({ ...this.request(sql, params), signal }, release);
      if (outcome.kind === 'result') return outcome.result;
      return await this.waitForApproval(outcome.held, signal);
    });
  }

  /** Runs work a CancelRequest may interrupt; its errors as the door reports them. */
  private async cancellable<T>(sql: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ac = new AbortController();
    this.running = ac;
    try {
      return await work(ac.signal);
    } catch (err) {
      const e = settingRefused(toAppError(err), sql);
      // A statement canceled upstream comes back as the upstream's 57014.
      if (ac.signal.aborted && e.details.sqlstate === '57014') throw new AppError('GATEWAY_PG_QUERY_CANCELED', { details: { requestId: this.requestId } });
      throw e;
    } finally {
      this.running = undefined;
    }
  }

  private async waitForApproval(h: { requestId: string; approvalId: string; expiresAt: string }, signal: AbortSignal): Promise<QueryResult> {
    this.notice(
      'NOTICE',
      '00000',
      `the statement is held for approval ${h.approvalId}; waiting for an approver until ${h.expiresAt}`,
      `approval id: ${h.approvalId}; request id: ${h.requestId}; expires at: ${h.expiresAt}`,
    );
    await this.flushAndDrain();
    this.deps.log.info({ requestId: h.requestId, approvalId: h.approvalId, connection: this.database }, 'query held for approval');
    // The expiry itself is declared by the held-query reconciler; allow it a minute to do so.
    const until = Date.parse(h.expiresAt) + 60_000;
    for (;;) {
      if (signal.aborted || this.phase === 'closed') throw new AppError('GATEWAY_PG_QUERY_CANCELED', { details: { requestId: h.requestId } });
      const state = await this.deps.held.settle(h.requestId, Math.min(Date.now() + 1000, until));
      if (state?.outcome?.kind === 'result') return state.outcome.result;
      if (state?.outcome?.kind === 'error') {
        const o = state.outcome;
        throw new AppError(isErrorCode(o.code) ? o.code : 'COMMON_INTERNAL', { message: o.message, details: { ...o.details, requestId: h.requestId } });
      }
      if (!state || Date.now() >= until) throw new AppError('GATEWAY_APPROVAL_EXPIRED', { details: { requestId: h.requestId, approvalId: h.approvalId } });
    }
  }

  // ---- session statements ----

  /**
   * A session statement the door answers itself (session.ts). `describe`: the client did not
   * Describe the statement, so a row-returning one (SHOW) sends its RowDescription first.
   */
  private async sessionStatement(cmd: SessionCommand, how: Describing): Promise<void> {
    this.describeRows(sessionFields(cmd), how);
    switch (cmd.kind) {
      case 'set':
      case 'reset':
        if (cmd.local && this.tx.status === 'I') this.notice('WARNING', '25P01', 'SET LOCAL can only be used in transaction blocks');
        else await this.changeSettings(this.settings.after(cmd), cmd);
        return void this.send(wire.commandComplete(cmd.kind === 'set' ? 'SET' : 'RESET'));
      case 'show':
        this.send(wire.dataRow([Buffer.from(await this.showValue(cmd.name), 'utf8')]));
        return void this.send(wire.commandComplete('SHOW'));
      case 'discard':
        if (this.tx.status !== 'I') throw new AppError('GATEWAY_PG_TRANSACTION_BLOCK', { message: 'DISCARD ALL cannot run inside a transaction block' });
        await this.changeSettings(new Map());
        this.statements.clear();
        this.portals.clear();
        this.closeStreams(this.cursors.clear());
        return void this.send(wire.commandComplete('DISCARD ALL'));
      case 'deallocate':
        if (cmd.name === undefined) {
          for (const name of [...this.statements.keys()]) if (name) this.statements.delete(name);
          return void this.send(wire.commandComplete('DEALLOCATE ALL'));
        }
        if (!this.statements.delete(cmd.name)) throw new AppError('GATEWAY_PG_NAME_UNKNOWN', { message: `prepared statement "${cmd.name}" does not exist` });
        return void this.send(wire.commandComplete('DEALLOCATE'));
      case 'close_all':
        for (const stream of this.cursors.clear()) await stream.close(this.tx.session !== undefined);
        return void this.send(wire.commandComplete('CLOSE CURSOR ALL'));
      case 'unlisten':
        return void this.send(wire.commandComplete('UNLISTEN'));
      case 'unlock_all':
        // No advisory lock can be taken through the door: there is none to release.
        this.send(wire.dataRow([Buffer.alloc(0)]));
        return void this.send(wire.commandComplete('SELECT 1'));
    }
  }

  /**
   * The description of a statement the door answers itself, where one is due: a simple query
   * announces the rows it returns (nothing otherwise); a Describe(portal) deferred to its Execute is
   * answered with RowDescription or NoData.
   */
  private describeRows(fields: FieldDescription[] | null, how: Describing): void {
    if (how === 'portal') this.send(fields ? wire.rowDescription(fields) : wire.noData());
    else if (how === 'simple' && fields) this.send(wire.rowDescription(fields));
  }

  // ---- COPY … TO STDOUT ----

  /**
   * COPY … TO STDOUT: the equivalent SELECT through the request lifecycle (decided, masked and
   * audited as that SELECT), its masked rows sent as CopyData lines in COPY's text or CSV format.
   */
  private async copyOut(s: Pick<SplitStatement, 'copyOut' | 'copyError'>): Promise<void> {
    if (!s.copyOut) throw new AppError('GATEWAY_PG_UNSUPPORTED', { message: s.copyError ?? 'COPY is not supported here' });
    const o = s.copyOut;
    let begun = false;
    const release: RowRelease = {
      columns: (columns) => {
        if (begun) return;
        begun = true;
        this.send(wire.copyOutResponse(columns.length));
        // The header line: the column names, escaped or quoted as values are.
        if (o.header)
          this.send(
            wire.copyData(
              copyLine(
                columns.map((c) => c.name),
                o,
              ),
            ),
          );
      },
      // Rows go out as they are masked; waiting for the client to drain is what bounds memory.
      rows: async (batch) => {
        this.send(wire.copyDataLines(batch.map((row) => copyLine(row, o))));
        if (this.outBytes >= WRITE_CHUNK) await this.flushAndDrain();
      },
    };
    const result = await this.statement(o.query, [], release);
    // A statement held for approval comes back whole once approved.
    await release.columns(result.columns);
    if (result.rows.length) await release.rows(result.rows);
    this.send(wire.copyDone());
    this.send(wire.commandComplete(`COPY ${result.rowCount}`));
  }

  // ---- cursors ----

  /**
   * DECLARE runs the cursor's SELECT through the request lifecycle (analysed, decided, masked and
   * audited as that SELECT) and keeps its masked rows; FETCH and MOVE read them forward; CLOSE
   * drops them. `describe`: send the RowDescription of FETCH's rows (the client did not Describe).
   */
  private async cursorStatement(cmd: CursorCommand, how: Describing, resultFormats: number[]): Promise<void> {
    if (cmd.kind === 'declare') {
      this.describeRows(null, how);
      if (cmd.binary) throw new AppError('GATEWAY_PG_UNSUPPORTED', { message: 'BINARY cursors are not supported; fetch text and ask for binary results' });
      if (!cmd.hold && this.tx.status === 'I')
        throw new AppError('GATEWAY_PG_NO_TRANSACTION', { message: 'DECLARE CURSOR can only be used in transaction blocks' });
      if (this.cursors.has(cmd.name)) throw new AppError('GATEWAY_PG_NAME_IN_USE', { message: `cursor "${cmd.name}" already exists` });
      this.tx.assertNotFailed();
      const session = this.tx.session;
      if (!cmd.hold && session) {
        const stream = await this.cancellable(cmd.query, (signal) =>
          this.deps.queries.declareCursor({ ...this.request(cmd.query, []), session, signal }, cmd.name),
        );
        const d = await this.deps.upstream.describe(this.database, session.role, cmd.query, [], session);
        this.cursors.declare(cmd.name, { fields: maskedFields(d.columns ?? [], stream.decision), rows: [], stream, hold: false, declaredInTx: true });
        return void this.send(wire.commandComplete('DECLARE CURSOR'));
      }
      const result = await this.statement(cmd.query, []);
      const fields = result.columns.map((c) => fieldOf(c, 0));
      this.cursors.declare(cmd.name, { fields, rows: result.rows, hold: cmd.hold, declaredInTx: this.tx.status === 'T' });
      return void this.send(wire.commandComplete('DECLARE CURSOR'));
    }
    const cursor = this.cursors.get(cmd.name);
    if (!cursor) throw new AppError('GATEWAY_PG_CURSOR_UNKNOWN', { message: `cursor "${cmd.name}" does not exist` });
    if (cmd.kind === 'close') {
      this.describeRows(null, how);
      this.cursors.close(cmd.name);
      await cursor.stream?.close(true);
      return void this.send(wire.commandComplete('CLOSE CURSOR'));
    }
    if (!cmd.forward)
      throw new AppError('GATEWAY_PG_UNSUPPORTED', { message: 'cursors move forward only through phigate (FETCH [FORWARD] n | ALL, MOVE [FORWARD] n | ALL)' });
    if (cursor.stream) return this.fetchStreaming(cursor.stream, cursor.fields, cmd, how, resultFormats);
    if (cmd.move) {
      this.describeRows(null, how);
      return void this.send(wire.commandComplete(`MOVE ${this.cursors.take(cursor, cmd.count).length}`));
    }
    const fields = cursor.fields.map((f, i) => ({ ...f, format: formatAt(resultFormats, i) }));
    this.describeRows(fields, how);
    const rows = this.cursors.take(cursor, cmd.count);
    for (const row of rows) {
      this.send(wire.dataRow(row.map((v, i) => encodeCell(v, fields[i]!))));
      if (this.outBytes >= WRITE_CHUNK) await this.flushAndDrain();
    }
    this.send(wire.commandComplete(`FETCH ${rows.length}`));
  }

  /** FETCH or MOVE on a cursor declared upstream: its rows read on from there, masked batch by batch as they come. */
  private async fetchStreaming(
    stream: StreamingCursor,
    described: FieldDescription[],
    cmd: Extract<CursorCommand, { kind: 'fetch' }>,
    how: Describing,
    resultFormats: number[],
  ): Promise<void> {
    this.tx.assertNotFailed();
    const fields = cmd.move ? null : described.map((f, i) => ({ ...f, format: formatAt(resultFormats, i) }));
    this.describeRows(fields, how);
    const wasTruncated = stream.truncated;
    const n = await this.cancellable(`FETCH ${cmd.name}`, (signal) =>
      stream.fetch(
        cmd.count,
        fields
          ? {
              columns: () => {},
              rows: async (batch) => {
                for (const row of batch) this.send(wire.dataRow(row.map((v, i) => encodeCell(v, fields[i]!))));
                if (this.outBytes >= WRITE_CHUNK) await this.flushAndDrain();
              },
            }
          : undefined,
        signal,
      ),
    );
    if (stream.truncated && !wasTruncated)
      this.notice(
        'WARNING',
        '01000',
        `the cursor stops at ${n} rows here: policy limits the rows it returns`,
        `rule: ${stream.decision.ruleIds[0] ?? ''}; request id: ${stream.ctx.requestId}`,
      );
    this.send(wire.commandComplete(`${cmd.move ? 'MOVE' : 'FETCH'} ${n}`));
  }

  /** The record of streaming cursors that ended with their transaction or session. */
  private closeStreams(streams: StreamingCursor[]): void {
    for (const s of streams)
      void s.close(false).catch((err) => this.deps.log.warn({ sessionId: this.sessionId, code: toAppError(err).code }, 'cursor outcome not recorded'));
  }

  /**
   * Makes `next` the client's settings: those applied upstream are checked (and applied) there
   * first, so a value the server refuses fails the SET as it would in PostgreSQL; every reported
   * setting that changed is announced (ParameterStatus).
   */
  private async changeSettings(next: Map<string, string>, cmd?: Extract<SessionCommand, { kind: 'set' | 'reset' }>): Promise<void> {
    const purpose = next.get('phigate.purpose') || undefined;
    if (purpose && purpose !== this.purpose()) this.deps.queries.checkPurpose({ identity: this.identity!, connection: this.database }, purpose);
    const before = upstreamSettings(this.settings.values);
    const after = upstreamSettings(next);
    const changed = Object.keys(before).length !== Object.keys(after).length || Object.entries(after).some(([k, v]) => before[k] !== v);
    if (changed) {
      const { role } = this.deps.queries.bind(this.identity!, this.database);
      await this.deps.upstream.applySettings(this.database, role, after, this.tx.session);
    }
    await this.adoptSettings(next, cmd);
  }

  /** Makes `next` the client's settings on the wire: application_name, and a ParameterStatus for each reported one that changed. */
  private async adoptSettings(next: Map<string, string>, cmd?: Extract<SessionCommand, { kind: 'set' | 'reset' }>): Promise<void> {
    const previous = this.settings.values;
    this.settings.adopt(next, cmd);
    if (next.has('application_name') || previous.has('application_name')) this.applicationName = next.get('application_name') ?? '';
    for (const name of new Set([...previous.keys(), ...next.keys()]))
      if (reported(name) && previous.get(name) !== next.get(name)) this.send(wire.parameterStatus(name, await this.showValue(name)));
  }

  /** SHOW: the client's own value, else the server's (what it was told at login). */
  private async showValue(name: string): Promise<string> {
    const own = this.settings.values.get(name);
    if (own !== undefined) return own;
    if (name === 'application_name') return this.applicationName;
    if (name === 'phigate.purpose') return '';
    if (name === 'is_superuser') return 'off';
    if (name === 'client_encoding' || name === 'server_encoding') return 'UTF8';
    if (name === 'standard_conforming_strings' || name === 'integer_datetimes') return 'on';
    const server = await this.deps.upstream.settings(this.database);
    return server[name] ?? '';
  }

  // ---- transactions ----

  /**
   * What follows the end of a transaction (transaction.ts): its portals and cursors, and its
   * settings (a rollback undoes its SETs, a commit its SET LOCALs; the next statement's upstream
   * session is brought to them, changed reported ones are announced).
   */
  private async transactionEnded(how: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    this.portals.clear();
    this.closeStreams(this.cursors.endTransaction(how));
    const next = this.settings.endTransaction(how);
    if (next) await this.adoptSettings(next);
  }
}

/**
 * A SET or RESET policy refused (a setting not in session.ts's list): the same denial, saying which
 * setting and why, and which ones a client may change.
 */
function settingRefused(e: AppError, sql: string): AppError {
  const m = /^\s*(?:set|reset)\s+(?:(session\s+authorization)|(?:session\s+|local\s+)?(?:(time\s+zone)|([a-z_][a-z0-9_.]*)))/i.exec(sql);
  if (e.code !== 'GATEWAY_POLICY_DENIED' || !m) return e;
  const name = (m[1] ?? m[2] ?? m[3] ?? '').toLowerCase().replace(/\s+/g, ' ');
  return new AppError(e.code, { message: refusedSettingMessage(name), details: e.details });
}

const refusedSettingMessage = (name: string) =>
  `setting "${name}" cannot be changed through phigate: a session setting could change the upstream role or the server's behaviour beyond what the mapped role allows; a client may change ${SETTABLE.join(', ')}`;

/** How a statement the door answers itself is described (see describeRows). */
type Describing = 'simple' | 'portal' | 'none';

/** The one text column a row-returning session statement has (SHOW name; pg_advisory_unlock_all() is void). */
function sessionFields(cmd: SessionCommand): FieldDescription[] | null {
  if (cmd.kind === 'show') return [{ ...TEXT_FIELD, name: cmd.name, typeOid: OID.text, typeSize: -1 }];
  if (cmd.kind === 'unlock_all') return [{ ...TEXT_FIELD, name: 'pg_advisory_unlock_all', typeOid: 2278, typeSize: 4 }];
  return null;
}

/** The fields of a result as the client receives it: a column the decision masks is text. */
function maskedFields(columns: ResultColumn[], decision: Decision): FieldDescription[] {
  const masks = resultMasks(columns, decision.maskingPlan);
  return columns.map((c, i) => {
    const m = masks[i];
    return m && m.strategy !== 'none' ? { ...TEXT_FIELD, name: c.name, typeOid: OID.text, typeSize: -1 } : fieldOf(c, 0);
  });
}
