import { connect as tcpConnect } from 'node:net';
import { AppError } from '@phigate/errors';
import { Catalog, type CatalogColumn } from '@phigate/sql';
import type { Logger } from '@phigate/telemetry';
import pg from 'pg';
import Cursor from 'pg-cursor';
import {
  type ExecuteOptions,
  type SessionUpstreamPort,
  type StatementDescription,
  UPSTREAM_SESSION_SETTINGS,
  type UpstreamPort,
  type UpstreamSession,
} from '../../domain/ports.js';
import { withScrubbedUpstream } from '../../domain/scrub-error.js';
import type { Cell, ResultColumn } from '../../domain/types.js';
import type { UpstreamConnection } from '../store/connection-registry.js';
import { CATALOG_RELATIONS, catalogView } from './catalog-view.js';
import { OneShot } from './one-shot.js';
import { pgTlsOptions, tlsFailure } from './tls.js';

const BATCH_ROWS = 500;

// Every value arrives as the server's text form: it is what masking works on and what each door
// re-encodes, so nothing is lost or re-formatted on the way.
const TEXT_TYPES = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

const CATALOG_SQL = `
  select c.oid::int as table_oid, n.nspname as schema, c.relname as table, a.attnum::int as attnum, a.attname as column
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  join pg_catalog.pg_attribute a on a.attrelid = c.oid
  where c.relkind in ('r', 'v', 'm', 'p', 'f') and a.attnum > 0 and not a.attisdropped
    and ((n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%')
      or n.nspname = 'information_schema' or (n.nspname = 'pg_catalog' and c.relname = any($1::text[])))`;

function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/**
 * Upstream errors mapped to our model. The upstream's message can quote data: only its scrubbed
 * form goes on (domain/scrub-error.ts), in the message and `details.upstream`, and the original
 * error is not kept as the cause, so no door, log line or audit record can reach it.
 */
function mapPgError(err: unknown, statement?: string): AppError {
  const code = (err as { code?: string }).code;
  if (code === '42501') return withScrubbedUpstream(new AppError('GATEWAY_UPSTREAM_PERMISSION', { cause: err, details: { sqlstate: code } }), statement);
  if (typeof code === 'string' && /^(08|57P|53)/.test(code))
    return withScrubbedUpstream(new AppError('GATEWAY_UPSTREAM_UNAVAILABLE', { cause: err, details: { sqlstate: code } }), statement);
  if (typeof code === 'string' && code.length === 5)
    return withScrubbedUpstream(new AppError('GATEWAY_UPSTREAM_ERROR', { cause: err, details: { sqlstate: code } }), statement);
  // A server certificate refused (or a server without TLS) fails closed: nothing was sent but the
  // SSLRequest, and the client is told that TLS is why.
  const tls = tlsFailure(err);
  if (tls)
    return new AppError('GATEWAY_UPSTREAM_UNAVAILABLE', {
      message: `the upstream database's TLS was refused (${tls}); nothing was run`,
      details: { tls },
      cause: err,
    });
  return new AppError('GATEWAY_UPSTREAM_UNAVAILABLE', { cause: err });
}

/**
 * PostgreSQL upstream. One pool per (connection, role): each pooled session runs `SET ROLE` once
 * and only ever serves that role, so one identity's role or session state never reaches another.
 * The gateway's login is NOINHERIT with no privileges of its own, so escaping the role gains nothing.
 */
export class PostgresUpstream implements SessionUpstreamPort {
  private readonly pools = new Map<string, { pool: pg.Pool; version: number }>();
  private readonly catalogs = new Map<string, Promise<Catalog>>();
  private readonly typeNames = new Map<number, string>();
  private readonly settingsCache = new Map<string, Promise<Record<string, string>>>();

  constructor(
    private readonly connections: () => ReadonlyMap<string, UpstreamConnection>,
    private readonly log: Logger,
    /** What a connection's relative sslRootCertFile is resolved against (GATEWAY_SECRETS_DIR). */
    private readonly secretsDir: string,
  ) {}

