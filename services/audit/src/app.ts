import { createPublicKey } from 'node:crypto';
import { createTokenVerifier } from '@phigate/auth';
import { EventConsumer } from '@phigate/bus';
import { oidcIssuers } from '@phigate/config';
import { Counter, createMetrics, Gauge, type Logger } from '@phigate/telemetry';
import pg from 'pg';
import { buildHttp } from './adapters/http/server.js';
import { SiemRelay } from './adapters/kafka/siem-relay.js';
import { createStatementRedactor } from './adapters/sql/literal-redactor.js';
import { PgAuditStore, type Signer } from './adapters/store/pg-store.js';
import type { AuditConfig } from './config.js';
import { keyIdOf, signCheckpoint } from './domain/checkpoint.js';
import { PhiCatalog } from './domain/phi-catalog.js';

export interface AuditApp {
  start(): Promise<{ httpPort: number }>;
  stop(): Promise<void>;
}

const DAY_MS = 86_400_000;

/** Builds the audit service: Kafka consumer group → append-only store, checkpoints, retention, the SIEM relay and the auditor API. */
export function buildApp(config: AuditConfig, log: Logger): AuditApp {
  const metrics = createMetrics('audit');
  const ingested = new Counter({
    name: 'phigate_audit_events_total',
    help: 'Events consumed by outcome',
    labelNames: ['outcome'] as const,
    registers: [metrics],
  });
  const checkpoints = new Counter({
    name: 'phigate_audit_checkpoints_total',
    help: 'Signed checkpoints written, by kind',
    labelNames: ['kind'] as const,
    registers: [metrics],
  });
  const purged = new Counter({ name: 'phigate_audit_purged_events_total', help: 'Events deleted by the retention purge', registers: [metrics] });
  const jobFailures = new Counter({
    name: 'phigate_audit_job_failures_total',
    help: 'Checkpoint and purge runs that failed',
    labelNames: ['job'] as const,
    registers: [metrics],
  });
  const relayed = new Counter({ name: 'phigate_audit_siem_relayed_total', help: 'Events republished to the SIEM topic', registers: [metrics] });
  const lastCheckpoint = new Gauge({ name: 'phigate_audit_last_checkpoint_seq', help: 'Last record seq covered by a signed checkpoint', registers: [metrics] });

  const pool = new pg.Pool({ connectionString: config.AUDIT_DATABASE_URL, max: 5, connectionTimeoutMillis: 5000 });
  pool.on('error', () => {});
  // A connection that drops while a client is checked out (between queries) makes the client emit
  // 'error'; unhandled, that would crash the service. Its next query fails instead (and is
  // retried), and the pool discards the dead client on release.
  pool.on('connect', (client) => client.on('error', () => {}));
  const store = new PgAuditStore(pool);
  const privateKey = config.AUDIT_CHECKPOINT_KEY;
  const publicKey = createPublicKey(privateKey);
  const sign: Signer = (c) => signCheckpoint(c, privateKey);
  const origin = config.AUDIT_CHECKPOINT_ORIGIN;
  const catalog = config.AUDIT_PHI_CATALOG ?? PhiCatalog.empty();

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
  let relay: SiemRelay | undefined;

  const timers: NodeJS.Timeout[] = [];
  const running = new Set<Promise<unknown>>();
  const every = (ms: number, job: string, fn: () => Promise<void>) => {
    let busy = false;
    const t = setInterval(() => {
      if (busy) return;
      busy = true;
      const p = fn()
        .catch((err: { code?: string }) => {
          jobFailures.inc({ job });
          log.error({ job, code: err?.code ?? 'COMMON_INTERNAL' }, 'audit job failed');
        })
        .finally(() => {
          busy = false;
          running.delete(p);
        });
      running.add(p);
    }, ms);
    t.unref();
    timers.push(t);
  };
  const checkpoint = async () => {
    const seq = await store.checkpoint(sign, origin);
    if (seq !== undefined) {
      checkpoints.inc({ kind: 'periodic' });
      log.info({ checkpoint: seq }, 'signed checkpoint written');
    }
  };
  const purge = async () => {
    const r = await store.purge(new Date(Date.now() - config.AUDIT_RETENTION_DAYS * DAY_MS), sign, origin);
    if (r.deleted) {
      checkpoints.inc({ kind: 'purge' });
      purged.inc(r.deleted);
      log.info({ deleted: r.deleted, keptFrom: r.keptFrom, anchor: r.anchor }, 'retention purge done');
    }
  };

  let stopping = false;
  const http = buildHttp({
    verify: createTokenVerifier({ issuers: oidcIssuers(config), clockToleranceSec: config.OIDC_CLOCK_SKEW_SEC }),
    store,
    auditorGroups: config.AUDITOR_GROUPS,
    catalog,
    verifyStore: async () => {
      const report = await store.verify({ publicKey, origin });
      if (report.checkpoints.latest) lastCheckpoint.set(report.checkpoints.latest.lastSeq);
      return report;
    },
    publicKey: {
      keyId: keyIdOf(publicKey),
      pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      jwk: { ...publicKey.export({ format: 'jwk' }), kid: keyIdOf(publicKey), use: 'sig', alg: 'EdDSA' },
    },
    ops: {
      metrics,
      isShuttingDown: () => stopping,
      readiness: async () => ({ store: await store.ping(), kafka: consumer.isRunning, ...(relay ? { siem: relay.isRunning } : {}) }),
    },
  });
  return {
    async start() {
      if (config.AUDIT_SIEM_TOPIC) {
        relay = new SiemRelay({
          brokers: config.KAFKA_BROKERS,
          log,
          from: config.AUDIT_TOPIC,
          to: config.AUDIT_SIEM_TOPIC,
          groupId: config.AUDIT_SIEM_CONSUMER_GROUP,
          redact: config.AUDIT_SIEM_REDACT_LITERALS ? await createStatementRedactor() : undefined,
          onRelayed: (n) => relayed.inc(n),
        });
      }
      await consumer.start();
      await relay?.start();
      every(config.AUDIT_CHECKPOINT_INTERVAL_MS, 'checkpoint', checkpoint);
      if (config.AUDIT_PURGE_INTERVAL_MS > 0) every(config.AUDIT_PURGE_INTERVAL_MS, 'purge', purge);
      await http.listen({ host: config.AUDIT_HOST, port: config.AUDIT_HTTP_PORT });
      const addr = http.server.address();
      log.info({ group: config.AUDIT_CONSUMER_GROUP, checkpointKey: keyIdOf(publicKey), siem: Boolean(relay) }, 'audit service consuming');
      return { httpPort: typeof addr === 'object' && addr ? addr.port : 0 };
    },
    async stop() {
      stopping = true;
      for (const t of timers) clearInterval(t);
      await http.close();
      await relay?.stop();
      await consumer.stop();
      await Promise.allSettled([...running]);
      // A last checkpoint, so a clean shutdown leaves nothing unsigned.
      await checkpoint().catch(() => undefined);
      await pool.end();
    },
  };
}
