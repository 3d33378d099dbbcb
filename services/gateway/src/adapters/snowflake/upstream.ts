import { AppError } from '@phigate/errors';
import { Catalog, type CatalogColumn, numberedBinds, withCurrentUser } from '@phigate/sql';
import type { Logger } from '@phigate/telemetry';
import sqlParser from 'node-sql-parser';
import snowflake from 'snowflake-sdk';
import type { UpstreamPort, UpstreamSession } from '../../domain/ports.js';
import { withScrubbedUpstream } from '../../domain/scrub-error.js';
import type { Cell, ResultColumn } from '../../domain/types.js';
import type { UpstreamConnection } from '../store/connection-registry.js';
import { resultSources } from './provenance.js';

const BATCH_ROWS = 500;
const CATALOG_TTL_MS = 60_000;
const DML = /^number of (rows (inserted|updated|deleted)|multi-joined rows updated)/;

snowflake.configure({ logLevel: 'OFF', additionalLogToConsole: false });

type Pool = ReturnType<typeof snowflake.createPool>;
type Conn = snowflake.Connection;
type Stmt = snowflake.RowStatement;

/** An identifier as Snowflake reads it: plain names unquoted (folded), anything else quoted. */
function ident(s: string): string {
  return /^[A-Za-z_][A-Za-z0-9_$]*$/.test(s) ? s : `"${s.replace(/"/g, '""')}"`;
}

/**
 * Snowflake errors mapped to our model. The upstream's code and SQLSTATE are kept (the Snowflake
 * door reports them); its message only scrubbed of values (domain/scrub-error.ts), and the original
 * error is not kept as the cause, so no door, log line or audit record can reach it.
 */
function mapError(err: unknown, statement?: string): AppError {
  const e = mapErrorRaw(err);
  return withScrubbedUpstream(e, statement);
}