  /**
   * The pool for (connection, role). Pools are tied to the connection's registry version: once
   * a definition or credential changes, the old pool is drained and new sessions use the new one.
   */
  private pool(connection: string, role: string | null): pg.Pool {
    const c = this.connections().get(connection);
    if (!c) throw new AppError('GATEWAY_CONNECTION_UNKNOWN');
    const key = `${connection}\0${role ?? ''}`;
    const existing = this.pools.get(key);
    if (existing && existing.version === c.version) return existing.pool;
    if (existing) {
      this.pools.delete(key);
      this.catalogs.delete(connection);
      this.settingsCache.delete(connection);
      void existing.pool.end().catch(() => undefined);
    }
    let ssl: ReturnType<typeof pgTlsOptions>;
    try {
      ssl = pgTlsOptions(c, this.secretsDir);
    } catch (err) {
      throw new AppError('GATEWAY_UPSTREAM_UNAVAILABLE', {
        message: "the upstream connection's sslRootCertFile cannot be read; nothing was run",
        details: { connection, reason: (err as NodeJS.ErrnoException).code ?? 'error' },
      });
    }
    const pool = new pg.Pool({
      ssl,
      host: c.host,
      port: c.port,
      database: c.database,
      user: c.user,
      password: c.password,
      max: role ? c.poolMax : 2,
      idleTimeoutMillis: 60_000,
      connectionTimeoutMillis: 5000,
      statement_timeout: c.statementTimeoutMs,
      application_name: `phigate${role ? `:${role}` : ''}`,
    });
    pool.on('error', (err) => this.log.warn({ connection, code: (err as { code?: string }).code }, 'idle upstream connection failed'));
    // A session that drops while checked out (a pinned transaction between statements) emits
    // 'error' on its client: its next statement fails with a clear error instead of the gateway
    // crashing, and the pool discards it.
    pool.on('connect', (client) => client.on('error', () => {}));
    this.pools.set(key, { pool, version: c.version });
    return pool;
  }

  catalog(connection: string, refresh = false): Promise<Catalog> {
    let cat = this.catalogs.get(connection);
    if (!cat || refresh) {
      const c = this.connections().get(connection);
      if (!c) return Promise.reject(new AppError('GATEWAY_CONNECTION_UNKNOWN'));
      const pool = this.pool(connection, null);
      // Type names come with the catalog, so no lookup ever runs while a result is streaming.
      cat = Promise.all([
        // User tables, and the catalog relations tools read (policy decides who may; catalog-view.ts filters them).
        pool.query<{ table_oid: number; schema: string; table: string; attnum: number; column: string }>(CATALOG_SQL, [CATALOG_RELATIONS]),
        pool.query<{ oid: number; typname: string }>('select oid::int as oid, typname from pg_catalog.pg_type'),
      ]).then(([r, types]) => {
        for (const t of types.rows) this.typeNames.set(t.oid, t.typname);
        return new Catalog(
          c.database,
          r.rows.map((x): CatalogColumn => ({ tableOid: x.table_oid, schema: x.schema, table: x.table, attnum: x.attnum, column: x.column })),
        );
      });
      cat.catch(() => this.catalogs.delete(connection));
      this.catalogs.set(connection, cat);
      setTimeout(() => {
        if (this.catalogs.get(connection) === cat) this.catalogs.delete(connection);
      }, 60_000).unref();
    }
    return cat.catch((err) => {
      throw mapPgError(err);
    });
  }

