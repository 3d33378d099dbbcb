// phigate-test: stack
import assert from 'node:assert/strict';
import { createPublicKey, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { type ConsumedMessage, createKafka, decodeEvent, EventConsumer, encodeEvent } from '@phigate/bus';
import { eventually, kafkaConnection, seededRandom, uniqueName } from '@phigate/testkit';
import { topicPositions } from '../src/adapters/kafka/positions.js';
import { type HeadsSigner, PgAuditStore } from '../src/adapters/store/pg-store.js';
import { crossCheck } from '../src/domain/chains.js';
import { signHeads, type Trust } from '../src/domain/checkpoint.js';
import { allowedQuery, context, createTopics, log, scratchStore, stackCheckpointKey } from './helpers.js';

// Each test has a database of its own (the audit migrations, its own app role): tampering needs a
// superuser with the triggers off, and the shared store is never touched.

const ORIGIN = 'phigate-audit';
const { key } = stackCheckpointKey();
const trust: Trust = { keys: [{ publicKey: createPublicKey(key) }], origin: ORIGIN };
const signH: HeadsSigner = (c) => signHeads(c, key);

/** Messages as the consumer hands them over: raw bytes, and the event when they decode. */
function messages(raws: Buffer[], topic: string, partition: number, from = 0): ConsumedMessage[] {
  return raws.map((raw, i) => {
    let event: ConsumedMessage['event'];
    try {
      event = decodeEvent(raw);
    } catch {
      event = undefined;
    }
    return { topic, partition, offset: String(from + i), key: null, raw, ...(event ? { event } : {}) };
  });
}

/** Every string value in a JSON document, by path. */
function stringPaths(v: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (typeof v === 'string') return [path];
  if (Array.isArray(v)) return v.flatMap((x, i) => stringPaths(x, [...path, i]));
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => stringPaths(x, [...path, k]));
  return [];
}

/** Replaces the string at `path` in the JSON text of `doc` with `splice`, which is raw JSON string content (escapes or bytes). */
function withString(doc: unknown, path: (string | number)[], splice: Buffer): Buffer {
  const marker = `@@${randomUUID()}@@`;
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let o = copy;
  for (const p of path.slice(0, -1)) o = o[p] as Record<string | number, unknown>;
  o[path.at(-1)!] = marker;
  const [before, after] = JSON.stringify(copy).split(marker) as [string, string];
  return Buffer.concat([Buffer.from(before), splice, Buffer.from(after)]);
}

