// phigate-test: stack
import assert from 'node:assert/strict';
import { createPublicKey, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { uniqueName } from '@phigate/testkit';
import { type HeadsSigner, PgAuditStore } from '../src/adapters/store/pg-store.js';
import { signHeads, type Trust } from '../src/domain/checkpoint.js';
import { allowedQuery, consumed, context, scratchStore, stackCheckpointKey } from './helpers.js';

// The lean append chains a batch before sending it, to the head the writer last committed; the
// store takes it only on that head. Two writers of one chain (a rebalance) must never fork it.

const ORIGIN = 'phigate-audit';
const { key } = stackCheckpointKey();
const trust: Trust = { keys: [{ publicKey: createPublicKey(key) }], origin: ORIGIN };
const signH: HeadsSigner = (c) => signHeads(c, key);

test('two writers of one chain, one after the other and at once: each batch is chained to the head actually stored, replays are skipped, the chain verifies', async (t) => {
  const db = await scratchStore();
  t.after(() => db.drop());
  const a = new PgAuditStore(db.app);
  const b = new PgAuditStore(db.app);
  const topic = uniqueName('audit-append');
  const subject = `append-${randomUUID()}`;
  const batch = (from: number) => consumed(allowedQuery(context(subject)), 0, from).map((m) => ({ ...m, topic }));

  assert.equal((await a.append(batch(0))).inserted, 5);
  // b has never written this chain; a's next batch is chained to a head that is no longer the head.
  assert.equal((await b.append(batch(5))).inserted, 5);
  assert.equal((await a.append(batch(10))).inserted, 5);
  // A replay (the same offsets again, as after a rebalance): nothing stored twice.
  const again = batch(10);
  assert.deepEqual(await b.append(again), { inserted: 0, duplicates: 0, replayed: 5, quarantined: [] });
  // Both at once with the same batch: one stores it, the other finds it stored.
  const both = batch(15);
  const [x, y] = await Promise.all([a.append(both), b.append(both)]);
  assert.deepEqual([x.inserted + y.inserted, x.replayed + y.replayed], [5, 5]);
  // An event id already stored, at a new offset: kept as a duplicate (the careful way).
  const copy = both.map((m, i) => ({ ...m, offset: String(20 + i) }));
  assert.deepEqual([(await a.append(copy)).duplicates], [5]);
  assert.equal((await b.append(batch(25))).inserted, 5);

  assert.ok(await a.checkpointHeads(signH, ORIGIN));
  const report = await a.verify(trust);
  assert.equal(report.ok, true, JSON.stringify(report.firstBad));
  assert.deepEqual(
    report.chains.map((c) => [c.firstOffset, c.lastOffset, c.records]),
    [['0', '29', 30]],
  );
});
