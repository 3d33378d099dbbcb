import { AppError } from '@phigate/errors';
import { Catalog, type CatalogColumn } from '@phigate/sql';
import type { Logger } from '@phigate/telemetry';
import pg from 'pg';
import Cursor from 'pg-cursor';
import type { UpstreamPort } from '../../domain/ports.js';
import type { Cell, ResultColumn } from '../../domain/types.js';
import type { UpstreamConnection } from '../store/connection-registry.js';

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
    and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'`;

function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** Upstream errors mapped to our model; the upstream's message is not passed on (it can quote data). */
function mapPgError(err: unknown): AppError {
  const code = (err as { code?: string }).code;
  if (code === '42501') return new AppError('GATEWAY_UPSTREAM_PERMISSION', { cause: err, details: { sqlstate: code } });
  if (typeof code === 'string' && /^(08|57P|53)/.test(code)) return new AppError('GATEWAY_UPSTREAM_UNAVAILABLE', { cause: err, details: { sqlstate: code } });
  if (typeof code === 'string' && code.length === 5) return new AppError('GATEWAY_UPSTREAM_ERROR', { cause: err, details: { sqlstate: code } });
  return new AppError('GATEWAY_UPSTREAM_UNAVAILABLE', { cause: err });
}

/**
 * PostgreSQL upstream. One pool per (connection, role): each pooled session runs `SET ROLE` once
 * and only ever serves that role, so one identity's role or session state never reaches another.
 * The gateway's login is NOINHERIT with no privileges of its own, so escaping the role gains nothing.
 */
export class PostgresUpstream implements UpstreamPort {
  private readonly pools = new Map<string, { pool: pg.Pool; version: number }>();
  private readonly catalogs = new Map<string, Promise<Catalog>>();
  private readonly typeNames = new Map<number, string>();

  constructor(
    private readonly connections: () => ReadonlyMap<string, UpstreamConnection>,
    private readonly log: Logger,
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
      void existing.pool.end().catch(() => undefined);
    }
    const pool = new pg.Pool({
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
        pool.query<{ table_oid: number; schema: string; table: string; attnum: number; column: string }>(CATALOG_SQL),
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

  async execute(
    connection: string,
    role: string,
    sql: string,
    params: unknown[],
    sink: Parameters<UpstreamPort['execute']>[4],
    opts: { transaction: boolean },
  ) {
    const started = performance.now();
    let client: pg.PoolClient;
    try {
      client = await this.pool(connection, role).connect();
    } catch (err) {
      throw mapPgError(err);
    }
    let held = false;
    try {
      const tagged = client as pg.PoolClient & { phigateRole?: string };
      if (tagged.phigateRole !== role) {
        await client.query(`SET ROLE ${quoteIdent(role)}`);
        tagged.phigateRole = role;
      }
      // Writes run in a transaction that commits only when the caller says so: after the
      // request's audit events are durable. A failure in between rolls back.
      if (opts.transaction) await client.query('BEGIN');
      const cursor = client.query(new Cursor(sql, params, { rowMode: 'array', types: TEXT_TYPES }));
      let columnsSent = false;
      let rowCount = 0;
      let command = '';
      for (;;) {
        const batch = (await cursor.read(BATCH_ROWS)) as Cell[][];
        const result = (cursor as unknown as { _result?: { fields?: pg.FieldDef[]; command?: string } })._result;
        if (!columnsSent) {
          let cat = await this.catalog(connection);
          const fields = result?.fields ?? [];
          if (fields.some((f) => (f.tableID && !cat.knowsOid(f.tableID)) || !this.typeNames.has(f.dataTypeID))) cat = await this.catalog(connection, true);
          const cols: ResultColumn[] = fields.map((f) => {
            const source = f.tableID ? cat.source(f.tableID, f.columnID) : undefined;
            return { name: f.name, type: this.typeNames.get(f.dataTypeID) ?? 'unknown', ...(source ? { source } : {}) };
          });
          await sink.columns(cols);
          columnsSent = true;
        }
        command = result?.command ?? command;
        rowCount += batch.length;
        if (batch.length === 0) break;
        const more = await sink.rows(batch);
        if (!more || batch.length < BATCH_ROWS) break;
      }
      await new Promise<void>((resolve, reject) => cursor.close((err) => (err ? reject(err) : resolve())));
      const affected = (cursor as unknown as { _result?: { rowCount?: number | null } })._result?.rowCount;
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
      return { command, rowCount: command === 'SELECT' ? rowCount : (affected ?? rowCount), upstreamMs: Math.round(performance.now() - started), finish };
    } catch (err) {
      // Any failure (upstream error, masking failure with the portal still open) discards the
      // session rather than returning it to the pool in an unknown state; an open transaction
      // dies with it.
      client.release(true);
      if (err instanceof AppError) throw err;
      throw mapPgError(err);
    }
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
