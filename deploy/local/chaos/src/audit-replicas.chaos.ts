// Failure suite: one of two audit replicas is killed (-9) in the middle of a burst. The replicas
// share a 6-partition topic of this run in one consumer group, each partition its own hash chain
// with a single writer. Promises: every produced event is stored exactly once (one record per
// offset, each event id once), the survivor takes over the dead replica's partitions without
// forking their chains, and the store verifies, cross-checked against the topic's committed offsets.
// Only processes of its own are stopped: the stack's services and infrastructure stay up.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildEvent, createKafka, encodeEvent } from '@phigate/bus';
import { createLogger } from '@phigate/telemetry';
import { eventually, freePort, kafkaConnection, kafkaEnv, need, REPO_ROOT, type SpawnedApp, spawnApp, uniqueName } from '@phigate/testkit';
import pg from 'pg';

const log = createLogger({ service: 'chaos-audit', level: 'silent' });
const PARTITIONS = 6;
const EVENTS = Number(process.env.CHAOS_AUDIT_EVENTS ?? 30_000);

test('one of two audit replicas is killed mid-burst: every event is stored exactly once and every chain verifies', async (t) => {
  const connection = kafkaConnection();
  const topic = uniqueName('chaos-audit');
  const group = uniqueName('chaos-audit-group');
  const kafka = createKafka({ ...connection, clientId: 'chaos-audit', log });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }] });
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const pool = new pg.Pool({ connectionString: need('AUDIT_DATABASE_URL'), max: 2 });
  const replica = async () => {
    const port = await freePort();
    return spawnApp('audit', 'services/audit/dist/src/main.js', port, {
      // Its own topic and group, which the stack's audit user has no ACL for: the tools identity.
      ...kafkaEnv(),
      AUDIT_HTTP_PORT: String(port),
      AUDIT_TOPIC: topic,
      AUDIT_CONSUMER_GROUP: group,
      // The relay is the stack's; a relay here would join its group with another subscription.
      AUDIT_SIEM_TOPIC: `${topic}-siem`,
      AUDIT_SIEM_CONSUMER_GROUP: `${group}-siem`,
      AUDIT_PURGE_INTERVAL_MS: '0',
      AUDIT_CHECKPOINT_INTERVAL_MS: '1000',
    });
  };
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: `${topic}-siem`, numPartitions: 1, replicationFactor: 1 }] });
  const replicas: SpawnedApp[] = [await replica(), await replica()];
  t.after(async () => {
    for (const r of replicas) r.kill('SIGTERM');
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic, `${topic}-siem`] }).catch(() => undefined);
    await admin.disconnect();
    await pool.end();
  });
  const stored = async () =>
    (
      await pool.query<{ n: number; offsets: number; ids: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT (kafka_partition, kafka_offset))::int AS offsets, count(DISTINCT id)::int AS ids
           FROM audit_events WHERE kafka_topic = $1`,
        [topic],
      )
    ).rows[0]!;

  // The burst: requests of five events each, keyed by request id, so every partition has a share.
  const ctx = () => ({
    requestId: randomUUID(),
    frontDoor: 'pgwire',
    producer: 'chaos',
    identity: { subject: 'chaos', clientId: 'chaos', groups: [], issuer: 'chaos' },
  });
  const producing = (async () => {
    for (let i = 0; i < EVENTS; i += 500) {
      const messages = Array.from({ length: 100 }, () => {
        const c = ctx();
        return ['query.received', 'policy.decided', 'query.executed', 'masking.applied', 'query.completed'].map((type) => ({
          key: c.requestId,
          value: encodeEvent(buildEvent(type as 'query.completed', c, {} as never)),
        }));
      }).flat();
      await producer.send({ topic, acks: -1, messages });
    }
  })();
  await eventually(
    'the two replicas to store part of the burst',
    async () => {
      const { n } = await stored();
      return n > EVENTS / 10 ? n : undefined;
    },
    120_000,
    20,
  );
  replicas[0]!.kill('SIGKILL');
  const atKill = (await stored()).n;
  await producing;
  assert.ok(atKill < EVENTS, `killed mid-burst (${atKill} of ${EVENTS} stored)`);

  // The survivor takes the dead replica's partitions once the group drops it (session timeout).
  const final = await eventually(
    'every produced event in the store after the survivor took over',
    async () => {
      const s = await stored();
      return s.n >= EVENTS ? s : undefined;
    },
    180_000,
    250,
  );
  assert.deepEqual(final, { n: EVENTS, offsets: EVENTS, ids: EVENTS }, 'one record per offset, each event once');

  // Verify the whole store, and the topic's committed offsets against it.
  let out: string;
  try {
    out = execFileSync('bash', [join(REPO_ROOT, 'services/audit/bin/audit-verify'), '--json'], {
      env: { ...process.env, AUDIT_TOPIC: topic, AUDIT_CONSUMER_GROUP: group },
      encoding: 'utf8',
      timeout: 600_000,
    });
  } catch (err) {
    out = String((err as { stdout?: string }).stdout ?? err);
  }
  const report = JSON.parse(out.trim().split('\n').at(-1)!) as { ok: boolean; chains?: { topic: string }[]; firstBad?: unknown };
  assert.equal(report.ok, true, JSON.stringify(report.firstBad ?? report));
  assert.equal(report.chains?.filter((c) => c.topic === topic).length, PARTITIONS, 'one chain per partition');
});
