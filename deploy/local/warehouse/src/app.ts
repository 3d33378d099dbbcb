/**
 * The local Snowflake warehouse: a server that speaks the Snowflake driver REST protocol, backed by
 * DuckDB, seeded with the demo CLINICAL data and enforcing role grants. DEV ONLY (see README.md).
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createTokenVerifier, type TokenVerifier } from '@phigate/auth';
import { oidcIssuers } from '@phigate/config';
import { AppError } from '@phigate/errors';
import { createAnalyser } from '@phigate/sql';
import { loadCredentials } from './adapters/credentials.js';
import { Engine } from './adapters/duckdb/engine.js';
import { buildHttp } from './adapters/http/routes.js';
import { seedFromPostgres } from './adapters/pg/seed.js';
import type { WarehouseConfig } from './config.js';
import { GrantChecker, parseGrants } from './domain/grants.js';
import { informationSchemaRows } from './domain/information-schema.js';
import { parseUsers } from './domain/users.js';
import { type Log, Warehouse } from './service.js';

export { configSchema, type WarehouseConfig } from './config.js';
export type { Log } from './service.js';

export const jsonLogger: Log = (level, event, fields = {}) => {
  process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), level, service: 'warehouse', event, ...fields })}\n`);
};
export const silentLogger: Log = () => {};

export interface WarehouseServer {
  start(): Promise<{ url: string; port: number }>;
  stop(): Promise<void>;
  readonly url: string | undefined;
}

function readJson(file: string, code: 'WAREHOUSE_USERS_INVALID' | 'WAREHOUSE_GRANTS_INVALID'): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new AppError(code, { message: `${file}: ${(err as Error).message}`, details: { problems: [`${file}: cannot read it as JSON`] } });
  }
}

/** Builds the warehouse; `start()` seeds DuckDB from PostgreSQL, then listens. */
export function buildWarehouse(config: WarehouseConfig, deps: { log?: Log; verify?: TokenVerifier } = {}): WarehouseServer {
  const log = deps.log ?? jsonLogger;
  let engine: Engine | undefined;
  let http: ReturnType<typeof buildHttp> | undefined;
  let url: string | undefined;
  let ready = false;
  return {
    get url() {
      return url;
    },
    async start() {
      const g = parseGrants(readJson(config.WAREHOUSE_GRANTS_FILE, 'WAREHOUSE_GRANTS_INVALID'));
      if (!g.grants) throw new AppError('WAREHOUSE_GRANTS_INVALID', { details: { problems: g.problems } });
      const u = parseUsers(readJson(config.WAREHOUSE_USERS_FILE, 'WAREHOUSE_USERS_INVALID'), g.grants.roles);
      if (!u.users) throw new AppError('WAREHOUSE_USERS_INVALID', { details: { problems: u.problems } });
      const creds = loadCredentials(u.users, config.WAREHOUSE_SECRETS_DIR);
      if (creds.problems.length) throw new AppError('WAREHOUSE_USERS_INVALID', { details: { problems: creds.problems } });
      engine = await Engine.create(g.grants.database);
      try {
        const report = await seedFromPostgres(engine, config.WAREHOUSE_SEED_DATABASE_URL);
        log('info', 'seed.loaded', { tables: report.tables });
      } catch (err) {
        engine.close();
        throw new AppError('WAREHOUSE_SEED_FAILED', {
          cause: err,
          details: {
            problems: [
              `cannot copy the demo tables from PostgreSQL (${(err as { code?: string }).code ?? (err as Error).message}): start the stack with npm run stack:up`,
            ],
          },
        });
      }
      const grants = new GrantChecker(g.grants);
      await engine.publishInformationSchema(informationSchemaRows(g.grants.database, await engine.sourceColumns(), grants, new Date().toISOString()));
      const wh = new Warehouse({
        engine,
        catalog: await engine.catalog(),
        analyser: await createAnalyser(),
        grants,
        users: creds.users,
        verify: deps.verify ?? createTokenVerifier({ issuers: oidcIssuers(config), clockToleranceSec: config.OIDC_CLOCK_SKEW_SEC }),
        log,
        holdMs: config.WAREHOUSE_RESULT_HOLD_MS,
        chunkRows: config.WAREHOUSE_CHUNK_ROWS,
        sessionValiditySec: config.WAREHOUSE_SESSION_VALIDITY_SEC,
        masterValiditySec: config.WAREHOUSE_MASTER_VALIDITY_SEC,
        timezone: 'Etc/UTC',
        warehouseName: 'COMPUTE_WH',
      });
      http = buildHttp(wh, { ...(config.WAREHOUSE_PUBLIC_URL ? { publicUrl: config.WAREHOUSE_PUBLIC_URL } : {}), ready: () => ready });
      await http.listen({ port: config.WAREHOUSE_PORT, host: config.WAREHOUSE_HOST });
      const port = (http.server.address() as AddressInfo).port;
      url = `http://${config.WAREHOUSE_HOST}:${port}`;
      ready = true;
      log('info', 'warehouse.listening', { url });
      return { url, port };
    },
    async stop() {
      ready = false;
      await http?.close();
      engine?.close();
    },
  };
}
