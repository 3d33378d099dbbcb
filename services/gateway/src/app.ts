import { hostname } from 'node:os';
import { createTokenVerifier, type TokenVerifier } from '@phigate/auth';
import { internalHttpClient, oidcIssuers } from '@phigate/config';
import { AppError } from '@phigate/errors';
import { createRedisClient } from '@phigate/redis';
import { type Analyser, type Catalog, createAnalyser } from '@phigate/sql';
import { Counter, createMetrics, Gauge, Histogram, type Logger } from '@phigate/telemetry';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { BindingsFile, loadConnectionsFile } from './adapters/files/connections.js';
import { createMaskingClient } from './adapters/grpc/masking-client.js';
import { createPolicyClient } from './adapters/grpc/policy-client.js';
import { registerAdminRoutes } from './adapters/http/admin.js';
import { createApprovalClient } from './adapters/http/approval-client.js';
import { ResultStore } from './adapters/http/result-store.js';
import { buildHttp } from './adapters/http/server.js';
import { createKafkaAudit } from './adapters/kafka/audit.js';
import { createAuditPublisher, kafkaReadiness } from './adapters/kafka/audit-publisher.js';
import { loadPgTls, PgServer } from './adapters/pgwire/server.js';
import { PostgresUpstream } from './adapters/postgres/upstream.js';
import { createRedisBudgets, withBudgetMetrics } from './adapters/redis/budgets.js';
import { HeldSignals } from './adapters/redis/held-signals.js';
import { createRedisHeldStore, outcomesChannel } from './adapters/redis/held-store.js';
import { createRedisRateLimit } from './adapters/redis/rate-limit.js';
import { registerSnowflakeDoor } from './adapters/snowflake/door.js';
import { ofType, RoutingUpstream } from './adapters/snowflake/routing-upstream.js';
import { SfStore } from './adapters/snowflake/store.js';
import { SnowflakeUpstream } from './adapters/snowflake/upstream.js';
import { ConnectionRegistry } from './adapters/store/connection-registry.js';
import type { GatewayConfig } from './config.js';
import { CachingPolicy } from './domain/decision-cache.js';
import { HeldQueries } from './domain/held-queries.js';
import { Lru } from './domain/lru.js';
import { type HeldInfo, type QueryResult, QueryService, type QueryServiceDeps } from './domain/query-service.js';
import type { Analysis } from './domain/types.js';

export interface GatewayApp {
  start(): Promise<{ httpPort: number; pgPort: number }>;
  stop(): Promise<void>;
  http: FastifyInstance;
}

export interface GatewayOverrides {
  verify?: TokenVerifier;
}

