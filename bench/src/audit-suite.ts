// Audit ingest: events/s into the hash-chained store (one chain per partition).
//
// The writer comparison (the chain's cost, goal ≥ 1.0): the store's own append (lock, head, hash
// chain) against a chain-free append of the same messages (@phigate/audit/store appendUnchained:
// the same classification and the same multi-row INSERT, no lock, head, duplicate check or hash),
// into one scratch copy of audit_events, from one writer with the six partitions written at once
// (as one replica does), in batches of the same size. Trials alternate (chained first, then
// chain-free first) so the table's growth falls on both; the figure is the median of the paired
// ratios, with their spread.
//
// The service runs: N valid events (one query.served per read statement, as the gateway records a
// read that ran without waiting; schema version 1 sent four) are produced to a 6-partition topic of each run; then 1, and in another run 2, audit
// service processes of their own (one consumer group, the shared store) drain them, several times
// each. The rate counts from the first stored batch to the last (ingested_at, stamped per batch),
// so start-up and group join are not in it. Also here: the sampler of the stack's audit consumer
// lag during the door runs.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { appendUnchained, PgAuditStore } from '@phigate/audit/store';
import { type AuditEvent, buildEvent, type ConsumedMessage, createKafka, type EventContext, EventPublisher, encodeEvent } from '@phigate/bus';
import { createLogger } from '@phigate/telemetry';
import { eventually, kafkaConnection, kafkaEnv, need, REPO_ROOT, uniqueName } from '@phigate/testkit';
import pg from 'pg';
import { cpuUs, machineCpuUs, postgresCpuUs, stackPids, track } from './processes.js';
import { ratio } from './stats.js';

const log = createLogger({ service: 'bench', level: 'silent' });
const PARTITIONS = 6; // as phigate.audit.v1 on the local stack
// Messages per stored batch in the writer comparison (a consumer batch of one partition).
const WRITER_BATCH = 500;
const COLUMNS = ['id', 'first_name', 'last_name', 'zip'];
const SQL = 'SELECT id, first_name, last_name, zip FROM patients WHERE id = $1';

/** Median and range of a sample. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median: Math.round(m * 1000) / 1000, min: s[0] ?? Number.NaN, max: s.at(-1) ?? Number.NaN };
}

const oneDecimal = (x: number) => Math.round(x * 10) / 10;

/** The store's append against a chain-free append of the same messages, one writer, paired trials. */
export interface WriterComparison {
  trials: number;
  batch: number;
  /** events/s of the store's append (lock, head, hash chain). */
  chained: Spread;
  /** events/s of the chain-free append into the same table. */
  chainFree: Spread;
  /** chained / chain-free per pair of trials (goal ≥ 1.0). */
  ratio: Spread;
  /**
   * CPU per event (median of the trials, µs) of each writer: the bench process (classify, chain,
   * hash, encode) and PostgreSQL (every postgres process, so other work on the machine shows too).
   */
  cpuPerEventUs: { chained: { writer: number; postgres: number }; chainFree: { writer: number; postgres: number } };
}

/** The audit service runs with a number of replicas sharing the partitions. */
export interface IngestRuns {
  replicas: number;
  /** events/s, first stored batch to last, per run. */
  ingestPerSec: Spread;
  /** median events/s per replica over the chain-free writer's median. */
  perWriterVsChainFree: number;
  /** Highest consumer lag the replicas reported while draining (phigate_audit_consumer_lag, summed over partitions). */
  maxLag: number;
  drainSec: Spread;
  /** CPU per stored event (median of the runs, µs): the audit replicas together, PostgreSQL, Kafka. */
  cpuPerEventUs: { audit: number; postgres: number; kafka: number };
  /** Share of the machine's cores busy while the replicas drained (median; 1 = every core). */
  machineBusy: number;
  /**
   * The per-core figures (from the medians): events/s one core of audit service stores, and one
   * core of the whole ingest path (audit, PostgreSQL and Kafka together). Where the machine is busy,
   * these, not the events/s, say what more cores would bring.
   */
  perCore: { audit: number; ingestPath: number };
}

export interface AuditBench {
  events: number;
  writer: WriterComparison;
  /** The service runs with 1 and 2 replicas (6 partitions). */
  runs: IngestRuns[];
  /** Median events/s through one audit service (consumer, chain, store). */
  ingestPerSec: number;
  /** Median events/s of the chain-free writer. */
  baselineInsertPerSec: number;
  ingestVsBaseline: number;
}

