// phigate-test: stack
import assert from 'node:assert/strict';
import { createPublicKey, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { PgAuditStore, type Signer } from '../src/adapters/store/pg-store.js';
import { link } from '../src/domain/chain.js';
import { signCheckpoint } from '../src/domain/checkpoint.js';
import { allowedQuery, consumed, context, legacyAppend, scratchStore, stackCheckpointKey } from './helpers.js';

// Tampering needs a superuser with the triggers off, so it runs against a database of its own
// (the same migrations, its own app role), dropped afterwards: the shared store is never touched.

const ORIGIN = 'phigate-audit';

test('format 1 (before the partition chains): the store is append-only for the app role and its owner; a superuser edit, deletion, insertion or reordering is located by verify', async (t) => {
  const db = await scratchStore();
  t.after(() => db.drop());
  const { key } = stackCheckpointKey();
  const trust = { keys: [{ publicKey: createPublicKey(key) }], origin: ORIGIN };
  const sign: Signer = (c) => signCheckpoint(c, key);
  const store = new PgAuditStore(db.app);

  // Twelve records in three requests, a signed checkpoint, a gap in seq (as an aborted append
  // leaves), then five more records after the checkpoint.
  const subject = `tamper-${randomUUID()}`;
  await legacyAppend(db.app, consumed([...allowedQuery(context(subject)), ...allowedQuery(context(subject))]));
  const cp = await store.checkpoint(sign, ORIGIN);
  assert.ok(cp);
  await db.admin.query("SELECT setval(pg_get_serial_sequence('audit_events', 'seq'), (SELECT max(seq) FROM audit_events) + 5)");
  await legacyAppend(db.app, consumed(allowedQuery(context(subject)), 1, 100));
  const clean = await store.verify(trust);
  assert.equal(clean.ok, true, JSON.stringify(clean.firstBad));
  assert.equal(clean.checked, 15);
  assert.equal(clean.uncheckpointed, 5);
  const rows = (await db.admin.query<{ seq: string; id: string }>('SELECT seq, id::text AS id FROM audit_events ORDER BY seq')).rows.map((r) => ({
    seq: Number(r.seq),
    id: r.id,
  }));

  // Ordinary changes fail: as the app role, and as the tables' owner with the triggers on.
  for (const pool of [db.app, db.admin]) {
    for (const sql of [
      "UPDATE audit_events SET type = 'x' WHERE seq = 1",
      'DELETE FROM audit_events WHERE seq = 1',
      'TRUNCATE audit_events',
      'DELETE FROM audit_checkpoints',
      'UPDATE audit_checkpoints SET kind = kind',
    ]) {
      await assert.rejects(pool.query(sql), (err: { code?: string }) => err.code === '42501', sql);
    }
  }
  // The app role cannot switch the triggers off, nor pass as the purge function.
  await assert.rejects(db.app.query("SET session_replication_role = 'replica'"), (err: { code?: string }) => err.code === '42501');
  const c = await db.app.connect();
  try {
    await c.query('BEGIN');
    await c.query("SELECT set_config('phigate.audit_purge', 'on', true)");
    await assert.rejects(c.query('DELETE FROM audit_events WHERE seq = 1'), (err: { code?: string }) => err.code === '42501');
    await c.query('ROLLBACK');
  } finally {
    c.release();
  }

  /** Runs `sql` as a superuser with the triggers disabled, verifies, then undoes it the same way. */
  const tamper = async (sql: string[], undo: string[]) => {
    const run = async (stmts: string[]) => {
      const client = await db.admin.connect();
      try {
        await client.query('BEGIN');
        await client.query("SET LOCAL session_replication_role = 'replica'");
        for (const s of stmts) await client.query(s);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    };
    await run(sql);
    const report = await store.verify(trust);
    await run(undo);
    return report;
  };
  const snapshot = (seq: number) => `SELECT *, payload::text AS payload_text FROM audit_events WHERE seq = ${seq}`;
  const saved = async (seq: number) => (await db.admin.query(snapshot(seq))).rows[0] as Record<string, unknown>;
  const reinsert = (r: Record<string, unknown>) =>
    `INSERT INTO audit_events (seq, id, request_id, type, event_time, identity_subject, connection, kafka_partition, kafka_offset, payload, prev_hash, hash, ingested_at)
         OVERRIDING SYSTEM VALUE VALUES (${r.seq}, '${r.id}', '${r.request_id}', '${r.type}', '${(r.event_time as Date).toISOString()}', '${r.identity_subject}', '${r.connection}',
         ${r.kafka_partition}, ${r.kafka_offset}, ${lit(r.payload_text as string)}::json, '\\x${(r.prev_hash as Buffer).toString('hex')}', '\\x${(r.hash as Buffer).toString('hex')}',
         '${(r.ingested_at as Date).toISOString()}')`;
  const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const payloadText = async (seq: number) => (await db.admin.query<{ p: string }>(`SELECT payload::text AS p FROM audit_events WHERE seq = ${seq}`)).rows[0]!.p;

  // 1. Edited: a masking.applied record now says the SSN was not masked.
  const s4 = rows[3]!;
  const p4 = await payloadText(s4.seq);
  assert.match(p4, /"valuesMasked":1/);
  const edited = await tamper(
    [`UPDATE audit_events SET payload = ${lit(p4.replace('"valuesMasked":1', '"valuesMasked":0'))}::json WHERE seq = ${s4.seq}`],
    [`UPDATE audit_events SET payload = ${lit(p4)}::json WHERE seq = ${s4.seq}`],
  );
  assert.equal(edited.ok, false);
  assert.deepEqual([edited.firstBad?.reason, edited.firstBad?.seq, edited.firstBad?.id], ['record_edited', s4.seq, s4.id]);

  // 2. Edited with every hash after it recomputed (a careful forger): the signed checkpoint catches it.
  const chainFrom = async (seq: number, payloadOf: (seq: number, p: string) => string) => {
    const all = (
      await db.admin.query<{ seq: string; payload: string; prev_hash: Buffer; hash: Buffer }>(
        'SELECT seq, payload::text AS payload, prev_hash, hash FROM audit_events ORDER BY seq',
      )
    ).rows;
    const forged: string[] = [];
    const undo: string[] = [];
    let prev: Buffer | undefined;
    for (const r of all) {
      const n = Number(r.seq);
      if (n < seq) continue;
      prev ??= r.prev_hash;
      const p = payloadOf(n, r.payload);
      const h = link(prev, p);
      forged.push(
        `UPDATE audit_events SET payload = ${lit(p)}::json, prev_hash = '\\x${prev.toString('hex')}', hash = '\\x${h.toString('hex')}' WHERE seq = ${n}`,
      );
      undo.push(
        `UPDATE audit_events SET payload = ${lit(r.payload)}::json, prev_hash = '\\x${r.prev_hash.toString('hex')}', hash = '\\x${r.hash.toString('hex')}' WHERE seq = ${n}`,
      );
      prev = h;
    }
    return { forged, undo };
  };
  const s2 = rows[1]!;
  const rewrite = await chainFrom(s2.seq, (n, p) => (n === s2.seq ? p.replace('ACTION_ALLOW', 'ACTION_DENY') : p));
  const rewritten = await tamper(rewrite.forged, rewrite.undo);
  assert.deepEqual([rewritten.firstBad?.reason, rewritten.firstBad?.checkpoint], ['checkpoint_mismatch', cp]);
  assert.equal(rewritten.firstBad?.seq, 10, 'the record the checkpoint covers');

  // 3. Deleted: a record in the middle.
  const s7 = rows[6]!;
  const r7 = await saved(s7.seq);
  const deleted = await tamper([`DELETE FROM audit_events WHERE seq = ${s7.seq}`], [reinsert(r7)]);
  assert.deepEqual([deleted.firstBad?.reason, deleted.firstBad?.seq, deleted.firstBad?.after?.seq], ['link_broken', rows[7]!.seq, rows[5]!.seq]);

  // 4. Inserted: a forged record in the seq gap, correctly linked to the record before it.
  const beforeGap = rows[9]!;
  const afterGap = rows[10]!;
  assert.ok(afterGap.seq - beforeGap.seq > 1, 'there is a gap');
  const prevHash = (await db.admin.query<{ hash: Buffer }>(`SELECT hash FROM audit_events WHERE seq = ${beforeGap.seq}`)).rows[0]!.hash;
  const forgedId = randomUUID();
  // Its columns agree with its payload (verify re-derives them), so only the links can tell.
  const forgedRequest = randomUUID();
  const forgedPayload = JSON.stringify({ id: forgedId, type: 'query.completed', requestId: forgedRequest, queryCompleted: { rows: 0 } });
  const inserted = await tamper(
    [
      `INSERT INTO audit_events (seq, id, request_id, type, event_time, kafka_partition, kafka_offset, payload, prev_hash, hash)
       OVERRIDING SYSTEM VALUE VALUES (${beforeGap.seq + 1}, '${forgedId}', '${forgedRequest}', 'query.completed', now(), 0, 0, ${lit(forgedPayload)}::json,
       '\\x${prevHash.toString('hex')}', '\\x${link(prevHash, forgedPayload).toString('hex')}')`,
    ],
    [`DELETE FROM audit_events WHERE id = '${forgedId}'`],
  );
  assert.deepEqual([inserted.firstBad?.reason, inserted.firstBad?.seq, inserted.firstBad?.after?.id], ['link_broken', afterGap.seq, forgedId]);

  // 5. Reordered: two records swap places.
  const [a, b] = [rows[11]!, rows[12]!];
  const [ra, rb] = [await saved(a.seq), await saved(b.seq)];
  const swap = (from: Record<string, unknown>, to: number, id: string) =>
    `UPDATE audit_events SET id = '${id}', request_id = '${from.request_id}', type = '${from.type}', payload = ${lit(from.payload_text as string)}::json,
     prev_hash = '\\x${(from.prev_hash as Buffer).toString('hex')}', hash = '\\x${(from.hash as Buffer).toString('hex')}' WHERE seq = ${to}`;
  const [tmpA, tmpB] = [randomUUID(), randomUUID()];
  const park = [`UPDATE audit_events SET id = '${tmpA}' WHERE seq = ${a.seq}`, `UPDATE audit_events SET id = '${tmpB}' WHERE seq = ${b.seq}`];
  const reordered = await tamper([...park, swap(rb, a.seq, b.id), swap(ra, b.seq, a.id)], [...park, swap(ra, a.seq, a.id), swap(rb, b.seq, b.id)]);
  assert.deepEqual([reordered.firstBad?.reason, reordered.firstBad?.seq, reordered.firstBad?.id], ['link_broken', a.seq, b.id]);

  // 6. Deleted from the end, back into the checkpointed part.
  const tail = await Promise.all(rows.slice(9).map((r) => saved(r.seq)));
  const truncated = await tamper([`DELETE FROM audit_events WHERE seq >= ${rows[9]!.seq}`], tail.map(reinsert));
  assert.deepEqual([truncated.firstBad?.reason, truncated.firstBad?.seq, truncated.firstBad?.checkpoint], ['records_missing_at_end', rows[9]!.seq, cp]);

  // Undone: the store verifies clean again.
  const after = await store.verify(trust);
  assert.equal(after.ok, true, JSON.stringify(after.firstBad));
  assert.equal(after.checked, 15);
});