  /** Result columns for upstream fields: type names and OIDs, and source columns from the catalog. */
  private async columnsOf(connection: string, fields: readonly pg.FieldDef[]): Promise<ResultColumn[]> {
    let cat = await this.catalog(connection);
    if (fields.some((f) => (f.tableID && !cat.knowsOid(f.tableID)) || !this.typeNames.has(f.dataTypeID))) cat = await this.catalog(connection, true);
    return fields.map((f) => {
      const source = f.tableID ? cat.source(f.tableID, f.columnID) : undefined;
      return {
        name: f.name,
        type: this.typeNames.get(f.dataTypeID) ?? 'unknown',
        ...(source ? { source } : {}),
        typeOid: f.dataTypeID,
        typeMod: f.dataTypeModifier,
      };
    });
  }

  /** Reads a cursor to its end (or until the sink has enough), columns first; closes it. */
  private async stream(connection: string, cursor: Cursor, sink: Parameters<UpstreamPort['execute']>[4]): Promise<{ command: string; rowCount: number }> {
    let columnsSent = false;
    let rowCount = 0;
    let command = '';
    for (;;) {
      const batch = (await cursor.read(BATCH_ROWS)) as Cell[][];
      const result = (cursor as unknown as { _result?: { fields?: pg.FieldDef[]; command?: string } })._result;
      if (!columnsSent) {
        await sink.columns(await this.columnsOf(connection, result?.fields ?? []));
        columnsSent = true;
      }
      command = result?.command ?? command;
      rowCount += batch.length;
      if (batch.length === 0) break;
      const more = await sink.rows(batch);
      if (!more || batch.length < BATCH_ROWS) break;
    }
    await closeCursor(cursor);
    const affected = (cursor as unknown as { _result?: { rowCount?: number | null } })._result?.rowCount;
    return { command, rowCount: command === 'SELECT' ? rowCount : (affected ?? rowCount) };
  }

  /**
   * A bounded read in one round trip (see OneShot): columns first, then the rows in batches, as a
   * cursor would deliver them.
   */
  private async oneShot(
    connection: string,
    client: pg.PoolClient,
    sql: string,
    params: unknown[],
    maxRows: number,
    sink: Parameters<UpstreamPort['execute']>[4],
  ) {
    const q = new OneShot(sql, params, maxRows);
    client.query(q as unknown as pg.Submittable);
    const r = await q.done;
    await sink.columns(await this.columnsOf(connection, r.fields));
    for (let i = 0; i < r.rows.length; i += BATCH_ROWS) {
      if (!(await sink.rows(r.rows.slice(i, i + BATCH_ROWS)))) break;
    }
    return { command: r.command, rowCount: r.command === 'SELECT' || r.rowCount === null ? r.rows.length : r.rowCount };
  }

  /** A pooled session switched to `role` (each pooled session only ever serves one role). */
  private async checkout(connection: string, role: string, settings?: SessionSettings): Promise<pg.PoolClient> {
    let client: pg.PoolClient;
    try {
      client = await this.pool(connection, role).connect();
    } catch (err) {
      if (err instanceof AppError) throw err;
      const tls = tlsFailure(err);
      if (tls) this.log.warn({ connection, tls }, 'upstream TLS refused; connection not used');
      throw mapPgError(err);
    }
    const tagged = client as Tagged;
    if (tagged.phigateRole !== role) {
      try {
        await client.query(`SET ROLE ${quoteIdent(role)}`);
      } catch (err) {
        client.release(true);
        throw mapPgError(err);
      }
      tagged.phigateRole = role;
      // A new session: the server's defaults.
      tagged.phigateSettings = {};
    }
    try {
      await applySettings(tagged, settings ?? {});
    } catch (err) {
      // A value the server refuses: this client's statement fails, the session stays clean.
      client.release(true);
      throw err instanceof AppError ? err : mapPgError(err);
    }
    return client;
  }

