import { createPublicKey, randomUUID } from 'node:crypto';
import { createTokenVerifier } from '@phigate/auth';
import { buildEvent, createKafka, EventConsumer, encodeEvent } from '@phigate/bus';
import { kafkaSecurity, oidcIssuers } from '@phigate/config';
import { Counter, createMetrics, Gauge, type Logger } from '@phigate/telemetry';
import pg from 'pg';
import { buildHttp } from './adapters/http/server.js';
import { topicPositions } from './adapters/kafka/positions.js';
import { productVersion, SiemRelay, siemMessage } from './adapters/kafka/siem-relay.js';
import { createStatementRedactor } from './adapters/sql/literal-redactor.js';
import { type HeadsSigner, PgAuditStore, type Quarantined, type SignedHeads, type Signer } from './adapters/store/pg-store.js';
import type { AuditConfig } from './config.js';
import { crossCheck } from './domain/chains.js';
import { keyIdOf, signCheckpoint, signHeads, type Trust } from './domain/checkpoint.js';
import { PhiCatalog } from './domain/phi-catalog.js';

export interface AuditApp {
  start(): Promise<{ httpPort: number }>;
  stop(): Promise<void>;
}

const DAY_MS = 86_400_000;
// Search rows derived per chain and round; a full round means more may be waiting.
const SEARCH_PAGE = 5000;

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
  const lastCheckpoint = new Gauge({
    name: 'phigate_audit_last_checkpoint_seq',
    help: 'Seq of the latest signed checkpoint that verified',
    registers: [metrics],
  });
  const quarantinedTotal = new Counter({
    name: 'phigate_audit_quarantined_total',
    help: 'Messages kept quarantined (exact bytes in the chain, not searchable), by reason',
    labelNames: ['reason'] as const,
    registers: [metrics],
  });
  const witnessed = new Counter({
    name: 'phigate_audit_checkpoints_witnessed_total',
    help: 'Signed checkpoints published on the SIEM topic, by outcome',
    labelNames: ['outcome'] as const,
    registers: [metrics],
  });
  const searchIndexed = new Counter({
    name: 'phigate_audit_search_indexed_total',
    help: 'Search rows derived from stored records (the auditor search reads them)',
    registers: [metrics],
  });
  const lagGauge = new Gauge({
    name: 'phigate_audit_consumer_lag',
    help: 'Events on the audit topic not yet stored (end offset minus the group committed offset), per partition',
    labelNames: ['partition'] as const,
    registers: [metrics],
  });

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
  const signH: HeadsSigner = (c) => signHeads(c, privateKey);
  const origin = config.AUDIT_CHECKPOINT_ORIGIN;
  // The signing key's own public key, and the published set (older keys with their periods).
  const trust: Trust = { origin, keys: [{ publicKey }, ...(config.AUDIT_CHECKPOINT_TRUSTED_KEYS ?? [])] };
  const security = kafkaSecurity(config);
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, security, clientId: 'phigate-audit', log });
  const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
  const admin = kafka.admin();
  let sinceCheckpoint = 0;
  let lag = { total: 0, measured: false };
  const catalog = config.AUDIT_PHI_CATALOG ?? PhiCatalog.empty();

  const consumer = new EventConsumer({
    brokers: config.KAFKA_BROKERS,
    security,
    clientId: 'phigate-audit',
    log,
    topic: config.AUDIT_TOPIC,
    groupId: config.AUDIT_CONSUMER_GROUP,
    fromBeginning: true,
    partitionsConcurrently: config.AUDIT_PARTITIONS_CONCURRENTLY,
    handleBatch: async (messages) => {
      const r = await store.append(messages);
      ingested.inc({ outcome: 'inserted' }, r.inserted);
      ingested.inc({ outcome: 'duplicate' }, r.duplicates);
      ingested.inc({ outcome: 'replayed' }, r.replayed);
      ingested.inc({ outcome: 'quarantined' }, r.quarantined.length);
      for (const q of r.quarantined) quarantinedTotal.inc({ reason: q.reason });
      if (r.quarantined.length) await announceQuarantined(r.quarantined);
      sinceCheckpoint += r.inserted + r.duplicates + r.quarantined.length;
      if (config.AUDIT_CHECKPOINT_EVERY_EVENTS > 0 && sinceCheckpoint >= config.AUDIT_CHECKPOINT_EVERY_EVENTS) runNow('checkpoint', checkpoint);
      runNow('search_index', indexSearch);
    },
  });
  // The store has the bytes; this tells the SIEM and the auditors (it is stored like any event). A
  // failure to announce is logged and counted, never a reason to replay the stored batch.
  const announceQuarantined = async (list: Quarantined[]) => {
    for (const q of list) log.warn({ topic: q.topic, partition: q.partition, offset: q.offset, reason: q.reason, bytes: q.bytes }, 'message quarantined');
    const ctx = { frontDoor: 'audit', producer: 'audit' };
    const messages = list.map((q) => {
      const requestId = randomUUID();
      const e = buildEvent('audit.event_quarantined', { ...ctx, requestId }, { ...q, offset: q.offset, bytes: q.bytes });
      return { key: requestId, value: encodeEvent(e) };
    });
    await producer.send({ topic: config.AUDIT_TOPIC, acks: -1, messages }).catch((err: Error) => {
      jobFailures.inc({ job: 'announce_quarantined' });
      log.error({ err: { name: err?.name, message: err?.message } }, 'could not announce quarantined messages');
    });
  };
  const witness = async (c: SignedHeads) => {
    if (!config.AUDIT_SIEM_TOPIC) return;
    const requestId = randomUUID();
    const e = buildEvent(
      'audit.checkpoint_signed',
      { requestId, frontDoor: 'audit', producer: 'audit' },
      { kind: 'periodic', body: c.body, keyId: c.keyId, signature: c.signature.toString('base64') },
    );
    try {
      // The SIEM topic carries OCSF records: the witness is one too (its signed body verbatim in unmapped).
      await producer.send({
        topic: config.AUDIT_SIEM_TOPIC,
        acks: -1,
        messages: [{ key: requestId, value: siemMessage(e, { productVersion: productVersion() }).value }],
      });
      witnessed.inc({ outcome: 'published' });
    } catch (err) {
      witnessed.inc({ outcome: 'failed' });
      log.error({ checkpoint: c.seq, err: { name: (err as Error)?.name, message: (err as Error)?.message } }, 'checkpoint witness not published');
    }
  };
  let relay: SiemRelay | undefined;

  const timers: NodeJS.Timeout[] = [];
  const running = new Set<Promise<unknown>>();
  const busy = new Set<string>();
  // Runs a job unless it is already running (the timer and the event count both trigger checkpoints).
  const runNow = (job: string, fn: () => Promise<void>) => {
    if (busy.has(job)) return;
    busy.add(job);
    const p = fn()
      .catch((err: { code?: string }) => {
        jobFailures.inc({ job });
        log.error({ job, code: err?.code ?? 'COMMON_INTERNAL' }, 'audit job failed');
      })
      .finally(() => {
        busy.delete(job);
        running.delete(p);
      });
    running.add(p);
  };
  const every = (ms: number, job: string, fn: () => Promise<void>) => {
    const t = setInterval(() => runNow(job, fn), ms);
    t.unref();
    timers.push(t);
  };
  const checkpoint = async () => {
    sinceCheckpoint = 0;
    // Records from before the partition chains (format 1) still get their head signed once.
    const seq = await store.checkpoint(sign, origin);
    if (seq !== undefined) checkpoints.inc({ kind: 'periodic' });
    const heads = await store.checkpointHeads(signH, origin);
    if (heads) {
      checkpoints.inc({ kind: 'heads' });
      log.debug({ checkpoint: heads.seq }, 'signed checkpoint of chain heads written');
      await witness(heads);
    }
  };
  // Search rows are derived behind the writers: the append table carries no search index (ADR 0011).
  const indexSearch = async () => {
    for (let n = SEARCH_PAGE; n >= SEARCH_PAGE && !stopping; ) {
      n = await store.indexSearch(SEARCH_PAGE);
      searchIndexed.inc(n);
    }
  };
  const measureLag = async () => {
    const [ends, committed] = await Promise.all([
      admin.fetchTopicOffsets(config.AUDIT_TOPIC),
      admin.fetchOffsets({ groupId: config.AUDIT_CONSUMER_GROUP, topics: [config.AUDIT_TOPIC] }),
    ]);
    const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    let total = 0;
    for (const p of ends) {
      const c = done.get(p.partition) ?? -1n;
      const n = Number(BigInt(p.high) - (c < 0n ? BigInt(p.low) : c));
      lagGauge.set({ partition: String(p.partition) }, n);
      total += n;
    }
    lag = { total, measured: true };
  };
  const purge = async () => {
    const before = new Date(Date.now() - config.AUDIT_RETENTION_DAYS * DAY_MS);
    const r = await store.purge(before, sign, origin);
    const c = await store.purgeChains(before, signH, origin);
    if (r.deleted || c.deleted) {
      checkpoints.inc({ kind: 'purge' }, (r.deleted ? 1 : 0) + (c.deleted ? 1 : 0));
      purged.inc(r.deleted + c.deleted);
      log.info({ deleted: r.deleted + c.deleted, chains: c.chains, anchor: c.anchor ?? r.anchor }, 'retention purge done');
    }
  };

  let stopping = false;
  const http = buildHttp({
    verify: createTokenVerifier({ issuers: oidcIssuers(config), clockToleranceSec: config.OIDC_CLOCK_SKEW_SEC }),
    store,
    auditorGroups: config.AUDITOR_GROUPS,
    catalog,
    verifyStore: async () => {
      // The topic's committed positions first: a batch is stored before its offsets are committed.
      const positions = await topicPositions(kafka, config.AUDIT_TOPIC, config.AUDIT_CONSUMER_GROUP).catch(() => undefined);
      const report = await store.verify(trust);
      const lost = report.ok && positions ? crossCheck(config.AUDIT_TOPIC, report.chains, positions, await store.legacyMaxOffsets()) : undefined;
      if (lost) Object.assign(report, { ok: false, firstBad: lost });
      if (report.checkpoints.latest) lastCheckpoint.set(report.checkpoints.latest.seq);
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
      readiness: async () => ({
        store: await store.ping(),
        kafka: { ok: consumer.isRunning, reason: consumer.isRunning ? undefined : consumer.link.reason },
        ...(relay ? { siem: { ok: relay.isRunning && relay.link.up, reason: relay.link.reason } } : {}),
        // Behind by more than the threshold: evidence is not being stored fast enough.
        ...(config.AUDIT_LAG_READY_MAX > 0 && lag.measured ? { lag: lag.total <= config.AUDIT_LAG_READY_MAX } : {}),
      }),
    },
  });
  return {
    async start() {
      if (config.AUDIT_SIEM_TOPIC) {
        relay = new SiemRelay({
          brokers: config.KAFKA_BROKERS,
          security,
          log,
          from: config.AUDIT_TOPIC,
          to: config.AUDIT_SIEM_TOPIC,
          groupId: config.AUDIT_SIEM_CONSUMER_GROUP,
          redact: config.AUDIT_SIEM_REDACT_LITERALS ? await createStatementRedactor() : undefined,
          onRelayed: (n) => relayed.inc(n),
        });
      }
      await producer.connect();
      await admin.connect();
      await consumer.start();
      await relay?.start();
      every(config.AUDIT_CHECKPOINT_INTERVAL_MS, 'checkpoint', checkpoint);
      every(config.AUDIT_LAG_INTERVAL_MS, 'lag', measureLag);
      every(config.AUDIT_SEARCH_INDEX_INTERVAL_MS, 'search_index', indexSearch);
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
      await producer.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
      await pool.end();
    },
  };
}