/** Builds the gateway; nothing connects or listens until start(). */
export function buildApp(config: GatewayConfig, log: Logger, overrides: GatewayOverrides = {}): GatewayApp {
  const metrics = createMetrics('gateway');
  const requests = new Counter({ name: 'phigate_gateway_requests_total', help: 'Requests by outcome', labelNames: ['outcome'] as const, registers: [metrics] });
  const latency = new Histogram({
    name: 'phigate_gateway_request_seconds',
    help: 'Request latency',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [metrics],
  });

  const file = loadConnectionsFile(config.GATEWAY_CONNECTIONS_FILE, config.GATEWAY_SECRETS_DIR);
  const bindings = new BindingsFile(config.GATEWAY_CONNECTIONS_FILE, config.GATEWAY_SECRETS_DIR, log, file.bindings);
  const control = new pg.Pool({ connectionString: config.GATEWAY_DATABASE_URL, max: 4, connectionTimeoutMillis: 5000 });
  control.on('error', () => {});
  // A dropped connection on a checked-out client must fail its next query, not crash the gateway.
  control.on('connect', (client) => client.on('error', () => {}));
  const registry = new ConnectionRegistry(control, config.GATEWAY_SEALING_KEYS_FILE, log);
  // One adapter per upstream type; the router picks by the connection's type.
  const pgUpstream = new PostgresUpstream(
    ofType(() => registry.snapshot(), 'postgresql'),
    log,
    config.GATEWAY_SECRETS_DIR,
  );
  const upstream = new RoutingUpstream(() => registry.snapshot(), {
    postgresql: pgUpstream,
    snowflake: new SnowflakeUpstream(
      ofType(() => registry.snapshot(), 'snowflake'),
      log,
    ),
  });
  const policyClient = createPolicyClient(config.POLICY_GRPC_ADDR, config.GATEWAY_POLICY_TIMEOUT_MS, config);
  const policy = new CachingPolicy(policyClient, config.GATEWAY_DECISION_CACHE_SIZE);
  let stopWatch: (() => void) | undefined;
  const analyses = new WeakMap<Catalog, Lru<string, Analysis>>();
  let analysisHits = 0;
  let analysisMisses = 0;
  new Gauge({
    name: 'phigate_gateway_cache_lookups',
    help: 'Cache lookups since start, by cache and result',
    labelNames: ['cache', 'result'] as const,
    registers: [metrics],
    collect() {
      this.set({ cache: 'decision', result: 'hit' }, policy.hits);
      this.set({ cache: 'decision', result: 'miss' }, policy.misses);
      this.set({ cache: 'analysis', result: 'hit' }, analysisHits);
      this.set({ cache: 'analysis', result: 'miss' }, analysisMisses);
    },
  });
  const masking = createMaskingClient(config.MASKING_GRPC_ADDR, config.GATEWAY_MASKING_TIMEOUT_MS, config);
  // The audit path: Kafka, with a local durable outbox when Kafka does not acknowledge (ADR 8).
  const publisher = createAuditPublisher(config, log);
  new Gauge({
    name: 'phigate_gateway_audit_outbox_events',
    help: 'Audit events waiting in the local outbox for Kafka',
    registers: [metrics],
    collect() {
      this.set(publisher.status().spool?.pendingEvents ?? 0);
    },
  });
  // Names this replica in held-statement claims, in its Snowflake sessions' open transactions
  // and on every audit event it records.
  const replicaId = config.GATEWAY_REPLICA_ID ?? `${hostname()}:${process.pid}`;
  const audit = createKafkaAudit(publisher, replicaId);
  const redis = createRedisClient(config, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 });
  redis.on('error', () => {}); // readiness reports it; ioredis reconnects by itself
  const verify =
    overrides.verify ??
    createTokenVerifier({
      issuers: oidcIssuers(config),
      clockToleranceSec: config.OIDC_CLOCK_SKEW_SEC,
    });

  // Loaded in start(): PostgreSQL's own grammar (WASM) for PostgreSQL, node-sql-parser for Snowflake.
  let analyser: Analyser | undefined;
  const queryDeps: QueryServiceDeps = {
    canaryReportSample: config.GATEWAY_CANARY_REPORT_SAMPLE,
    connections: () => registry.snapshot(),
    bindings: () => bindings.bindings,
    analyse: (sql, conn, catalog, options) => {
      if (!analyser) throw new Error('the SQL analyser is not loaded');
      // Keyed by the exact text for this catalog snapshot: repeated statements are parsed once.
      let cache = analyses.get(catalog);
      if (!cache) {
        cache = new Lru(config.GATEWAY_ANALYSIS_CACHE_SIZE);
        analyses.set(catalog, cache);
      }
      const ignoreCase = options?.quotedIdentifiersIgnoreCase === true;
      const key = `${conn.name}\0${conn.dialect}\0${conn.defaultSchema}\0${ignoreCase ? 'I' : ''}\0${sql}`;
      const hit = sql.length <= 8192 ? cache.get(key) : undefined;
      if (hit) {
        analysisHits++;
        return hit;
      }
      analysisMisses++;
      const analysis = analyser(sql, conn.dialect, catalog, conn.defaultSchema, options);
      if (sql.length <= 8192) cache.set(key, analysis);
      return analysis;
    },
    policy,
    upstream,
    masking,
    audit,
    rateLimit: createRedisRateLimit(redis, config.GATEWAY_RATE_LIMIT_PER_MINUTE, config.GATEWAY_RATE_LIMIT_KEY_PREFIX),
    budgets: withBudgetMetrics(createRedisBudgets(redis, { prefix: config.GATEWAY_BUDGET_KEY_PREFIX, keyring: () => registry.currentKeyring }), metrics),
    limits: { maxSqlBytes: config.GATEWAY_MAX_SQL_BYTES, maxRows: config.GATEWAY_HTTP_MAX_ROWS, maxStreamRows: config.GATEWAY_PG_STREAM_MAX_ROWS },
    held: { hold: (p): Promise<HeldInfo> => held.hold(p) },
  };
  const queries: QueryService = new QueryService(queryDeps);
  // The Snowflake door: the same lifecycle, with its own row limit (large results go out in chunks).
  const sfQueries = new QueryService({ ...queryDeps, limits: { maxSqlBytes: config.GATEWAY_MAX_SQL_BYTES, maxRows: config.GATEWAY_SF_MAX_ROWS } });

  // Held statements: continuations in Redis, decisions from the approval service, resumed by
  // whichever replica claims them first.
  const signals = new HeldSignals({
    subscriber: createRedisClient(config, { lazyConnect: true, maxRetriesPerRequest: null, connectTimeout: 2000 }),
    decisionsChannel: `${config.APPROVAL_KEY_PREFIX}decisions`,
    outcomesChannel: outcomesChannel(config.GATEWAY_KEY_PREFIX),
    onDecision: (requestId) => void held.resume(requestId),
    log,
  });
  const approvalHttp = internalHttpClient(config);
  const held: HeldQueries = new HeldQueries({
    store: createRedisHeldStore(redis, { prefix: config.GATEWAY_KEY_PREFIX, keyring: () => registry.currentKeyring }),
    approvals: createApprovalClient({
      url: config.GATEWAY_APPROVAL_URL,
      http: approvalHttp,
      token: config.APPROVAL_INTERNAL_TOKEN,
      timeoutMs: config.GATEWAY_APPROVAL_TIMEOUT_MS,
    }),
    audit,
    execute: (p): Promise<QueryResult> => (p.ctx.frontDoor === 'snowflake' ? sfQueries : queries).execute(p),
    rebind: (ctx) => {
      const { role } = queries.bind(ctx.identity, ctx.connection);
      if (role !== ctx.role)
        throw new AppError('GATEWAY_CONNECTION_UNKNOWN', {
          message: 'the identity is no longer bound to the role the approval was for',
          details: { connection: ctx.connection },
        });
    },
    replicaId,
    retainMs: config.GATEWAY_HELD_RETAIN_MS,
    runTimeoutMs: config.GATEWAY_HELD_RUN_TIMEOUT_MS,
    maxExpiryMs: config.GATEWAY_HELD_MAX_EXPIRY_MS,
    waitSignal: (requestId, ms) => signals.wait(requestId, ms),
    onError: (err, requestId) => log.warn({ requestId, code: (err as AppError).code ?? 'COMMON_INTERNAL' }, 'held request not resumed yet; will retry'),
  });
  // The PostgreSQL wire door: same lifecycle, PostgreSQL upstreams only, pinned sessions for transactions.
  const pgwire = new PgServer({
    verify,
    queries,
    held,
    upstream: pgUpstream,
    log,
    tls: loadPgTls(config.GATEWAY_PG_TLS_CERT_FILE, config.GATEWAY_PG_TLS_KEY_FILE),
    requireTlsNonLoopback: config.GATEWAY_PG_REQUIRE_TLS_NON_LOOPBACK,
    authTimeoutMs: config.GATEWAY_PG_AUTH_TIMEOUT_MS,
    maxMessageBytes: config.GATEWAY_PG_MAX_MESSAGE_BYTES,
    maxConnections: config.GATEWAY_PG_MAX_CONNECTIONS,
    maxUnauthenticated: config.GATEWAY_PG_MAX_UNAUTHENTICATED,
    maxUnauthenticatedPerAddress: config.GATEWAY_PG_MAX_UNAUTHENTICATED_PER_ADDRESS,
  });
  let reconcileTimer: NodeJS.Timeout | undefined;
  let reconciling = false;
  const reconcile = async () => {
    if (reconciling) return;
    reconciling = true;
    try {
      await held.reconcile();
    } catch (err) {
      log.debug({ code: (err as AppError).code ?? 'COMMON_INTERNAL' }, 'held requests not reconciled this round');
    } finally {
      reconciling = false;
    }
  };

  let stopping = false;
  const http = buildHttp({
    verify,
    queries,
    results: new ResultStore(),
    held,
    log,
    metrics: { requests, latency },
    bodyLimit: config.GATEWAY_MAX_SQL_BYTES * 2,
    extraRoutes: (app) => {
      registerAdminRoutes(app, { verify, registry, adminGroups: config.GATEWAY_ADMIN_GROUPS, log });
      registerSnowflakeDoor(app, {
        verify,
        queries: sfQueries,
        held,
        store: new SfStore(redis, { prefix: config.GATEWAY_KEY_PREFIX, keyring: () => registry.currentKeyring, resultTtlMs: config.GATEWAY_SF_RESULT_TTL_MS }),
        log,
        holdMs: config.GATEWAY_SF_HOLD_MS,
        chunkRows: config.GATEWAY_SF_CHUNK_ROWS,
        sessionValiditySec: config.GATEWAY_SF_SESSION_VALIDITY_SEC,
        masterValiditySec: config.GATEWAY_SF_MASTER_VALIDITY_SEC,
        heldRetainMs: config.GATEWAY_HELD_RETAIN_MS,
        ...(config.GATEWAY_SF_PUBLIC_URL ? { publicUrl: config.GATEWAY_SF_PUBLIC_URL } : {}),
        upstream: {
          session: (connection, role) => upstream.session(connection, role),
          warehouseOf: (connection) => registry.snapshot().get(connection)?.warehouse,
          typeOf: (connection) => registry.snapshot().get(connection)?.type,
        },
        replicaId,
        transactionIdleMs: config.GATEWAY_SF_TRANSACTION_IDLE_SEC * 1000,
      });
    },
    ops: {
      metrics,
      isShuttingDown: () => stopping,
      readiness: async () => ({
        kafka: kafkaReadiness(publisher.status()),
        redis: await redis.ping().then(
          () => true,
          () => false,
        ),
        registry: await registry.ping(),
        upstream: await upstream.ping(),
      }),
    },
  });

  return {
    http,
    async start() {
      const [a] = await Promise.all([createAnalyser(), publisher.start(), redis.connect().catch(() => undefined)]);
      analyser = a;
      await registry.refresh();
      // Config-managed connections are sealed into the registry when new or changed.
      for (const seed of file.seeds) {
        const have = registry.snapshot().get(seed.definition.name);
        const same =
          have &&
          have.password === seed.password &&
          (Object.keys(seed.definition) as Array<keyof typeof seed.definition>).every((k) => have[k] === seed.definition[k]);
        if (!same) await registry.upsert(seed.definition, seed.password, 'config');
      }
      registry.startRefreshing(config.GATEWAY_REGISTRY_REFRESH_MS);
      stopWatch = policyClient.watchRevision((revision) => {
        if (revision !== policy.currentRevision) log.info({ revision: revision ?? null }, 'policy revision');
        policy.revisionChanged(revision);
      });
      bindings.watch();
      await signals.start();
      reconcileTimer = setInterval(() => void reconcile(), config.GATEWAY_HELD_RECONCILE_MS);
      reconcileTimer.unref();
      void reconcile();
      await http.listen({ host: config.GATEWAY_HOST, port: config.GATEWAY_HTTP_PORT });
      const addr = http.server.address();
      const httpPort = typeof addr === 'object' && addr ? addr.port : 0;
      const pgPort = await pgwire.listen(config.GATEWAY_PG_HOST, config.GATEWAY_PG_PORT);
      log.info({ httpPort, pgPort, connections: [...registry.snapshot().keys()] }, 'gateway listening');
      return { httpPort, pgPort };
    },
    async stop() {
      stopping = true;
      clearInterval(reconcileTimer);
      await pgwire.close();
      await http.close();
      signals.stop();
      await publisher.stop();
      stopWatch?.();
      policyClient.close();
      masking.close();
      approvalHttp.close();
      redis.disconnect();
      await upstream.close();
      registry.stop();
      bindings.close();
      await control.end();
    },
  };
}