  /**
   * Checks and applies a client's session settings (SET of an allowed setting): on its pinned
   * session when it has one, else on a pooled session, which keeps them until another client's
   * statement needs different ones. A value the server refuses fails with the server's error.
   */
  async applySettings(connection: string, role: string, settings: SessionSettings, session?: UpstreamSession): Promise<void> {
    if (session) {
      const client = pinned(session, connection, role).client as Tagged;
      // Set inside the client's transaction: what the session runs with after it is not known.
      client.phigateInTx = true;
      await applySettings(client, settings).catch((err) => {
        throw err instanceof AppError ? err : mapPgError(err);
      });
      return;
    }
    (await this.checkout(connection, role, settings)).release();
  }

  async execute(connection: string, role: string, statement: string, params: unknown[], sink: Parameters<UpstreamPort['execute']>[4], opts: ExecuteOptions) {
    // Catalog reads run filtered to what the role may see (catalog-view.ts).
    const sql = catalogView(statement);
    if (opts.session) return this.executeOn(pinned(opts.session, connection, role), sql, params, sink, opts.signal, opts.maxRows);
    const started = performance.now();
    const client = await this.checkout(connection, role, opts.settings);
    let held = false;
    const stopCancel = this.cancelOnAbort(connection, client, opts.signal);
    try {
      // Writes run in a transaction that commits only when the caller says so: after the
      // request's audit events are durable. A failure in between rolls back.
      if (opts.transaction) await client.query('BEGIN');
      const { command, rowCount } = opts.maxRows
        ? await this.oneShot(connection, client, sql, params, opts.maxRows, sink)
        : await this.stream(connection, client.query(new Cursor(sql, params, { rowMode: 'array', types: TEXT_TYPES })), sink);
      held = opts.transaction;
      const finish = async (commit: boolean) => {
        if (!held) return;
        held = false;
        try {
          await client.query(commit ? 'COMMIT' : 'ROLLBACK');
          client.release();
        } catch (err) {
          client.release(true);
          throw mapPgError(err);
        }
      };
      if (!opts.transaction) client.release();
      return { command, rowCount, upstreamMs: Math.round(performance.now() - started), finish };
    } catch (err) {
      // Any failure (upstream error, masking failure with the portal still open) discards the
      // session rather than returning it to the pool in an unknown state; an open transaction
      // dies with it.
      client.release(true);
      if (err instanceof AppError) throw err;
      throw mapPgError(err, sql);
    } finally {
      stopCancel();
    }
  }

  /**
   * Runs a statement on a pinned session, inside the client's own transaction: no BEGIN/COMMIT of
   * ours, and the session stays with the client whatever happens (an upstream error leaves the
   * transaction aborted, as the client's PostgreSQL would).
   */
  private async executeOn(
    session: PgSession,
    sql: string,
    params: unknown[],
    sink: Parameters<UpstreamPort['execute']>[4],
    signal?: AbortSignal,
    maxRows?: number,
  ) {
    const started = performance.now();
    const client = session.client;
    const stopCancel = this.cancelOnAbort(session.connection, client, signal);
    const cursor = maxRows ? undefined : client.query(new Cursor(sql, params, { rowMode: 'array', types: TEXT_TYPES }));
    try {
      const { command, rowCount } = cursor
        ? await this.stream(session.connection, cursor, sink)
        : await this.oneShot(session.connection, client, sql, params, maxRows ?? 0, sink);
      const finish = async () => {};
      return { command, rowCount, upstreamMs: Math.round(performance.now() - started), finish };
    } catch (err) {
      // A failure of ours (masking) leaves the portal open: close it so the session stays usable.
      if (cursor && (!(err as { code?: string }).code || err instanceof AppError)) await closeCursor(cursor).catch(() => session.markBroken());
      if (err instanceof AppError) throw err;
      throw mapPgError(err, sql);
    } finally {
      stopCancel();
    }
  }

  /** While `signal` is live, aborting it sends a CancelRequest for the session's running statement. */
  private cancelOnAbort(connection: string, client: pg.PoolClient, signal?: AbortSignal): () => void {
    if (!signal) return () => {};
    const onAbort = () => {
      const c = this.connections().get(connection);
      const backend = client as unknown as { processID?: number; secretKey?: number };
      if (c && backend.processID !== undefined && backend.secretKey !== undefined) sendCancel(c.host, c.port, backend.processID, backend.secretKey);
    };
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    return () => signal.removeEventListener('abort', onAbort);
  }

