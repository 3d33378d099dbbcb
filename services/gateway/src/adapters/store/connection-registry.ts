import { readFileSync } from 'node:fs';
import { AppError, isAppError } from '@phigate/errors';
import type { Logger } from '@phigate/telemetry';
import type pg from 'pg';
import { type Keyring, parseKeyring, type Sealed, seal, unseal } from '../../domain/sealing.js';
import { type PgSslMode, tlsFailure } from '../postgres/tls.js';

/** What an admin registers (the password only travels in; it is never returned). */
export interface ConnectionDefinition {
  name: string;
  type: 'postgresql' | 'snowflake';
  host: string;
  port: number;
  database: string;
  user: string;
  defaultSchema: string;
  poolMax: number;
  statementTimeoutMs: number;
  /** Snowflake only (column `options`): the account identifier the upstream login names. */
  account?: string;
  /** Snowflake only: the virtual warehouse statements run on (the user's default when absent). */
  warehouse?: string;
  /** Snowflake only: `https` (default) or `http` (the local warehouse). */
  protocol?: 'http' | 'https';
  /** Snowflake only: the sealed credential is a PKCS#8 private key (`keypair`, key-pair JWT) or a `password`. */
  authMethod?: 'keypair' | 'password';
  /** PostgreSQL only: TLS to the upstream (adapters/postgres/tls.ts); absent means verify-full. */
  sslMode?: PgSslMode;
  /** PostgreSQL only: the CA bundle file (relative to GATEWAY_SECRETS_DIR) for verify-full or verify-ca. */
  sslRootCertFile?: string;
  /** PostgreSQL only: allows sslMode disable or require to a host that is not loopback. */
  plaintext?: boolean;
}

/** The non-credential, type-specific settings kept in the registry's `options` column. */
const OPTION_KEYS = ['account', 'warehouse', 'protocol', 'authMethod', 'sslMode', 'sslRootCertFile', 'plaintext'] as const;
type ConnectionOptions = Pick<ConnectionDefinition, (typeof OPTION_KEYS)[number]>;

/** A connection as the upstream adapter needs it, password opened in memory only. */
export interface UpstreamConnection extends ConnectionDefinition {
  dialect: 'postgresql' | 'snowflake';
  /** The opened credential: a password, or (Snowflake `keypair`) a PKCS#8 PEM private key. */
  password: string;
  version: number;
}

/** A connection as any API may show it: no credential, only which key sealed it. */
export interface ConnectionView extends ConnectionDefinition {
  source: 'api' | 'config';
  version: number;
  credential: { sealed: true; keyId: string; algorithm: 'A256GCM' };
  updatedAt: string;
}

interface Row {
  name: string;
  type: 'postgresql' | 'snowflake';
  host: string;
  port: number;
  database: string;
  username: string;
  default_schema: string;
  pool_max: number;
  statement_timeout_ms: number;
  options: ConnectionOptions | null;
  credential: Sealed;
  source: 'api' | 'config';
  version: string;
  updated_at: Date;
}

const COLUMNS = 'name, type, host, port, database, username, default_schema, pool_max, statement_timeout_ms, options, credential, source, version, updated_at';

/**
 * The connection registry in the gateway's control database. Credentials are sealed with the
 * active key before they are written and opened only into the in-memory snapshot the upstream
 * pools use. The snapshot refreshes periodically, so every replica sees registrations.
 */
export class ConnectionRegistry {
  private keyring: Keyring;

