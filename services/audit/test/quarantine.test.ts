// phigate-test: stack
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createKafka, encodeEvent, TOPICS } from '@phigate/bus';
import { eventually, kafkaConnection, need, stackAuditRecovered } from '@phigate/testkit';
import pg from 'pg';
import { allowedQuery, context, log } from './helpers.js';

// Against the stack's own audit service (npm run stack:up): forged events injected straight into
// phigate.audit.v1, as something other than the gateway could, must not stop ingestion.

test('forged events with a lone surrogate or a NUL injected into Kafka are quarantined and announced; the next event is stored within seconds', async (t) => {
  const kafka = createKafka({ ...kafkaConnection(), clientId: 'audit-quarantine-test', log });
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const pool = new pg.Pool({ connectionString: need('AUDIT_DATABASE_URL'), max: 1 });
  t.after(async () => {
    await producer.disconnect();
    await pool.end();
  });
  // The stack's audit service ready first (an earlier test may have restarted the broker under it):
  // the seconds below are ingestion's, not a group rejoin's.
  await stackAuditRecovered();
  const ctx = context(`quarantine-${randomUUID()}`);
  const [received, ...rest] = allowedQuery(ctx);
  const text = encodeEvent(received!).toString('utf8');
  const forged = [
    text.replace(/"statement":"[^"]*"/, `"statement":"SELECT '\\ud800'"`),
    text.replace(/"statement":"[^"]*"/, `"statement":"SELECT 1\\u0000"`).replace(received!.id, randomUUID()),
  ];
  assert.ok(forged.every((f) => f !== text));
  // One key, so one partition: the normal events come after the forged ones.
  const sent = await producer.send({
    topic: TOPICS.AUDIT,
    acks: -1,
    messages: [...forged.map((f) => ({ key: ctx.requestId, value: Buffer.from(f) })), ...rest.map((e) => ({ key: ctx.requestId, value: encodeEvent(e) }))],
  });
  const { partition, baseOffset } = sent[0]!;
  const offsets = [0, 1].map((i) => String(BigInt(baseOffset!) + BigInt(i)));
  const last = rest.at(-1)!;
  await eventually(
    'the event after the forged ones in the store',
    async () => ((await pool.query("SELECT 1 FROM audit_events WHERE id = $1 AND status = 'event'", [last.id])).rowCount ? true : undefined),
    30_000,
    100,
  );
  const q = await pool.query<{ o: string; raw: Buffer }>(
    `SELECT kafka_offset::text AS o, raw FROM audit_events WHERE kafka_topic = $1 AND kafka_partition = $2 AND kafka_offset = ANY($3::bigint[]) AND status = 'quarantined' ORDER BY kafka_offset`,
    [TOPICS.AUDIT, partition, offsets],
  );
  assert.deepEqual(
    q.rows.map((r) => r.o),
    offsets,
    'both forged messages are quarantined at their offsets',
  );
  assert.deepEqual(
    q.rows.map((r) => r.raw.toString('utf8')),
    forged,
    'with their exact bytes',
  );
  // Announced: audit.event_quarantined names each position and reason (stored like any event).
  const reasons = await eventually(
    'the quarantine announcements in the store',
    async () => {
      const r = await pool.query<{ reason: string }>(
        `SELECT payload -> 'eventQuarantined' ->> 'reason' AS reason FROM audit_events
          WHERE type = 'audit.event_quarantined' AND payload -> 'eventQuarantined' ->> 'topic' = $1
            AND coalesce(payload -> 'eventQuarantined' ->> 'partition', '0') = $2 AND payload -> 'eventQuarantined' ->> 'offset' = ANY($3)
          ORDER BY (payload -> 'eventQuarantined' ->> 'offset')::bigint`,
        [TOPICS.AUDIT, String(partition), offsets],
      );
      return r.rows.length === 2 ? r.rows.map((x) => x.reason) : undefined;
    },
    30_000,
    100,
  );
  assert.deepEqual(reasons, ['TEXT_LONE_SURROGATE', 'TEXT_NUL']);

  // Counted, and the lag of every partition is visible (the service measures it every few seconds).
  const metrics = await eventually(
    'the audit service to report its consumer lag',
    async () => {
      const text = await (await fetch(`${need('AUDIT_URL')}/metrics`)).text();
      return text.includes('phigate_audit_consumer_lag{') ? text : undefined;
    },
    30_000,
    250,
  );
  assert.match(metrics, /^phigate_audit_quarantined_total\{reason="TEXT_NUL"[^}]*\} [1-9]/m);
  const admin = kafka.admin();
  await admin.connect();
  const partitions = (await admin.fetchTopicOffsets(TOPICS.AUDIT)).length;
  await admin.disconnect();
  assert.equal([...metrics.matchAll(/^phigate_audit_consumer_lag\{partition="\d+"[^}]*\} \d+$/gm)].length, partitions, 'one lag gauge per partition');
});