function requestEvents(subject: string): AuditEvent[] {
  const ctx: EventContext = {
    requestId: randomUUID(),
    frontDoor: 'pgwire',
    identity: { subject, clientId: subject, groups: ['etl'], issuer: need('DEV_IDP_ISSUER') },
    connection: 'clinical-pg',
    role: 'clinical_reader',
    producer: 'gateway',
  };
  const table = { database: 'clinical', schema: 'public', name: 'patients' };
  const column = (name: string) => ({ table, column: name });
  const fingerprint = 'b'.repeat(32);
  // Only the fields that differ from their defaults: the proto3 JSON on the wire omits the rest.
  const statement = {
    kind: 'select',
    tablesRead: [table],
    columnsRead: COLUMNS.map(column),
    columnsFiltered: [column('id')],
    flows: [],
    hasWhere: true,
    columnsResolved: true,
  };
  const analysis = { dialect: 'postgresql', fingerprint, understood: true, statements: [statement] };
  const plan = { columns: [], unknownSourceStrategy: 'STRATEGY_REDACT', canary: 'CANARY_MODE_OFF' };
  // A read that ran without waiting: one record (schema version 2).
  return [
    buildEvent('query.served', ctx, {
      received: { statement: SQL, fingerprint, dialect: 'postgresql', analysis },
      decision: {
        decisionId: randomUUID(),
        action: 'ACTION_ALLOW',
        ruleIds: ['etl-read-clinical'],
        reasons: ['ETL reads clinical tables'],
        policyRevision: '0123456789abcdef',
        maskingPlan: plan,
      },
      executed: { upstreamMs: 1, columns: COLUMNS },
      masking: { columns: [] },
      leaks: [],
      completed: { rows: 1, bytes: 40, durationMs: 1 },
    } as never),
  ];
}

/** The events as the consumer hands them over: a partition per request (the gateway keys by request id), offsets in order. */
function consumedOn(topic: string, events: AuditEvent[]): ConsumedMessage[][] {
  const parts: ConsumedMessage[][] = Array.from({ length: PARTITIONS }, () => []);
  const partitionOf = new Map<string, number>();
  for (const e of events) {
    const p = partitionOf.get(e.requestId) ?? partitionOf.size % PARTITIONS;
    partitionOf.set(e.requestId, p);
    const list = parts[p]!;
    list.push({ topic, partition: p, offset: String(list.length), key: e.requestId, raw: encodeEvent(e), event: e });
  }
  return parts;
}

/** The store's append against the chain-free append, alternating, into one scratch copy of audit_events. */
/** The two writers compared: the store's (chained) and the chain-free append (another build of the store may be passed in). */
export interface Writers {
  PgAuditStore: typeof PgAuditStore;
  appendUnchained: typeof appendUnchained;
}