function mapErrorRaw(err: unknown): AppError {
  const e = err as { code?: unknown; sqlState?: unknown; name?: string };
  const sfCode = typeof e.code === 'string' && /^\d{6}$/.test(e.code) ? e.code : undefined;
  const sqlstate = typeof e.sqlState === 'string' ? e.sqlState : undefined;
  const details = { ...(sfCode ? { sfCode } : {}), ...(sqlstate ? { sqlstate } : {}) };
  if (sfCode?.startsWith('390')) return new AppError('GATEWAY_SF_UPSTREAM_LOGIN_FAILED', { cause: err, details });
  if (sqlstate === '42501' || sfCode === '003001') return new AppError('GATEWAY_UPSTREAM_PERMISSION', { cause: err, details });
  if (sqlstate && /^(08|57P|53)/.test(sqlstate)) return new AppError('GATEWAY_UPSTREAM_UNAVAILABLE', { cause: err, details });
  if (sfCode || sqlstate) return new AppError('GATEWAY_UPSTREAM_ERROR', { cause: err, details });
  return new AppError('GATEWAY_UPSTREAM_UNAVAILABLE', { cause: err, details: { kind: e.name ?? 'Error' } });
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** Epoch seconds + nanoseconds as `YYYY-MM-DD HH:MM:SS[.f…]` (UTC wall time), `scale` fraction digits. */
function wallTime(seconds: number, nanos: number, scale: number): string {
  const d = new Date(seconds * 1000);
  const text = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return scale > 0 ? `${text}.${String(nanos).padStart(9, '0').slice(0, scale)}` : text;
}

function offsetText(minutes: number): string {
  const a = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

type SfTimestamp = Date & { getEpochSeconds?: () => number; getNanoSeconds?: () => number; getTimezone?: () => number };

/**
 * A driver value as the text cell masking works on and the doors re-encode: numbers and JSON as
 * the warehouse wrote them (fetched as strings), booleans `true`/`false`, dates `YYYY-MM-DD`,
 * timestamps `YYYY-MM-DD HH:MM:SS.f` (LTZ in UTC with `+00:00`, TZ in its own offset), binary hex.
 */
export function cellOf(type: string, scale: number, v: unknown): Cell {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('hex').toUpperCase();
  if (v instanceof Date) {
    const t = v as SfTimestamp;
    if (type === 'date') return new Date(v.getTime()).toISOString().slice(0, 10);
    const seconds = t.getEpochSeconds ? t.getEpochSeconds() : Math.floor(v.getTime() / 1000);
    const nanos = t.getNanoSeconds ? t.getNanoSeconds() : (v.getTime() % 1000) * 1_000_000;
    if (type === 'timestamp_tz') {
      const offset = t.getTimezone ? t.getTimezone() : 0;
      return `${wallTime(seconds + offset * 60, nanos, scale)}${offsetText(offset)}`;
    }
    if (type === 'timestamp_ltz') return `${wallTime(seconds, nanos, scale)}+00:00`;
    return wallTime(seconds, nanos, scale);
  }
  return JSON.stringify(v);
}

/** The statement's command: its first keyword (reads of every kind are SELECT). */
function commandOf(sql: string): string {
  const m = /^\s*(?:(?:--[^\n]*\n|\/\*[\s\S]*?\*\/)\s*)*([A-Za-z]+)/.exec(sql);
  const k = (m?.[1] ?? '').toUpperCase();
  return ['WITH', 'SHOW', 'DESCRIBE', 'DESC', 'VALUES', 'TABLE', 'SELECT'].includes(k) ? 'SELECT' : k || 'UNKNOWN';
}

function run(conn: Conn, sqlText: string, binds: unknown[] = [], stream = false): Promise<Stmt> {
  return new Promise((resolve, reject) => {
    conn.execute({
      sqlText,
      ...(binds.length ? { binds: binds as snowflake.Binds } : {}),
      streamResult: stream,
      rowMode: 'array',
      fetchAsString: ['Number', 'JSON'],
      complete: (err, stmt) => (err ? reject(err) : resolve(stmt)),
    });
  });
}

/**
 * A pooled session the driver still holds connected. One it knows has ended (its session expired,
 * the warehouse restarted) would fail the statement with "terminated connection" before sending
 * it: it is discarded and another taken (a new one is logged in when the pool has none).
 */
async function acquireUp(pool: Pool): Promise<Conn> {
  for (let tries = 0; ; tries++) {
    const conn: Conn = await pool.acquire();
    if (conn.isUp() || tries >= 10) return conn;
    await pool.destroy(conn).catch(() => undefined);
  }
}

/** The driver's "this session is no longer connected" (ERR_CONN_REQUEST_STATUS_DISCONNECTED): raised before a request is sent. */
const SESSION_DISCONNECTED = 407002;

/** Errors of `pooled` whose session was gone before the statement ran (the driver's code, before it is mapped and scrubbed). */
const goneBeforeRunning = new WeakSet<object>();

/** Runs `f` on a connected pooled session, released after. */
async function withSession<T>(pool: Pool, f: (conn: Conn) => Promise<T>): Promise<T> {
  const conn = await acquireUp(pool);
  try {
    return await f(conn);
  } finally {
    await pool.release(conn).catch(() => undefined);
  }
}

/**
 * Snowflake upstream through snowflake-sdk. The gateway logs in as the connection's user with
 * its sealed credential (key-pair JWT, or password) and keeps one pool per (connection, role):
 * every session of a pool is opened with that role and only ever serves it. Rows stream out of
 * the driver in batches, as text cells, into masking.
 */
export class SnowflakeUpstream implements UpstreamPort {
  private readonly pools = new Map<string, { pool: Pool; version: number }>();
  private readonly catalogs = new Map<string, { at: number; catalog: Promise<Catalog> }>();
  private readonly parser = new sqlParser.Parser();
  /** The client settings each pooled session carries now (ALTER SESSION of ours), by session. */
  private readonly applied = new WeakMap<Conn, Readonly<Record<string, string>>>();

  constructor(
    private readonly connections: () => ReadonlyMap<string, UpstreamConnection>,
    private readonly log: Logger,
  ) {}

  private connection(name: string): UpstreamConnection {
    const c = this.connections().get(name);
    if (c?.type !== 'snowflake') throw new AppError('GATEWAY_CONNECTION_UNKNOWN');
    return c;
  }

  /** The pool for (connection, role), tied to the connection's registry version (a change gets new sessions). */
  private pool(name: string, role: string | null): Pool {
    const c = this.connection(name);
    const key = `${name}\0${role ?? ''}`;
    const existing = this.pools.get(key);
    if (existing && existing.version === c.version) return existing.pool;
    if (existing) {
      this.pools.delete(key);
      this.catalogs.delete(name);
      void existing.pool.drain().then(
        () => existing.pool.clear(),
        () => undefined,
      );
    }
    const credential =
      c.authMethod === 'keypair' ? { authenticator: 'SNOWFLAKE_JWT', privateKey: c.password } : { authenticator: 'SNOWFLAKE', password: c.password };
    const pool = snowflake.createPool(
      {
        account: c.account ?? c.name,
        accessUrl: `${c.protocol ?? 'https'}://${c.host}:${c.port}`,
        username: c.user,
        ...credential,
        database: c.database,
        schema: c.defaultSchema,
        ...(c.warehouse ? { warehouse: c.warehouse } : {}),
        ...(role ? { role } : {}),
        application: 'phigate',
        timeout: c.statementTimeoutMs + 30_000,
        clientSessionKeepAlive: false,
        // Rows are fetched as text (fetchAsString): without this, a NULL number would arrive as the string 'NULL'.
        representNullAsStringNull: false,
      } as snowflake.ConnectionOptions,
      {
        max: role ? c.poolMax : 2,
        min: 0,
        evictionRunIntervalMillis: 30_000,
        idleTimeoutMillis: 60_000,
        acquireTimeoutMillis: 15_000,
      } as snowflake.PoolOptions,
    );
    this.pools.set(key, { pool, version: c.version });
    return pool;
  }

  catalog(connection: string, refresh = false): Promise<Catalog> {
    const cached = this.catalogs.get(connection);
    if (cached && !refresh && Date.now() - cached.at < CATALOG_TTL_MS) return cached.catalog;
    let c: UpstreamConnection;
    try {
      c = this.connection(connection);
    } catch (err) {
      return Promise.reject(err);
    }
    const pool = this.pool(connection, null);
    const catalog = withSession(pool, async (conn: Conn) => {
      const stmt = await run(
        conn,
        // INFORMATION_SCHEMA's views too, so statements over them are understood (and decided) like any other.
        `SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION FROM ${ident(c.database)}.INFORMATION_SCHEMA.COLUMNS ` +
          'ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION',
      );
      return (await rowsOf(stmt)) as Array<[string, string, string, string]>;
    })
      .then((rows: Array<[string, string, string, string]>) => {
        // Snowflake has no table oids: number the tables as they come (provenance is by name here).
        const oids = new Map<string, number>();
        const cols: CatalogColumn[] = rows.map(([schema, table, column, pos]) => {
          const k = `${schema}.${table}`;
          if (!oids.has(k)) oids.set(k, oids.size + 1);
          return { tableOid: oids.get(k)!, schema, table, attnum: Number(pos), column };
        });
        return new Catalog(c.database.toUpperCase(), cols);
      })
      .catch((err: unknown) => {
        this.catalogs.delete(connection);
        // Without its catalog no statement can be analysed: the connection is unavailable (fail closed).
        const e = mapError(err);
        throw e.code === 'GATEWAY_UPSTREAM_UNAVAILABLE' ? e : new AppError('GATEWAY_UPSTREAM_UNAVAILABLE', { cause: err, details: e.details });
      });
    this.catalogs.set(connection, { at: Date.now(), catalog });
    return catalog;
  }

  /**
   * The warehouse's compilation error for `sql` as the role would run it (describe-only: compiled,
   * never executed), or undefined when it compiles or the warehouse cannot say (unreachable, a login
   * failure: the statement then stays a policy denial).
   */
  async compileError(connection: string, role: string, sql: string, params: unknown[]): Promise<Error | undefined> {
    const pool = this.pool(connection, role);
    const conn = await acquireUp(pool);
    try {
      await new Promise<void>((resolve, reject) =>
        conn.execute({
          sqlText: sql,
          describeOnly: true,
          ...(params.length ? { binds: params as snowflake.Binds } : {}),
          complete: (err) => (err ? reject(err) : resolve()),
        }),
      );
      return undefined;
    } catch (err) {
      const e = mapErrorRaw(err);
      return e.code === 'GATEWAY_UPSTREAM_ERROR' ? e : undefined;
    } finally {
      await pool.release(conn);
    }
  }

  /**
   * Takes a session from the (connection, role) pool and keeps it for a client's transaction: its
   * statements run there, with no BEGIN/COMMIT of ours (Snowflake rolls a failed statement back on
   * its own; the transaction goes on).
   */
  async session(connection: string, role: string): Promise<UpstreamSession> {
    const pool = this.pool(connection, role);
    let conn: Conn;
    try {
      conn = await acquireUp(pool);
    } catch (err) {
      throw mapError(err);
    }
    return new SfPinned(connection, role, conn, pool);
  }

  async execute(
    connection: string,
    role: string,
    sql: string,
    params: unknown[],
    sink: Parameters<UpstreamPort['execute']>[4],
    opts: { transaction: boolean; caller?: string; session?: UpstreamSession; settings?: Readonly<Record<string, string>> },
  ) {
    const started = performance.now();
    if (opts.session) {
      const pinned = opts.session;
      if (!(pinned instanceof SfPinned) || pinned.connection !== connection || pinned.role !== role)
        throw new AppError('COMMON_INTERNAL', { message: 'a pinned session of another connection or role' });
      try {
        await this.reconcile(pinned.conn, opts.settings);
        const { command, rowCount } = await this.statement(pinned.conn, connection, sql, params, sink, opts);
        return { command, rowCount, upstreamMs: Math.round(performance.now() - started), finish: async () => {} };
      } catch (err) {
        if (err instanceof AppError) throw err;
        throw mapError(err, sql);
      }
    }
    const pool = this.pool(connection, role);
    // A pooled session gone on the warehouse's side (expired, or the warehouse restarted) is
    // discarded and the statement, which never ran there, runs on the next one. After a restart
    // every idle session of the pool is gone: each is tried once (the driver finds out only when it
    // sends), then a fresh one is logged in.
    for (let tries = 0; ; tries++) {
      try {
        return await this.pooled(pool, connection, sql, params, sink, opts, started);
      } catch (err) {
        if (!goneBeforeRunning.has(err as object) || tries > this.connection(connection).poolMax) throw err;
      }
    }
  }

  /** One attempt of `execute` on a session of the (connection, role) pool. */
  private async pooled(
    pool: Pool,
    connection: string,
    sql: string,
    params: unknown[],
    sink: Parameters<UpstreamPort['execute']>[4],
    opts: Parameters<SnowflakeUpstream['execute']>[5],
    started: number,
  ) {
    let conn: Conn;
    try {
      conn = await acquireUp(pool);
    } catch (err) {
      throw mapError(err);
    }
    let open = false;
    const discard = () => void pool.destroy(conn).catch(() => undefined);
    try {
      await this.reconcile(conn, opts.settings);
      // Writes run in a transaction committed only when the caller says so: after the request's
      // audit events are durable. A failure in between rolls back.
      if (opts.transaction) {
        await run(conn, 'BEGIN');
        open = true;
      }
      const { command, rowCount } = await this.statement(conn, connection, sql, params, sink, opts);
      const finish = async (commit: boolean) => {
        if (!open) return;
        open = false;
        try {
          await run(conn, commit ? 'COMMIT' : 'ROLLBACK');
          await pool.release(conn);
        } catch (err) {
          discard();
          throw mapError(err);
        }
      };
      if (!opts.transaction) await pool.release(conn);
      return { command, rowCount, upstreamMs: Math.round(performance.now() - started), finish };
    } catch (err) {
      // A session that failed mid-statement (or holds an open transaction) is discarded, never reused.
      discard();
      if (err instanceof AppError) throw err;
      const e = mapError(err, sql);
      if (Number((err as { code?: unknown }).code) === SESSION_DISCONNECTED) goneBeforeRunning.add(e);
      throw e;
    }
  }

  /**
   * Brings a session's parameters to the client's settings (Snowflake door: ALTER SESSION values,
   * name → SQL literal) before its statement runs: a pooled session keeps what its last client set,
   * so only the differences are sent (one ALTER SESSION SET and/or UNSET), and a session that has
   * never served such a client costs nothing. A session whose ALTER failed is forgotten (its state is
   * unknown); the caller discards it.
   */
  private async reconcile(conn: Conn, settings: Readonly<Record<string, string>> = {}): Promise<void> {
    const now = this.applied.get(conn) ?? {};
    const set = Object.entries(settings).filter(([k, v]) => now[k] !== v);
    const unset = Object.keys(now).filter((k) => !(k in settings));
    if (!set.length && !unset.length) return;
    this.applied.delete(conn);
    try {
      if (set.length) await run(conn, `ALTER SESSION SET ${set.map(([k, v]) => `${k} = ${v}`).join(' ')}`);
      if (unset.length) await run(conn, `ALTER SESSION UNSET ${unset.join(', ')}`);
    } catch (err) {
      throw mapError(err);
    }
    this.applied.set(conn, { ...settings });
  }

  /** Runs one statement on `conn`: DML answers its count, anything else streams its rows (typed cells, traced sources) into `sink`. */
  private async statement(
    conn: Conn,
    connection: string,
    sql: string,
    params: unknown[],
    sink: Parameters<UpstreamPort['execute']>[4],
    { caller, settings }: { caller?: string; settings?: Readonly<Record<string, string>> },
  ) {
    const c = this.connection(connection);
    // CURRENT_USER() is the caller, not the gateway's service user (CURRENT_ROLE() already is the mapped role).
    const stmt = await run(conn, caller ? withCurrentUser(sql, caller) : sql, params, true);
    const meta = stmt.getColumns() ?? [];
    const command = commandOf(sql);
    let rowCount = 0;
    if (meta.length && meta.every((m) => DML.test(m.getName()))) {
      // DML answers with counters; the doors report the count, so no row goes through masking.
      return { command, rowCount: Math.max(0, stmt.getNumUpdatedRows() ?? 0) };
    }
    const sources = await this.sources(connection, c.defaultSchema, sql, meta.length, settings?.QUOTED_IDENTIFIERS_IGNORE_CASE === 'true');
    const cols: ResultColumn[] = meta.map((m, i) => {
      const source = sources?.[i];
      return {
        name: m.getName(),
        type: m.getType(),
        ...(m.getPrecision() !== null && m.getPrecision() !== undefined ? { precision: m.getPrecision() } : {}),
        ...(m.getScale() !== null && m.getScale() !== undefined ? { scale: m.getScale() } : {}),
        nullable: m.isNullable(),
        ...(source ? { source } : {}),
      };
    });
    await sink.columns(cols);
    const types = cols.map((col) => [col.type, col.scale ?? 9] as const);
    const stream = stmt.streamRows();
    let batch: Cell[][] = [];
    let more = true;
    for await (const row of stream as AsyncIterable<unknown[]>) {
      batch.push(row.map((v, i) => cellOf(types[i]![0], types[i]![1], v)));
      if (batch.length >= BATCH_ROWS) {
        rowCount += batch.length;
        more = await sink.rows(batch);
        batch = [];
        if (!more) {
          stream.destroy();
          break;
        }
      }
    }
    if (more && batch.length) {
      rowCount += batch.length;
      await sink.rows(batch);
    }
    return { command, rowCount };
  }

  /** Where each result column came from, when the statement is a SELECT simple enough to trace. */
  private async sources(connection: string, defaultSchema: string, sql: string, width: number, quotedIgnoreCase: boolean) {
    try {
      // Binds as the analysis read them: `?` is not in the grammar, `:n` is.
      const ast = this.parser.astify(numberedBinds(sql), { database: 'snowflake' });
      const sources = resultSources(ast, await this.catalog(connection), defaultSchema.toUpperCase(), quotedIgnoreCase);
      return sources?.length === width ? sources : undefined;
    } catch {
      return undefined;
    }
  }

  async ping(): Promise<boolean> {
    for (const [name, c] of this.connections()) {
      if (c.type !== 'snowflake') continue;
      try {
        await withSession(this.pool(name, null), (conn: Conn) => run(conn, 'SELECT 1'));
      } catch {
        return false;
      }
    }
    return true;
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.pools.values()].map(async ({ pool }) => {
        await pool.drain().catch(() => undefined);
        await pool.clear().catch(() => undefined);
      }),
    );
    this.log.debug({ pools: this.pools.size }, 'snowflake pools closed');
  }
}

/** Every row of a (non-streamed) statement. */
async function rowsOf(stmt: Stmt): Promise<unknown[][]> {
  const out: unknown[][] = [];
  for await (const row of stmt.streamRows() as AsyncIterable<unknown[]>) out.push(row);
  return out;
}

/** A pooled Snowflake session kept for one client's transaction (SnowflakeUpstream.session). */
class SfPinned implements UpstreamSession {
  private released = false;

  constructor(
    readonly connection: string,
    readonly role: string,
    readonly conn: Conn,
    private readonly pool: Pool,
  ) {}

  async control(sql: string): Promise<void> {
    try {
      await run(this.conn, sql);
    } catch (err) {
      throw mapError(err, sql);
    }
  }

  release(discard = false): void {
    if (this.released) return;
    this.released = true;
    void (discard ? this.pool.destroy(this.conn) : this.pool.release(this.conn)).catch(() => undefined);
  }
}