  async session(connection: string, role: string, settings?: SessionSettings): Promise<UpstreamSession> {
    return new PgSession(connection, role, await this.checkout(connection, role, settings));
  }

  async describe(connection: string, role: string, statement: string, paramTypes: number[], session?: UpstreamSession): Promise<StatementDescription> {
    const sql = catalogView(statement);
    const client = session ? pinned(session, connection, role).client : await this.checkout(connection, role);
    try {
      const d = await new Promise<{ params: number[]; fields: pg.FieldDef[] | null }>((resolve, reject) => {
        client.query(new DescribeStatement(sql, paramTypes, resolve, reject) as unknown as pg.QueryConfig);
      });
      if (!session) client.release();
      return { params: d.params, columns: d.fields ? await this.columnsOf(connection, d.fields) : null };
    } catch (err) {
      if (!session) client.release();
      if (err instanceof AppError) throw err;
      throw mapPgError(err, sql);
    }
  }

  settings(connection: string): Promise<Record<string, string>> {
    let s = this.settingsCache.get(connection);
    if (!s) {
      s = (async () => {
        // What clients are told at login and what SHOW answers for a setting the client did not change
        // (the door decides which settings it shows).
        const r = await this.pool(connection, null).query<{ name: string; setting: string }>(
          'select name, current_setting(name) as setting from pg_catalog.pg_settings',
        );
        return Object.fromEntries(r.rows.map((x) => [x.name, x.setting]));
      })();
      s.catch(() => this.settingsCache.delete(connection));
      this.settingsCache.set(connection, s);
    }
    return s.catch((err) => {
      throw mapPgError(err);
    });
  }

  async ping(): Promise<boolean> {
    const first = this.connections().keys().next().value;
    if (!first) return true;
    try {
      await this.pool(first, null).query('select 1');
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.pool.end()));
  }
}

function closeCursor(cursor: Cursor): Promise<void> {
  return new Promise<void>((resolve, reject) => cursor.close((err) => (err ? reject(err) : resolve())));
}

/** A session pinned to one client connection until its transaction ends. */
/** A client's session settings applied upstream (canonical name → value), e.g. { TimeZone: 'Europe/Paris' }. */
export type SessionSettings = Readonly<Record<string, string>>;

/**
 * A pooled client, tagged with the role and the settings it runs with (`phigateSettings`;
 * undefined: not known, after a transaction that changed them, since ROLLBACK reverts SET).
 */
type Tagged = pg.PoolClient & { phigateRole?: string; phigateSettings?: SessionSettings; phigateInTx?: boolean };

const sameSettings = (a: SessionSettings, b: SessionSettings) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

/**
 * Brings a session to exactly `want`: each setting a previous client changed and this one did not
 * goes back to the server's default, each of this one's is set (values as parameters, never text).
 * Nothing is sent when the session already runs with `want`.
 */
async function applySettings(client: Tagged, want: SessionSettings): Promise<void> {
  const had = client.phigateSettings;
  if (had && sameSettings(had, want)) return;
  const names = [...new Set([...(had ? Object.keys(had) : UPSTREAM_SESSION_SETTINGS), ...Object.keys(want)])];
  client.phigateSettings = undefined;
  await client.query(
    'select pg_catalog.set_config(n, coalesce(v, (select reset_val from pg_catalog.pg_settings where name = n)), false) from unnest($1::text[], $2::text[]) as s(n, v)',
    [names, names.map((n) => want[n] ?? null)],
  );
  client.phigateSettings = { ...want };
}

class PgSession implements UpstreamSession {
  private released = false;
  private broken = false;

