// phigate-test: stack
import assert from 'node:assert/strict';
import { createPublicKey, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { uniqueName } from '@phigate/testkit';
import { type HeadsSigner, PgAuditStore } from '../src/adapters/store/pg-store.js';
import { signHeads, type Trust } from '../src/domain/checkpoint.js';
import { recordHash } from '../src/domain/record.js';
import { allowedQuery, consumed, context, scratchStore, stackCheckpointKey } from './helpers.js';

// Verify pages through records and checkpoints alike; the heads the checkpoints signed are compared
// in the database, so a store with any number of checkpoints verifies in bounded memory.

const ORIGIN = 'phigate-audit';
const { key } = stackCheckpointKey();
const trust: Trust = { keys: [{ publicKey: createPublicKey(key) }], origin: ORIGIN };
const signH: HeadsSigner = (c) => signHeads(c, key);

test('verify reads checkpoints and records in pages and still locates a record a signed head contradicts', async (t) => {
  const db = await scratchStore();
  t.after(() => db.drop());
  const store = new PgAuditStore(db.app);
  const topic = uniqueName('audit-pages');
  const subject = `pages-${randomUUID()}`;
  // Ten rounds: five records on each of two chains, then a checkpoint of both heads.
  for (let i = 0; i < 10; i++) {
    for (const partition of [0, 1]) await store.append(consumed(allowedQuery(context(subject)), partition, i * 5).map((m) => ({ ...m, topic })));
    assert.ok(await store.checkpointHeads(signH, ORIGIN));
  }
  const cps = (await db.app.query<{ seq: string }>('SELECT seq FROM audit_checkpoints ORDER BY seq')).rows.map((r) => Number(r.seq));
  const clean = await store.verify(trust, 7, 3);
  assert.equal(clean.ok, true, JSON.stringify(clean.firstBad));
  assert.equal(clean.checkpoints.checked, 10);
  assert.deepEqual(
    clean.chains.map((c) => [c.partition, c.firstOffset, c.lastOffset, c.records, c.unsigned]),
    [
      [0, '0', '49', 50, 0],
      [1, '0', '49', 50, 0],
    ],
  );

  /** Rewrites one record's bytes with a hash that fits them (a superuser who knows the format), verifies, undoes it. */
  const rewritten = async (partition: number, offset: number) => {
    const where = `kafka_topic = '${topic}' AND kafka_partition = ${partition} AND kafka_offset = ${offset}`;
    const r = (
      await db.admin.query<{ payload: string; prev_hash: Buffer; hash: Buffer; status: 'event'; at: string }>(
        `SELECT payload::text AS payload, prev_hash, hash, status, to_char(ingested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
           FROM audit_events WHERE ${where}`,
      )
    ).rows[0]!;
    const payload = `${r.payload.slice(0, -1)} }`;
    const hash = recordHash(r.prev_hash, { topic, partition, offset: String(offset), status: r.status, ingestedAt: r.at }, Buffer.from(payload));
    const superuser = async (sql: string, args: unknown[]) => {
      const c = await db.admin.connect();
      try {
        await c.query('BEGIN');
        await c.query("SET LOCAL session_replication_role = 'replica'");
        await c.query(sql, args);
        await c.query('COMMIT');
      } finally {
        c.release();
      }
    };
    await superuser(`UPDATE audit_events SET payload = $1::json, hash = $2 WHERE ${where}`, [payload, hash]);
    const bad = (await store.verify(trust, 7, 3)).firstBad;
    await superuser(`UPDATE audit_events SET payload = $1::json, hash = $2 WHERE ${where}`, [r.payload, r.hash]);
    return bad;
  };
  // The newest record of chain 0, signed by the last checkpoint; a head in the middle of chain 1,
  // signed by the fourth (its successor's link breaks only after it).
  assert.deepEqual((({ reason, partition, offset, checkpoint }) => [reason, partition, offset, checkpoint])((await rewritten(0, 49))!), [
    'checkpoint_mismatch',
    0,
    '49',
    cps[9],
  ]);
  assert.deepEqual((({ reason, partition, offset, checkpoint }) => [reason, partition, offset, checkpoint])((await rewritten(1, 19))!), [
    'checkpoint_mismatch',
    1,
    '19',
    cps[3],
  ]);
  // A record no checkpoint names as a head: its successor's link is what breaks.
  assert.deepEqual((({ reason, partition, offset }) => [reason, partition, offset])((await rewritten(1, 17))!), ['link_broken', 1, '18']);
  assert.equal((await store.verify(trust, 7, 3)).ok, true, 'restored');
});
