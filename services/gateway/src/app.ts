import { createTokenVerifier, type TokenVerifier } from '@phigate/auth';
import { EventPublisher, TOPICS } from '@phigate/bus';
import { Counter, createMetrics, Histogram, type Logger } from '@phigate/telemetry';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import sqlParser from 'node-sql-parser';
import { loadConnections } from './adapters/files/connections.js';
import { createMaskingClient } from './adapters/grpc/masking-client.js';
import { createPolicyClient } from './adapters/grpc/policy-client.js';
import { ResultStore } from './adapters/http/result-store.js';
import { buildHttp } from './adapters/http/server.js';
import { createKafkaAudit } from './adapters/kafka/audit.js';
import { PostgresUpstream } from './adapters/postgres/upstream.js';
import type { GatewayConfig } from './config.js';
import type { ParsedSql, SqlParser } from './domain/analysis.js';
import { QueryService } from './domain/query-service.js';

export interface GatewayApp {
  start(): Promise<{ httpPort: number }>;
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

  const { connections, bindings } = loadConnections(config.GATEWAY_CONNECTIONS_FILE, config.GATEWAY_SECRETS_DIR);
  const upstream = new PostgresUpstream(connections, log);
  const policy = createPolicyClient(config.POLICY_GRPC_ADDR, config.GATEWAY_POLICY_TIMEOUT_MS);
  const masking = createMaskingClient(config.MASKING_GRPC_ADDR, config.GATEWAY_MASKING_TIMEOUT_MS);
  const publisher = new EventPublisher({
    brokers: config.KAFKA_BROKERS,
    clientId: 'phigate-gateway',
    log,
    topic: TOPICS.AUDIT,
    ackTimeoutMs: config.GATEWAY_AUDIT_ACK_TIMEOUT_MS,
  });
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 });
  redis.on('error', () => {}); // readiness reports it; ioredis reconnects by itself
  const verify =
    overrides.verify ??
    createTokenVerifier({
      issuers: [{ issuer: config.OIDC_ISSUER, audience: config.OIDC_AUDIENCE, jwksUri: config.OIDC_JWKS_URI }],
      clockToleranceSec: config.OIDC_CLOCK_SKEW_SEC,
    });

  const parser = new sqlParser.Parser();
  const parse: SqlParser = (sql, dialect) => parser.parse(sql, { database: dialect === 'snowflake' ? 'snowflake' : 'postgresql' }) as unknown as ParsedSql;
  const connectionInfo = new Map(
    [...connections].map(([k, c]) => [k, { name: c.name, type: c.type, dialect: c.dialect, database: c.database, defaultSchema: c.defaultSchema }] as const),
  );
  const queries = new QueryService({
    connections: () => connectionInfo,
    bindings: () => bindings,
    parse,
    policy,
    upstream,
    masking,
    audit: createKafkaAudit(publisher),
    limits: { maxSqlBytes: config.GATEWAY_MAX_SQL_BYTES, maxRows: config.GATEWAY_HTTP_MAX_ROWS },
  });

  let stopping = false;
  const http = buildHttp({
    verify,
    queries,
    results: new ResultStore(),
    log,
    metrics: { requests, latency },
    bodyLimit: config.GATEWAY_MAX_SQL_BYTES * 2,
    ops: {
      metrics,
      isShuttingDown: () => stopping,
      readiness: async () => ({
        kafka: publisher.isConnected,
        redis: await redis.ping().then(
          () => true,
          () => false,
        ),
        upstream: await upstream.ping(),
      }),
    },
  });

  return {
    http,
    async start() {
      await Promise.all([publisher.start(), redis.connect().catch(() => undefined)]);
      await http.listen({ host: config.GATEWAY_HOST, port: config.GATEWAY_HTTP_PORT });
      const addr = http.server.address();
      const httpPort = typeof addr === 'object' && addr ? addr.port : 0;
      log.info({ httpPort, connections: [...connections.keys()] }, 'gateway listening');
      return { httpPort };
    },
    async stop() {
      stopping = true;
      await http.close();
      await publisher.stop();
      policy.close();
      masking.close();
      redis.disconnect();
      await upstream.close();
    },
  };
}