test('property: arbitrary bytes in every string field never stop ingestion; each offset is stored exactly once and the chains verify', async (t) => {
  const db = await scratchStore();
  t.after(() => db.drop());
  const store = new PgAuditStore(db.app);
  const topic = uniqueName('audit-fuzz');
  const seed = Number(process.env.AUDIT_FUZZ_SEED ?? Date.now() % 1_000_000);
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const hostile = [
    () => Buffer.from('\\u0000'),
    () => Buffer.from('\\ud800'),
    () => Buffer.from('\\udfff x'),
    () => Buffer.from('\\ud800\\u0041'),
    () => Buffer.from([0x00]),
    () => Buffer.from([0xff, 0xfe]),
    () => Buffer.from([0xed, 0xa0, 0x80]),
    () => Buffer.from('"'),
    () => Buffer.from('\\'),
    () => Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 24) }, () => Math.floor(rnd() * 256))),
    () => Buffer.from(`ok \\u00e9 \\ud83d\\ude00 ${'x'.repeat(Math.floor(rnd() * 5))}`),
  ];
  const subject = `fuzz-${randomUUID()}`;
  const raws: Buffer[] = [];
  for (let i = 0; i < 40; i++) {
    for (const e of allowedQuery(context(subject))) {
      const doc = JSON.parse(encodeEvent(e).toString('utf8'));
      // One event in three is sent as produced; the rest carry hostile bytes in one of their strings.
      raws.push(rnd() < 0.34 ? encodeEvent(e) : withString(doc, pick(stringPaths(doc)), pick(hostile)()));
    }
  }
  // A copy of an already stored event at a later offset (a producer retry) is a duplicate, not lost.
  raws.push(raws[0]!);
  // Batches of random sizes, one partition each, as the consumer hands them over.
  // Two partitions: each batch goes to one of them, at that partition's next offsets.
  const next = [0, 0];
  const at = new Map<string, Buffer>();
  let offset = 0;
  let quarantined = 0;
  while (offset < raws.length) {
    const n = 1 + Math.floor(rnd() * 30);
    const p = rnd() < 0.5 ? 0 : 1;
    const batch = raws.slice(offset, offset + n);
    const ms = messages(batch, topic, p, next[p]!);
    for (const m of ms) at.set(`${p}/${m.offset}`, m.raw);
    const r = await store.append(ms);
    quarantined += r.quarantined.length;
    offset += n;
    next[p]! += batch.length;
  }
  const rows = await db.admin.query<{ p: number; n: number; lo: string; hi: string; q: number; d: number }>(
    `SELECT kafka_partition AS p, count(*)::int AS n, min(kafka_offset)::text AS lo, max(kafka_offset)::text AS hi,
            count(*) FILTER (WHERE status = 'quarantined')::int AS q, count(*) FILTER (WHERE status = 'duplicate')::int AS d
       FROM audit_events WHERE kafka_topic = $1 GROUP BY 1`,
    [topic],
  );
  assert.equal(
    rows.rows.reduce((n, r) => n + r.n, 0),
    raws.length,
    `seed ${seed}: every message is stored, exactly once`,
  );
  assert.equal(
    rows.rows.reduce((n, r) => n + r.q, 0),
    quarantined,
    `seed ${seed}: what append reported quarantined is stored quarantined`,
  );
  assert.ok(quarantined > 0, `seed ${seed}: hostile bytes were quarantined`);
  // The exact bytes are kept: every stored record gives back the message it was.
  const back = await db.admin.query<{ k: string; b: Buffer }>(
    `SELECT kafka_partition || '/' || kafka_offset AS k, coalesce(raw, convert_to(payload::text, 'UTF8')) AS b FROM audit_events WHERE kafka_topic = $1`,
    [topic],
  );
  for (const r of back.rows) assert.ok(r.b.equals(at.get(r.k)!), `seed ${seed}: ${r.k} keeps its exact bytes`);
  await store.checkpointHeads(signH, ORIGIN);
  const report = await store.verify(trust);
  assert.equal(report.ok, true, `seed ${seed}: ${JSON.stringify(report.firstBad)}`);
  assert.equal(report.checked, raws.length);
  // A replay of the whole topic (a rebalance, a restart) stores nothing twice and forks no chain.
  for (const [p, n] of next.entries()) {
    const all = Array.from({ length: n }, (_, o) => at.get(`${p}/${o}`)!);
    for (let i = 0; i < n; i += 25) await store.append(messages(all.slice(i, i + 25), topic, p, i));
  }
  assert.equal((await db.admin.query('SELECT count(*)::int AS n FROM audit_events WHERE kafka_topic = $1', [topic])).rows[0].n, raws.length);
  assert.equal((await store.verify(trust)).ok, true);
});