  /** The current keyring (replaced on reseal): other sealed state derives its keys from it. */
  get currentKeyring(): Keyring {
    return this.keyring;
  }
  private current = new Map<string, UpstreamConnection>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly keysFile: string,
    private readonly log: Logger,
  ) {
    this.keyring = parseKeyring(readFileSync(keysFile, 'utf8'));
  }

  /** The connections in force (last successful refresh). */
  snapshot(): ReadonlyMap<string, UpstreamConnection> {
    return this.current;
  }

  async refresh(): Promise<void> {
    const rows = await this.query<Row>(`SELECT ${COLUMNS} FROM connections`);
    const next = new Map<string, UpstreamConnection>();
    for (const r of rows) {
      try {
        next.set(r.name, { ...definitionOf(r), dialect: r.type, version: Number(r.version), password: unseal(r.credential, this.keyring, r.name) });
      } catch (err) {
        // One unopenable credential disables that connection only (fail closed), loudly.
        this.log.error(
          { connection: r.name, code: isAppError(err) ? err.code : 'COMMON_INTERNAL', keyId: r.credential.kid },
          'connection credential cannot be opened; connection disabled',
        );
      }
    }
    this.current = next;
  }

  startRefreshing(everyMs: number): void {
    this.timer = setInterval(() => {
      this.refresh().catch((err) =>
        this.log.warn({ code: isAppError(err) ? err.code : 'COMMON_INTERNAL' }, 'registry refresh failed; keeping the previous snapshot'),
      );
    }, everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async list(): Promise<ConnectionView[]> {
    return (await this.query<Row>(`SELECT ${COLUMNS} FROM connections ORDER BY name`)).map(viewOf);
  }

  async get(name: string): Promise<ConnectionView> {
    const [row] = await this.query<Row>(`SELECT ${COLUMNS} FROM connections WHERE name = $1`, [name]);
    if (!row) throw new AppError('GATEWAY_ADMIN_CONNECTION_NOT_FOUND', { details: { connection: name } });
    return viewOf(row);
  }

  /** Creates or replaces a connection; the password is sealed under the active key. */
  async upsert(def: ConnectionDefinition, password: string, source: 'api' | 'config'): Promise<ConnectionView> {
    const sealed = seal(password, this.keyring, def.name);
    const [row] = await this.query<Row>(
      `INSERT INTO connections (name, type, host, port, database, username, default_schema, pool_max, statement_timeout_ms, credential, source, options)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (name) DO UPDATE SET type = EXCLUDED.type, host = EXCLUDED.host, port = EXCLUDED.port, database = EXCLUDED.database,
         username = EXCLUDED.username, default_schema = EXCLUDED.default_schema, pool_max = EXCLUDED.pool_max,
         statement_timeout_ms = EXCLUDED.statement_timeout_ms, credential = EXCLUDED.credential, source = EXCLUDED.source, options = EXCLUDED.options,
         version = connections.version + 1, updated_at = now()
       RETURNING ${COLUMNS}`,
      [
        def.name,
        def.type,
        def.host,
        def.port,
        def.database,
        def.user,
        def.defaultSchema,
        def.poolMax,
        def.statementTimeoutMs,
        JSON.stringify(sealed),
        source,
        JSON.stringify(optionsOf(def)),
      ],
    );
    await this.refresh();
    return viewOf(row!);
  }

  async remove(name: string): Promise<void> {
    const rows = await this.query<{ name: string }>('DELETE FROM connections WHERE name = $1 RETURNING name', [name]);
    if (!rows.length) throw new AppError('GATEWAY_ADMIN_CONNECTION_NOT_FOUND', { details: { connection: name } });
    await this.refresh();
  }

  /**
   * Key rotation: re-reads the keys file, then re-seals every credential under the (new) active
   * key in one transaction. Old keys can be removed from the file once this has run.
   */
  async reseal(): Promise<{ keyId: string; resealed: number }> {
    const keyring = parseKeyring(readFileSync(this.keysFile, 'utf8'));
    const client = await this.pool.connect().catch((cause) => {
      throw new AppError('GATEWAY_REGISTRY_UNAVAILABLE', { cause });
    });
    let resealed = 0;
    try {
      await client.query('BEGIN');
      const rows = (await client.query<{ name: string; credential: Sealed }>('SELECT name, credential FROM connections FOR UPDATE')).rows;
      for (const r of rows) {
        if (r.credential.kid === keyring.activeKeyId) continue;
        const password = unseal(r.credential, keyring, r.name);
        await client.query('UPDATE connections SET credential = $2, updated_at = now() WHERE name = $1', [
          r.name,
          JSON.stringify(seal(password, keyring, r.name)),
        ]);
        resealed++;
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw isAppError(err) ? err : new AppError('GATEWAY_REGISTRY_UNAVAILABLE', { cause: err });
    } finally {
      client.release();
    }
    this.keyring = keyring;
    await this.refresh();
    this.log.info({ keyId: keyring.activeKeyId, resealed }, 'credentials re-sealed');
    return { keyId: keyring.activeKeyId, resealed };
  }

  async ping(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  private async query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
    try {
      return (await this.pool.query<T>(sql, params)).rows;
    } catch (cause) {
      // A control database whose certificate is refused says so (GATEWAY_DATABASE_URL's sslrootcert).
      const tls = tlsFailure(cause);
      throw new AppError('GATEWAY_REGISTRY_UNAVAILABLE', {
        cause,
        ...(tls ? { message: `the connection registry is unavailable: its database's TLS was refused (${tls})`, details: { tls } } : {}),
      });
    }
  }
}

function optionsOf(def: ConnectionOptions): ConnectionOptions {
  const o: Record<string, unknown> = {};
  for (const k of OPTION_KEYS) if (def[k] !== undefined) o[k] = def[k];
  return o as ConnectionOptions;
}

function definitionOf(r: Row): ConnectionDefinition {
  return {
    ...optionsOf(r.options ?? {}),
    name: r.name,
    type: r.type,
    host: r.host,
    port: r.port,
    database: r.database,
    user: r.username,
    defaultSchema: r.default_schema,
    poolMax: r.pool_max,
    statementTimeoutMs: r.statement_timeout_ms,
  };
}

function viewOf(r: Row): ConnectionView {
  return {
    ...definitionOf(r),
    source: r.source,
    version: Number(r.version),
    credential: { sealed: true, keyId: r.credential.kid, algorithm: 'A256GCM' },
    updatedAt: r.updated_at.toISOString(),
  };
}
