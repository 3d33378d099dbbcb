// Audit ingest: events/s into the hash-chained store (one chain per partition). N valid events
// (four per request, as the gateway emits them for an allowed read) are produced with the
// project's EventPublisher to a 6-partition topic of this run; then 1, and in a second run 2, audit
// service processes of their own (one consumer group, the shared store) drain them. The rate counts
// from the first stored batch to the last (ingested_at, stamped by the writers per batch), so
// process start-up and group join are not in it. Baseline in the same run: the same rows
// bulk-inserted by one client, without the chain (no lock, no previous hash), into a scratch copy
// of the table. Also here: the sampler of the stack's audit consumer lag during the door runs.
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { type AuditEvent, buildEvent, createKafka, type EventContext, EventPublisher, encodeEvent } from '@phigate/bus';
import { createLogger } from '@phigate/telemetry';
import { eventually, kafkaConnection, kafkaEnv, need, REPO_ROOT, uniqueName } from '@phigate/testkit';
import pg from 'pg';
import { track } from './processes.js';
import { ratio } from './stats.js';

const log = createLogger({ service: 'bench', level: 'silent' });
const PARTITIONS = 6; // as phigate.audit.v1 on the local stack
const BASELINE_BATCH = 1000;
const COLUMNS = ['id', 'first_name', 'last_name', 'zip'];
const SQL = 'SELECT id, first_name, last_name, zip FROM patients WHERE id = $1';

/** One ingest run with a number of audit replicas sharing the partitions. */
export interface IngestRun {
  replicas: number;
  ingestPerSec: number;
  /** ingestPerSec per replica over the one-client chain-free insert (goal ≥ 1.0). */
  perWriterVsBaseline: number;
  /** Highest consumer lag the replicas reported while draining (phigate_audit_consumer_lag, summed over partitions). */
  maxLag: number;
  drainSec: number;
}

export interface AuditBench {
  events: number;
  /** The runs with 1 and 2 replicas (6 partitions). */
  runs: IngestRun[];
  /** First stored batch → last stored event, through the audit service (consumer, chain, store). */
  ingestPerSec: number;
  /** The same rows, one client, multi-row INSERTs of 1,000 without the chain. */
  baselineInsertPerSec: number;
  ingestVsBaseline: number;
  /** Wall time from starting the audit process to every event stored (includes start-up). */
  drainSec: number;
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
  return [
    buildEvent('query.received', ctx, { statement: SQL, fingerprint, dialect: 'postgresql', analysis } as never),
    buildEvent('policy.decided', ctx, {
      decisionId: randomUUID(),
      action: 'ACTION_ALLOW',
      ruleIds: ['etl-read-clinical'],
      reasons: ['ETL reads clinical tables'],
      policyRevision: '0123456789abcdef',
      maskingPlan: plan,
    } as never),
    buildEvent('query.executed', ctx, { upstreamMs: 1, columns: COLUMNS } as never),
    buildEvent('query.completed', ctx, { rows: 1, bytes: 40, durationMs: 1 } as never),
  ];
}

/** The baseline: the same rows into a scratch copy of audit_events (same columns and indexes), one client, no chain. */
async function baselineInsert(events: AuditEvent[]): Promise<number> {
  const admin = new URL(need('PG_ADMIN_URL'));
  admin.pathname = `/${new URL(need('AUDIT_DATABASE_URL')).pathname.slice(1)}`;
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  const schema = uniqueName('bench_audit').replace(/-/g, '_');
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`CREATE TABLE ${schema}.audit_events (LIKE public.audit_events INCLUDING ALL)`);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < events.length; i += BASELINE_BATCH) {
      const batch = events.slice(i, i + BASELINE_BATCH);
      const payloads = batch.map((e) => encodeEvent(e).toString('utf8'));
      // Column arrays for unnest(), the store's own insert shape; a zero previous hash (no chain).
      const now = new Date().toISOString();
      const cols = [
        batch.map(() => schema),
        batch.map((e) => e.id),
        batch.map((e) => e.requestId),
        batch.map((e) => e.type),
        batch.map((e) => (e.time ?? new Date()).toISOString()),
        batch.map((e) => e.identity?.subject ?? null),
        batch.map((e) => e.connection || null),
        batch.map(() => 0),
        batch.map((_, k) => i + k),
        batch.map(() => 'event'),
        payloads,
        payloads.map(() => Buffer.alloc(32)),
        payloads.map((p) => createHash('sha256').update(p).digest()),
        batch.map(() => now),
      ];
      await client.query(
        `INSERT INTO ${schema}.audit_events (kafka_topic, id, request_id, type, event_time, identity_subject, connection, kafka_partition, kafka_offset, status,
                                             payload, prev_hash, hash, ingested_at)
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::int[], $9::bigint[], $10::text[],
                              $11::json[], $12::bytea[], $13::bytea[], $14::timestamptz[])`,
        cols,
      );
    }
    return Math.round(events.length / (Number(process.hrtime.bigint() - t0) / 1e9));
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await client.end();
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
async function ingestRun(replicas: number, events: AuditEvent[], baselinePerSec: number): Promise<IngestRun> {
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
      const child = spawn(
        join(REPO_ROOT, 'node_modules/.bin/node'),
        ['--disable-warning=TimeoutNegativeWarning', join(REPO_ROOT, 'services/audit/dist/src/main.js')],
        {
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
        },
      );
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
    try {
      await eventually(
        `the bench's ${replicas} audit replica(s) to store ${events.length} events`,
        async () => {
          for (const c of children) if (c.child.exitCode !== null) throw new Error(`an audit replica exited with ${c.child.exitCode}: ${c.stderr()}`);
          // Each replica measures the whole group's lag; the highest reading is the group's.
          for (const c of children) maxLag = Math.max(maxLag, (await lagOf(`http://127.0.0.1:${c.port}/metrics`)) ?? 0);
          const { rows } = await store.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events WHERE kafka_topic = $1', [topic]);
          return rows[0]!.n >= events.length ? true : undefined;
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
    return {
      replicas,
      ingestPerSec,
      perWriterVsBaseline: ratio(ingestPerSec / replicas, baselinePerSec),
      maxLag,
      drainSec: Math.round(drainSec * 10) / 10,
    };
  } finally {
    await closeStore();
    await removeTopic();
  }
}

export async function auditBench(requests = Math.round(Number(process.env.BENCH_AUDIT_EVENTS ?? 20_000) / 4)): Promise<AuditBench> {
  const subject = uniqueName('bench-audit-subject');
  const events = Array.from({ length: requests }, () => requestEvents(subject)).flat();
  const baselineInsertPerSec = await baselineInsert(events);
  const runs: IngestRun[] = [];
  for (const replicas of [1, 2]) runs.push(await ingestRun(replicas, events, baselineInsertPerSec));
  const one = runs[0]!;
  const result: AuditBench = {
    events: events.length,
    runs,
    ingestPerSec: one.ingestPerSec,
    baselineInsertPerSec,
    ingestVsBaseline: ratio(one.ingestPerSec, baselineInsertPerSec),
    drainSec: one.drainSec,
  };
  console.log(`\naudit ingest (${result.events} events, ${PARTITIONS} partitions, one chain per partition, shared store)`);
  console.log(`  baseline: one client, bulk insert without chain ${baselineInsertPerSec}/s`);
  for (const r of runs)
    console.log(
      `  ${r.replicas} replica(s): ingested ${r.ingestPerSec}/s   ${r.perWriterVsBaseline}× baseline per writer   max consumer lag ${r.maxLag}   drained in ${r.drainSec} s`,
    );
  return result;
}