test('every stored column is covered: an edit of any column, a deleted record or a reorder is located by verify', async (t) => {
  const db = await scratchStore();
  t.after(() => db.drop());
  const store = new PgAuditStore(db.app);
  const topic = uniqueName('audit-cols');
  const subject = `cols-${randomUUID()}`;
  const raws = [...allowedQuery(context(subject)), ...allowedQuery(context(subject))].map((e) => encodeEvent(e));
  raws.push(Buffer.from('{"not": "an event", "s": "\\u0000"}'));
  raws.push(encodeEvent(allowedQuery(context(subject))[0]!));
  raws.push(raws[0]!);
  await store.append(messages(raws, topic, 0));
  assert.ok(await store.checkpointHeads(signH, ORIGIN));
  const clean = await store.verify(trust);
  assert.equal(clean.ok, true, JSON.stringify(clean.firstBad));

  /** Runs `sql` as a superuser with the triggers off, verifies, then rolls it back. */
  const tampered = async (sql: string) => {
    const c = await db.admin.connect();
    try {
      await c.query('BEGIN');
      await c.query("SET LOCAL session_replication_role = 'replica'");
      await c.query(sql);
      // The verify runs on the app role's pool: commit, check, undo by restoring the copy.
      await c.query('COMMIT');
    } finally {
      c.release();
    }
    return (await store.verify(trust)).firstBad;
  };
  const snapshot = async () => {
    await db.admin.query('DROP TABLE IF EXISTS audit_events_copy');
    await db.admin.query('CREATE TABLE audit_events_copy AS SELECT * FROM audit_events');
  };
  const restore = async () => {
    const c = await db.admin.connect();
    try {
      await c.query('BEGIN');
      await c.query("SET LOCAL session_replication_role = 'replica'");
      await c.query('DELETE FROM audit_events');
      await c.query('INSERT INTO audit_events OVERRIDING SYSTEM VALUE SELECT * FROM audit_events_copy');
      await c.query('COMMIT');
    } finally {
      c.release();
    }
    assert.equal((await store.verify(trust)).ok, true, 'restored');
  };
  await snapshot();
  const at = (o: number) => `kafka_topic = '${topic}' AND kafka_offset = ${o}`;
  // Offset 2 is a query.executed event; 10 is quarantined, 11 an event, 12 a duplicate of offset 0.
  const edits: [string, string, number, string][] = [
    ['id', `UPDATE audit_events SET id = '${randomUUID()}' WHERE ${at(2)}`, 2, 'column_mismatch'],
    ['request_id', `UPDATE audit_events SET request_id = 'other' WHERE ${at(2)}`, 2, 'column_mismatch'],
    ['type', `UPDATE audit_events SET type = 'query.completed' WHERE ${at(2)}`, 2, 'column_mismatch'],
    ['event_time', `UPDATE audit_events SET event_time = event_time + interval '1 microsecond' WHERE ${at(2)}`, 2, 'column_mismatch'],
    ['identity_subject', `UPDATE audit_events SET identity_subject = 'someone-else' WHERE ${at(2)}`, 2, 'column_mismatch'],
    ['identity_subject', `UPDATE audit_events SET identity_subject = NULL WHERE ${at(2)}`, 2, 'column_mismatch'],
    ['connection', `UPDATE audit_events SET connection = 'other-db' WHERE ${at(2)}`, 2, 'column_mismatch'],
    ['request_id', `UPDATE audit_events SET request_id = 'planted' WHERE ${at(10)}`, 10, 'column_mismatch'],
    ['payload', `UPDATE audit_events SET payload = replace(payload::text, '}', ' }')::json WHERE ${at(2)}`, 2, 'record_edited'],
    ['raw', `UPDATE audit_events SET raw = '\\x00' WHERE ${at(10)}`, 10, 'record_edited'],
    ['status', `UPDATE audit_events SET status = 'event', payload = '{}', raw = NULL WHERE ${at(12)}`, 12, 'record_edited'],
    ['status', `UPDATE audit_events SET raw = convert_to(payload::text, 'UTF8'), payload = NULL WHERE ${at(2)}`, 2, 'status_invalid'],
    ['ingested_at', `UPDATE audit_events SET ingested_at = ingested_at - interval '7 years' WHERE ${at(2)}`, 2, 'record_edited'],
    ['hash', `UPDATE audit_events SET hash = sha256(hash) WHERE ${at(2)}`, 2, 'record_edited'],
    ['prev_hash', `UPDATE audit_events SET prev_hash = sha256(prev_hash) WHERE ${at(2)}`, 2, 'link_broken'],
    ['kafka_offset', `UPDATE audit_events SET kafka_offset = 100 WHERE ${at(12)}`, 100, 'offsets_missing'],
    // Moved to another chain: the signed head of its own chain is missing.
    ['kafka_partition', `UPDATE audit_events SET kafka_partition = 1 WHERE ${at(12)}`, -1, 'records_missing_at_end'],
    // Passed off as a record from before the partition chains: it does not start that chain.
    ['kafka_topic', `UPDATE audit_events SET kafka_topic = NULL WHERE ${at(12)}`, -1, 'unanchored_start'],
  ];
  for (const [column, sql, offset, reason] of edits) {
    const bad = await tampered(sql);
    assert.equal(bad?.reason, reason, `${column}: ${JSON.stringify(bad)}`);
    if (offset >= 0) assert.equal(bad?.offset, String(offset), `${column}: located`);
    else assert.ok(bad?.seq !== undefined || bad?.offsets, `${column}: located`);
    if (reason === 'column_mismatch') assert.equal(bad?.column, column);
    await restore();
  }
  // seq orders the auditor's timeline: swapping two records' seq (re-inserted, seq is an identity) is a reorder, located.
  const seqs = (await db.admin.query<{ s: string }>(`SELECT seq::text AS s FROM audit_events WHERE ${at(3)} OR ${at(4)} ORDER BY kafka_offset`)).rows;
  const reorder = await tampered(
    `CREATE TEMP TABLE two ON COMMIT DROP AS SELECT * FROM audit_events WHERE ${at(3)} OR ${at(4)};
     DELETE FROM audit_events WHERE ${at(3)} OR ${at(4)};
     UPDATE two SET seq = CASE kafka_offset WHEN 3 THEN ${seqs[1]!.s} ELSE ${seqs[0]!.s} END;
     INSERT INTO audit_events OVERRIDING SYSTEM VALUE SELECT * FROM two`,
  );
  assert.deepEqual([reorder?.reason, reorder?.offset], ['order_broken', '4']);
  await restore();
  // A record deleted in the middle: the offsets lost.
  const deleted = await tampered(`DELETE FROM audit_events WHERE ${at(5)}`);
  assert.deepEqual([deleted?.reason, deleted?.offsets], ['offsets_missing', { from: '5', to: '5' }]);
  await restore();
  // The newest record deleted after a signed checkpoint covered it: the signed tail is missing.
  const tail = await tampered(`DELETE FROM audit_events WHERE ${at(12)}`);
  assert.deepEqual([tail?.reason, tail?.offsets], ['records_missing_at_end', { from: '12', to: '12' }]);
  await restore();
});

