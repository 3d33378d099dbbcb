import { createTokenVerifier } from '@phigate/auth';
import { EventConsumer } from '@phigate/bus';
import { oidcIssuers } from '@phigate/config';
import { Counter, createMetrics, type Logger } from '@phigate/telemetry';
import pg from 'pg';
import { buildHttp } from './adapters/http/server.js';
import { PgAuditStore } from './adapters/store/pg-store.js';
import type { AuditConfig } from './config.js';

export interface AuditApp {
  start(): Promise<{ httpPort: number }>;
  stop(): Promise<void>;
}

/** Builds the audit service: Kafka consumer group → append-only store, and the auditor API. */
export function buildApp(config: AuditConfig, log: Logger): AuditApp {
  const metrics = createMetrics('audit');
  const ingested = new Counter({
    name: 'phigate_audit_events_total',
    help: 'Events consumed by outcome',
    labelNames: ['outcome'] as const,
    registers: [metrics],
  });
  const pool = new pg.Pool({ connectionString: config.AUDIT_DATABASE_URL, max: 5, connectionTimeoutMillis: 5000 });
  pool.on('error', () => {});
  const store = new PgAuditStore(pool);
  const consumer = new EventConsumer({
    brokers: config.KAFKA_BROKERS,
    clientId: 'phigate-audit',
    log,
    topic: config.AUDIT_TOPIC,
    groupId: config.AUDIT_CONSUMER_GROUP,
    fromBeginning: true,
    handleBatch: async (messages) => {
      const r = await store.append(messages);
      ingested.inc({ outcome: 'inserted' }, r.inserted);
      ingested.inc({ outcome: 'duplicate' }, r.duplicates);
      ingested.inc({ outcome: 'rejected' }, r.rejected);
      if (r.rejected) log.warn({ rejected: r.rejected }, 'undecodable events kept in audit_rejects');
    },
  });
  let stopping = false;
  const http = buildHttp({
    verify: createTokenVerifier({ issuers: oidcIssuers(config), clockToleranceSec: config.OIDC_CLOCK_SKEW_SEC }),
    store,
    auditorGroups: config.AUDITOR_GROUPS,
    ops: { metrics, isShuttingDown: () => stopping, readiness: async () => ({ store: await store.ping(), kafka: consumer.isRunning }) },
  });
  return {
    async start() {
      await consumer.start();
      await http.listen({ host: config.AUDIT_HOST, port: config.AUDIT_HTTP_PORT });
      const addr = http.server.address();
      log.info({ group: config.AUDIT_CONSUMER_GROUP }, 'audit service consuming');
      return { httpPort: typeof addr === 'object' && addr ? addr.port : 0 };
    },
    async stop() {
      stopping = true;
      await http.close();
      await consumer.stop();
      await pool.end();
    },
  };
}