export async function writerComparison(
  makeEvents: () => AuditEvent[],
  trials: number,
  writers: Writers = { PgAuditStore, appendUnchained },
): Promise<WriterComparison> {
  const admin = new URL(need('PG_ADMIN_URL'));
  admin.pathname = `/${new URL(need('AUDIT_DATABASE_URL')).pathname.slice(1)}`;
  const schema = uniqueName('bench_audit').replace(/-/g, '_');
  const setup = new pg.Client({ connectionString: admin.toString() });
  await setup.connect();
  const dropSchema = track(`schema ${schema}`, async () => {
    await setup.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await setup.end();
  });
  // Both writers resolve audit_events to the scratch copy (same columns, indexes and identity).
  const pool = new pg.Pool({ connectionString: admin.toString(), max: PARTITIONS, options: `-c search_path=${schema},public` });
  const closePool = track('bench audit writer pool', () => pool.end());
  try {
    await setup.query(`CREATE SCHEMA ${schema}`);
    await setup.query(`CREATE TABLE ${schema}.audit_events (LIKE public.audit_events INCLUDING ALL)`);
    const store = new writers.PgAuditStore(pool);
    const unchained = async (batch: ConsumedMessage[]) => {
      const c = await pool.connect();
      try {
        await writers.appendUnchained(c, batch);
      } finally {
        c.release();
      }
    };
    const cpu = { chained: { writer: [] as number[], postgres: [] as number[] }, chainFree: { writer: [] as number[], postgres: [] as number[] } };
    // One writer: every partition at once, each partition's batches in order. Fresh events (ids are unique in the table).
    const trial = async (chained: boolean): Promise<number> => {
      const events = makeEvents();
      const parts = consumedOn(uniqueName(chained ? 'bench-chained' : 'bench-free'), events);
      const pg0 = postgresCpuUs();
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await Promise.all(
        parts.map(async (msgs) => {
          for (let i = 0; i < msgs.length; i += WRITER_BATCH) {
            const batch = msgs.slice(i, i + WRITER_BATCH);
            if (chained) await store.append(batch);
            else await unchained(batch);
          }
        }),
      );
      const rate = Math.round(events.length / (Number(process.hrtime.bigint() - t0) / 1e9));
      const used = process.cpuUsage(cpu0);
      const mine = chained ? cpu.chained : cpu.chainFree;
      mine.writer.push((used.user + used.system) / events.length);
      mine.postgres.push((postgresCpuUs() - pg0) / events.length);
      return rate;
    };
    await trial(true); // warm-up: caches, plans, JIT
    await trial(false);
    for (const x of [cpu.chained, cpu.chainFree]) {
      x.writer.length = 0;
      x.postgres.length = 0;
    }
    const chained: number[] = [];
    const chainFree: number[] = [];
    for (let i = 0; i < trials; i++) {
      if (i % 2 === 0) {
        chained.push(await trial(true));
        chainFree.push(await trial(false));
      } else {
        chainFree.push(await trial(false));
        chained.push(await trial(true));
      }
    }
    return {
      trials,
      batch: WRITER_BATCH,
      chained: spread(chained),
      chainFree: spread(chainFree),
      ratio: spread(chained.map((c, i) => c / chainFree[i]!)),
      cpuPerEventUs: {
        chained: { writer: oneDecimal(spread(cpu.chained.writer).median), postgres: oneDecimal(spread(cpu.chained.postgres).median) },
        chainFree: { writer: oneDecimal(spread(cpu.chainFree.writer).median), postgres: oneDecimal(spread(cpu.chainFree.postgres).median) },
      },
    };
  } finally {
    await closePool();
    await dropSchema();
  }
}

/** Total consumer lag an audit service reports on its metrics page (undefined when it reports none). */
async function lagOf(metricsUrl: string): Promise<number | undefined> {
  const text = await fetch(metricsUrl)
    .then((r) => r.text())
    .catch(() => '');
  const values = [...text.matchAll(/^phigate_audit_consumer_lag\{[^}]*\} ([0-9.e+]+)$/gm)].map((m) => Number(m[1]));
  return values.length ? values.reduce((a, b) => a + b, 0) : undefined;
}

/** Samples the stack's audit consumer lag (AUDIT_URL/metrics) until stopped: its highest and last values. */
export function auditLagSampler(intervalMs = 500): { stop: () => { samples: number; maxLag: number; lastLag: number } } {
  const url = `${process.env.AUDIT_URL ?? 'http://127.0.0.1:8082'}/metrics`;
  let samples = 0;
  let maxLag = 0;
  let lastLag = 0;
  const t = setInterval(() => {
    void lagOf(url).then((n) => {
      if (n === undefined) return;
      samples++;
      maxLag = Math.max(maxLag, n);
      lastLag = n;
    });
  }, intervalMs);
  return {
    stop: () => {
      clearInterval(t);
      return { samples, maxLag, lastLag };
    },
  };
}

/** Produces `events` to a fresh 6-partition topic, then drains it with `replicas` audit processes in one group. */
/** One drain: its rate, lag and time, and what it cost in CPU between the first stored batch and the last. */
interface IngestSample {
  ingestPerSec: number;
  maxLag: number;
  drainSec: number;
  cpuPerEventUs: { audit: number; postgres: number; kafka: number };
  machineBusy: number;
}

/** CPU readings of the processes ingest runs on, and how many events were stored then. */
interface CpuReading {
  stored: number;
  audit: number;
  postgres: number;
  kafka: number;
  machine: { busy: number; total: number };
}