for (const n of [1, 50]) {
  test(`the newest ${n} records deleted before any checkpoint covers them: verify reports the offsets lost against the topic`, async (t) => {
    const db = await scratchStore();
    const topic = uniqueName('audit-trunc');
    const group = uniqueName('audit-trunc-group');
    await createTopics(topic);
    const kafka = createKafka({ ...kafkaConnection(), clientId: 'audit-trunc-test', log });
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const store = new PgAuditStore(db.app);
    const consumer = new EventConsumer({
      ...kafkaConnection(),
      clientId: 'audit-trunc-test',
      log,
      topic,
      groupId: group,
      handleBatch: async (m) => {
        await store.append(m);
      },
    });
    t.after(async () => {
      await consumer.stop().catch(() => undefined);
      await producer.disconnect();
      await db.drop();
    });
    // All of it on partition 0 (one request id), through the real consumer, which commits offsets.
    const requestId = randomUUID();
    const events = Array.from({ length: 12 }, () => allowedQuery(context(`trunc-${randomUUID()}`, requestId))).flat();
    await producer.send({ topic, acks: -1, messages: events.map((e) => ({ key: requestId, value: encodeEvent(e), partition: 0 })) });
    await consumer.start();
    await eventually(
      'the consumer to store and commit all 60 events',
      async () => {
        const p = (await topicPositions(kafka, topic, group)).find((x) => x.partition === 0);
        return p?.committed === '60' ? p : undefined;
      },
      60_000,
      100,
    );
    await consumer.stop();
    const clean = await store.verify(trust);
    assert.equal(clean.ok, true, JSON.stringify(clean.firstBad));
    assert.equal(crossCheck(topic, clean.chains, await topicPositions(kafka, topic, group)), undefined, 'intact store: every committed offset stored');

    const c = await db.admin.connect();
    try {
      await c.query('BEGIN');
      await c.query("SET LOCAL session_replication_role = 'replica'");
      await c.query('DELETE FROM audit_events WHERE kafka_topic = $1 AND kafka_offset >= $2', [topic, 60 - n]);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
    const report = await store.verify(trust);
    assert.equal(report.ok, true, 'the shortened chain is intact in itself: only the topic shows the loss');
    const bad = crossCheck(topic, report.chains, await topicPositions(kafka, topic, group));
    assert.deepEqual([bad?.reason, bad?.partition, bad?.offsets], ['offsets_missing_at_end', 0, { from: String(60 - n), to: '59' }]);
  });
}
