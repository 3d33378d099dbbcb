// phigate-test: stack
import assert from 'node:assert/strict';
import { createPublicKey, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { uniqueName } from '@phigate/testkit';
import { type HeadsSigner, PgAuditStore, type Signer } from '../src/adapters/store/pg-store.js';
import { signCheckpoint, signHeads } from '../src/domain/checkpoint.js';
import { allowedQuery, consumed, context, legacyAppend, scratchStore, stackCheckpointKey } from './helpers.js';

const ORIGIN = 'phigate-audit';

test('format 1 (before the partition chains): retention purge deletes a whole old prefix behind a signed anchor; the rest still verifies; the floor and the anchor are enforced', async (t) => {
  const db = await scratchStore();
  t.after(() => db.drop());
  const { key } = stackCheckpointKey();
  const trust = { keys: [{ publicKey: createPublicKey(key) }], origin: ORIGIN };
  const sign: Signer = (c) => signCheckpoint(c, key);
  const store = new PgAuditStore(db.app);
  const subject = `purge-${randomUUID()}`;

  await legacyAppend(db.app, consumed([...allowedQuery(context(subject)), ...allowedQuery(context(subject))]));
  await store.checkpoint(sign, ORIGIN);
  // The cutoff, in the database's clock (ingested_at is the database's time).
  const cutoff = (await db.admin.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0]!.t;
  await db.admin.query('SELECT pg_sleep(0.01)');
  await legacyAppend(db.app, consumed(allowedQuery(context(subject)), 0, 10));
  assert.equal(await store.indexSearch(), 15);

  // The default floor (six years) refuses a cutoff younger than it: nothing is deleted.
  await assert.rejects(store.purge(cutoff, sign, ORIGIN), (err: { code?: string }) => err.code === 'AUDIT_PURGE_REFUSED');
  assert.equal((await db.app.query('SELECT count(*)::int AS n FROM audit_events')).rows[0].n, 15);
  // Without a signed anchor, the function refuses too (called directly by the app role).
  await db.admin.query('UPDATE audit_settings SET min_retention_days = 0');
  await assert.rejects(db.app.query('SELECT audit_purge(11, $1)', [cutoff.toISOString()]), (err: { code?: string }) => err.code === '55000');
  // Nor may a purge reach records younger than the cutoff.
  await assert.rejects(db.app.query('SELECT audit_purge(15, $1)', [cutoff.toISOString()]), (err: { code?: string }) => err.code === '42501');

  const r = await store.purge(cutoff, sign, ORIGIN);
  assert.deepEqual([r.deleted, r.keptFrom], [10, 11]);
  // The purged records' search rows go with them (verify would report them as extra).
  assert.equal((await db.app.query('SELECT count(*)::int AS n FROM audit_search')).rows[0].n, 5);
  const report = await store.verify(trust);
  assert.equal(report.ok, true, JSON.stringify(report.firstBad));
  assert.deepEqual(report.first, { seq: 11, anchoredBy: r.anchor });
  assert.equal(report.checked, 5);
  assert.equal(report.checkpoints.checked, 2, 'the older checkpoint stays and still verifies its signature');

  // Appends continue the chain after a purge; a second purge with nothing old is a no-op.
  await legacyAppend(db.app, consumed(allowedQuery(context(subject)), 0, 20));
  assert.equal((await store.verify(trust)).ok, true);
  assert.deepEqual(await store.purge(cutoff, sign, ORIGIN), { deleted: 0 });

  // Deleting the anchored first record by hand (superuser, triggers off) is caught.
  const c = await db.admin.connect();
  try {
    await c.query('BEGIN');
    await c.query("SET LOCAL session_replication_role = 'replica'");
    await c.query('DELETE FROM audit_events WHERE seq = 11');
    await c.query('COMMIT');
  } finally {
    c.release();
  }
  const bad = await store.verify(trust);
  assert.deepEqual([bad.firstBad?.reason, bad.firstBad?.seq, bad.firstBad?.checkpoint], ['anchor_mismatch', 12, r.anchor]);
});

test('partition chains: the purge deletes the old prefix of each chain behind one signed anchor; the chains still verify; the floor, the anchor and younger records are enforced', async (t) => {
  const db = await scratchStore();
  t.after(() => db.drop());
  const { key } = stackCheckpointKey();
  const trust = { keys: [{ publicKey: createPublicKey(key) }], origin: ORIGIN };
  const signH: HeadsSigner = (c) => signHeads(c, key);
  const store = new PgAuditStore(db.app);
  const topic = uniqueName('audit-purge');
  const subject = `purge-${randomUUID()}`;
  const raws = (n: number) => Array.from({ length: n / 5 }, () => allowedQuery(context(subject))).flat();
  await store.append(consumed(raws(10), 0, 0).map((m) => ({ ...m, topic })));
  await store.checkpointHeads(signH, ORIGIN);
  const cutoff = new Date();
  await new Promise((r) => setTimeout(r, 5));
  await store.append(consumed(raws(5), 0, 10).map((m) => ({ ...m, topic })));
  assert.equal(await store.indexSearch(), 15);

  await assert.rejects(store.purgeChains(cutoff, signH, ORIGIN), (err: { code?: string }) => err.code === 'AUDIT_PURGE_REFUSED');
  await db.admin.query('UPDATE audit_settings SET min_retention_days = 0');
  await assert.rejects(
    db.app.query('SELECT audit_purge_chain($1, 0, 10, $2)', [topic, cutoff.toISOString()]),
    (err: { code?: string }) => err.code === '55000',
  );
  await assert.rejects(
    db.app.query('SELECT audit_purge_chain($1, 0, 14, $2)', [topic, cutoff.toISOString()]),
    (err: { code?: string }) => err.code === '42501',
  );

  const r = await store.purgeChains(cutoff, signH, ORIGIN);
  assert.deepEqual([r.deleted, r.chains], [10, 1]);
  assert.equal((await db.app.query('SELECT count(*)::int AS n FROM audit_search')).rows[0].n, 5);
  const report = await store.verify(trust);
  assert.equal(report.ok, true, JSON.stringify(report.firstBad));
  assert.deepEqual(
    report.chains.map((c) => [c.firstOffset, c.lastOffset, c.anchoredBy]),
    [['10', '14', r.anchor]],
  );
  // Appends go on after the purge; deleting the anchored first record by hand is caught.
  await store.append(consumed(raws(5), 0, 15).map((m) => ({ ...m, topic })));
  assert.equal((await store.verify(trust)).ok, true);
  const c = await db.admin.connect();
  try {
    await c.query('BEGIN');
    await c.query("SET LOCAL session_replication_role = 'replica'");
    await c.query('DELETE FROM audit_events WHERE kafka_topic = $1 AND kafka_offset = 10', [topic]);
    await c.query('COMMIT');
  } finally {
    c.release();
  }
  const bad = await store.verify(trust);
  assert.deepEqual([bad.firstBad?.reason, bad.firstBad?.offset, bad.firstBad?.checkpoint], ['anchor_mismatch', '11', r.anchor]);
});