async function ingestRun(replicas: number, events: AuditEvent[], main: string): Promise<IngestSample> {
  const kafka = kafkaConnection();
  const topic = uniqueName('bench-audit');
  const group = uniqueName('bench-audit-group');
  const admin = createKafka({ ...kafka, clientId: 'bench-audit', log }).admin();
  await admin.connect();
  const removeTopic = track(`topic ${topic}`, async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });
  const store = new pg.Pool({ connectionString: need('AUDIT_DATABASE_URL'), max: 2 });
  const closeStore = track('audit store pool', () => store.end());
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }] });
    const publisher = new EventPublisher({ ...kafka, clientId: 'bench-audit', log, topic, ackTimeoutMs: 30_000 });
    await publisher.start();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < events.length; i += 500) pending.push(publisher.publish(events.slice(i, i + 500)));
    await Promise.all(pending);
    await publisher.stop();

    const issuer = need('DEV_IDP_ISSUER');
    const children = Array.from({ length: replicas }, () => {
      const port = String(20_000 + Math.floor(Math.random() * 20_000));
      const child = spawn(join(REPO_ROOT, 'node_modules/.bin/node'), ['--disable-warning=TimeoutNegativeWarning', main], {
        env: {
          PATH: process.env.PATH ?? '',
          LOG_LEVEL: 'warn',
          AUDIT_HTTP_PORT: port,
          ...kafkaEnv(),
          AUDIT_DATABASE_URL: need('AUDIT_DATABASE_URL'),
          AUDIT_TOPIC: topic,
          AUDIT_CONSUMER_GROUP: group,
          OIDC_ISSUER: issuer,
          OIDC_AUDIENCE: need('DEV_IDP_AUDIENCE'),
          OIDC_JWKS_URI: `${issuer}/jwks`,
          AUDIT_CHECKPOINT_KEY_FILE: join(need('PHIGATE_HOME'), 'secrets/audit_checkpoint_key.pem'),
          AUDIT_PURGE_INTERVAL_MS: '0',
          AUDIT_LAG_INTERVAL_MS: '500',
          AUDIT_PHI_CATALOG_FILE: join(REPO_ROOT, 'deploy/local/policies/05-phi-catalog.yaml'),
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const stop = track(`audit service (pid ${child.pid})`, async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
      });
      return { child, port, stop, stderr: () => stderr };
    });
    const started = Date.now();
    let maxLag = 0;
    const kafkaPid = stackPids().kafka;
    const reading = (stored: number): CpuReading => ({
      stored,
      audit: children.reduce((sum, c) => sum + cpuUs(c.child.pid!), 0),
      postgres: postgresCpuUs(),
      kafka: kafkaPid ? cpuUs(kafkaPid) : 0,
      machine: machineCpuUs(),
    });
    // From the first stored batch (start-up and group join are not ingest) to the last.
    let first: CpuReading | undefined;
    let last: CpuReading | undefined;
    try {
      await eventually(
        `the bench's ${replicas} audit replica(s) to store ${events.length} events`,
        async () => {
          for (const c of children) if (c.child.exitCode !== null) throw new Error(`an audit replica exited with ${c.child.exitCode}: ${c.stderr()}`);
          // Each replica measures the whole group's lag; the highest reading is the group's.
          for (const c of children) maxLag = Math.max(maxLag, (await lagOf(`http://127.0.0.1:${c.port}/metrics`)) ?? 0);
          const { rows } = await store.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events WHERE kafka_topic = $1', [topic]);
          const n = rows[0]!.n;
          if (n > 0 && !first) first = reading(n);
          if (n < events.length) return undefined;
          last = reading(n);
          return true;
        },
        180_000,
        100,
      );
    } finally {
      for (const c of children) await c.stop();
    }
    const drainSec = (Date.now() - started) / 1000;
    // Rate from the first stored batch to the last (each batch's rows share one ingested_at).
    const { rows } = await store.query<{ n: number; first: number; span: number }>(
      `WITH mine AS (SELECT ingested_at FROM audit_events WHERE kafka_topic = $1)
       SELECT count(*)::int AS n,
              (SELECT count(*)::int FROM mine WHERE ingested_at = (SELECT min(ingested_at) FROM mine)) AS first,
              extract(epoch FROM max(ingested_at) - min(ingested_at))::float8 AS span
         FROM mine`,
      [topic],
    );
    const r = rows[0]!;
    const ingestPerSec = Math.round((r.n - r.first) / r.span);
    const a = first!;
    const b = last!;
    const stored = Math.max(1, b.stored - a.stored);
    const perEvent = (x: number) => Math.round((x / stored) * 10) / 10;
    return {
      ingestPerSec,
      maxLag,
      drainSec: Math.round(drainSec * 10) / 10,
      cpuPerEventUs: { audit: perEvent(b.audit - a.audit), postgres: perEvent(b.postgres - a.postgres), kafka: perEvent(b.kafka - a.kafka) },
      machineBusy: Math.round(((b.machine.busy - a.machine.busy) / Math.max(1, b.machine.total - a.machine.total)) * 100) / 100,
    };
  } finally {
    await closeStore();
    await removeTopic();
  }
}