  constructor(
    readonly connection: string,
    readonly role: string,
    readonly client: pg.PoolClient,
  ) {
    client.on('error', this.onError);
  }

  private readonly onError = () => {
    this.broken = true;
  };

  markBroken(): void {
    this.broken = true;
  }

  async control(sql: string): Promise<void> {
    if (this.broken || this.released) throw new AppError('GATEWAY_UPSTREAM_UNAVAILABLE', { message: 'the upstream session of this transaction was lost' });
    try {
      await this.client.query(sql);
    } catch (err) {
      throw mapPgError(err, sql);
    }
  }

  release(discard = false): void {
    if (this.released) return;
    const tagged = this.client as Tagged;
    if (tagged.phigateInTx) {
      tagged.phigateInTx = false;
      tagged.phigateSettings = undefined;
    }
    this.released = true;
    this.client.removeListener('error', this.onError);
    this.client.release(discard || this.broken);
  }
}

function pinned(session: UpstreamSession, connection: string, role: string): PgSession {
  if (!(session instanceof PgSession) || session.connection !== connection)
    throw new AppError('COMMON_INTERNAL', { message: 'not a session of this upstream' });
  // The binding may have changed since the transaction began: never run as a role it no longer gives.
  if (session.role !== role)
    throw new AppError('GATEWAY_CONNECTION_UNKNOWN', {
      message: 'the identity is no longer bound to the role this transaction runs as',
      details: { connection },
    });
  return session;
}

/** A CancelRequest on a fresh connection (the protocol's only way to interrupt a running statement). */
function sendCancel(host: string, port: number, processId: number, secretKey: number): void {
  const msg = Buffer.alloc(16);
  msg.writeInt32BE(16, 0);
  msg.writeInt32BE(80_877_102, 4);
  msg.writeInt32BE(processId, 8);
  msg.writeInt32BE(secretKey, 12);
  const sock = tcpConnect({ host, port }, () => sock.end(msg));
  sock.on('error', () => undefined);
  sock.setTimeout(5000, () => sock.destroy());
}

/**
 * Parse + Describe(statement) + Sync on a session, through node-postgres's submittable interface:
 * parameter types and result fields, without running anything.
 */
class DescribeStatement {
  private params: number[] = [];
  private fields: pg.FieldDef[] | null = null;
  private cleanup = () => {};

  constructor(
    private readonly text: string,
    private readonly types: number[],
    private readonly resolve: (d: { params: number[]; fields: pg.FieldDef[] | null }) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  submit(con: {
    parse(q: { text: string; types: number[] }): void;
    describe(m: { type: 'S'; name: string }): void;
    sync(): void;
    on(event: string, fn: (m: { dataTypeIDs?: number[] }) => void): void;
    removeListener(event: string, fn: (m: { dataTypeIDs?: number[] }) => void): void;
  }): void {
    const onParams = (m: { dataTypeIDs?: number[] }) => {
      this.params = m.dataTypeIDs ?? [];
    };
    const onNoData = () => {
      this.fields = null;
    };
    con.on('parameterDescription', onParams);
    con.on('noData', onNoData);
    this.cleanup = () => {
      con.removeListener('parameterDescription', onParams);
      con.removeListener('noData', onNoData);
    };
    con.parse({ text: this.text, types: this.types });
    con.describe({ type: 'S', name: '' });
    con.sync();
  }

  handleRowDescription(msg: { fields: pg.FieldDef[] }): void {
    this.fields = msg.fields;
  }

  handleError(err: unknown): void {
    // node-postgres drops the active query on an error and never tells it about the ReadyForQuery
    // that follows (the Sync is already sent): settle now, or a statement the upstream rejects at
    // Parse or Describe (a typo, an unknown table) leaves the client waiting forever.
    this.cleanup();
    this.reject(err);
  }

  handleReadyForQuery(): void {
    this.cleanup();
    this.resolve({ params: this.params, fields: this.fields });
  }

  handleCommandComplete(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
}