/** Makes `requests` fresh events (one query.served each) of one bench subject at every call. */
export function auditEvents(requests: number): () => AuditEvent[] {
  const subject = uniqueName('bench-audit-subject');
  return () => Array.from({ length: requests }, () => requestEvents(subject)).flat();
}

export async function auditBench(
  requests = Number(process.env.BENCH_AUDIT_EVENTS ?? 24_000),
  trials = Number(process.env.BENCH_AUDIT_TRIALS ?? 6),
  serviceRuns = Number(process.env.BENCH_AUDIT_RUNS ?? 3),
  /** Another build of the store and the service to measure (audit-run.ts --store, --main). */
  build: { writers?: Writers; main?: string } = {},
): Promise<AuditBench> {
  const main = build.main ?? join(REPO_ROOT, 'services/audit/dist/src/main.js');
  const makeEvents = auditEvents(requests);
  const writer = await writerComparison(makeEvents, trials, build.writers);
  const events = makeEvents();
  // The service runs alternate 1 and 2 replicas, so drift in the machine's load falls on both.
  const samples = new Map<number, IngestSample[]>([
    [1, []],
    [2, []],
  ]);
  for (let i = 0; i < serviceRuns; i++) for (const replicas of i % 2 ? [2, 1] : [1, 2]) samples.get(replicas)!.push(await ingestRun(replicas, events, main));
  const runs = [...samples].map(([replicas, xs]): IngestRuns => {
    const ingestPerSec = spread(xs.map((x) => x.ingestPerSec));
    const cpu = {
      audit: spread(xs.map((x) => x.cpuPerEventUs.audit)).median,
      postgres: spread(xs.map((x) => x.cpuPerEventUs.postgres)).median,
      kafka: spread(xs.map((x) => x.cpuPerEventUs.kafka)).median,
    };
    return {
      replicas,
      ingestPerSec,
      perWriterVsChainFree: ratio(ingestPerSec.median / replicas, writer.chainFree.median),
      maxLag: Math.max(...xs.map((x) => x.maxLag)),
      drainSec: spread(xs.map((x) => x.drainSec)),
      cpuPerEventUs: cpu,
      machineBusy: spread(xs.map((x) => x.machineBusy)).median,
      perCore: { audit: Math.round(1e6 / Math.max(0.1, cpu.audit)), ingestPath: Math.round(1e6 / Math.max(0.1, cpu.audit + cpu.postgres + cpu.kafka)) },
    };
  });
  const one = runs[0]!;
  const result: AuditBench = {
    events: events.length,
    writer,
    runs,
    ingestPerSec: one.ingestPerSec.median,
    baselineInsertPerSec: writer.chainFree.median,
    ingestVsBaseline: ratio(one.ingestPerSec.median, writer.chainFree.median),
  };
  const range = (x: Spread, digits = 0) => `${x.median.toFixed(digits)} (${x.min.toFixed(digits)}–${x.max.toFixed(digits)})`;
  console.log(`\naudit ingest (${result.events} events, ${PARTITIONS} partitions, one chain per partition)`);
  console.log(
    `  one writer, batches of ${writer.batch}, ${writer.trials} paired trials: chained ${range(writer.chained)}/s, chain-free ${range(writer.chainFree)}/s, ratio ${range(writer.ratio, 2)}`,
  );
  const w = writer.cpuPerEventUs;
  console.log(
    `    CPU per event: chained ${w.chained.writer} µs writer + ${w.chained.postgres} µs PostgreSQL, chain-free ${w.chainFree.writer} + ${w.chainFree.postgres} µs`,
  );
  for (const r of runs)
    console.log(
      `  service, ${r.replicas} replica(s), ${serviceRuns} runs: ${range(r.ingestPerSec)}/s   ${r.perWriterVsChainFree}× the chain-free writer per replica   max consumer lag ${r.maxLag}   drained in ${range(r.drainSec, 1)} s\n` +
        `    CPU per event: audit ${r.cpuPerEventUs.audit} µs, PostgreSQL ${r.cpuPerEventUs.postgres} µs, Kafka ${r.cpuPerEventUs.kafka} µs; machine ${Math.round(r.machineBusy * 100)}% busy; per core: ${r.perCore.audit}/s of audit service, ${r.perCore.ingestPath}/s of the whole ingest path`,
    );
  return result;
}
