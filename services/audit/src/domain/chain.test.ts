import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { type ChainRecord, GENESIS, link, type StoredCheckpoint, verifyLog } from './chain.js';
import { decodeCheckpoint, encodeCheckpoint, signCheckpoint } from './checkpoint.js';

const { privateKey } = generateKeyPairSync('ed25519');
const trust = { keys: [{ publicKey: createPublicKey(privateKey) }], origin: 'test-log' };

function chain(payloads: string[], from = 1, start: Buffer = GENESIS): ChainRecord[] {
  let prev = start;
  return payloads.map((payload, i) => {
    const hash = link(prev, payload);
    const r = { seq: from + i, id: `id-${from + i}`, payload, prevHash: prev, hash };
    prev = hash;
    return r;
  });
}

function cp(seq: number, recs: ChainRecord[], lastSeq: number, kind: 'periodic' | 'purge' = 'periodic', key = privateKey): StoredCheckpoint {
  const last = recs.find((r) => r.seq === lastSeq)!;
  const first = recs[0]!;
  const s = signCheckpoint({ origin: 'test-log', kind, lastSeq, lastHash: last.hash, firstSeq: first.seq, firstPrev: first.prevHash, time: new Date(0) }, key);
  return { seq, keyId: s.keyId, body: s.body, signature: s.signature };
}

test('an intact chain with checkpoints verifies', async () => {
  const recs = chain(['a', 'b', 'c', 'd']);
  const r = await verifyLog(recs, [cp(1, recs, 2), cp(2, recs, 4)], trust);
  assert.equal(r.ok, true);
  assert.equal(r.checked, 4);
  assert.equal(r.checkpoints.checked, 2);
  assert.equal(r.uncheckpointed, 0);
  assert.deepEqual(r.head, { seq: 4, hash: recs[3]!.hash.toString('hex') });
});

test('edits, deletions, insertions and reordering are located', async () => {
  const recs = chain(['a', 'b', 'c', 'd', 'e']);
  const edited = await verifyLog(
    recs.map((r) => (r.seq === 3 ? { ...r, payload: 'X' } : r)),
    [],
    trust,
  );
  assert.deepEqual(edited.firstBad, { reason: 'record_edited', message: edited.firstBad!.message, seq: 3, id: 'id-3', after: { seq: 2, id: 'id-2' } });
  const deleted = await verifyLog(
    recs.filter((r) => r.seq !== 2),
    [],
    trust,
  );
  assert.equal(deleted.firstBad?.reason, 'link_broken');
  assert.equal(deleted.firstBad?.seq, 3);
  assert.deepEqual(deleted.firstBad?.after, { seq: 1, id: 'id-1' });
  // A forged record chained correctly to its predecessor: the next record no longer follows.
  const forged = { seq: 3, id: 'forged', payload: 'F', prevHash: recs[1]!.hash, hash: link(recs[1]!.hash, 'F') };
  const inserted = await verifyLog([recs[0]!, recs[1]!, forged, { ...recs[2]!, seq: 4 }], [], trust);
  assert.equal(inserted.firstBad?.reason, 'link_broken');
  assert.deepEqual(inserted.firstBad?.after, { seq: 3, id: 'forged' });
  const reordered = await verifyLog([recs[0]!, recs[2]!, recs[1]!, recs[3]!], [], trust);
  assert.equal(reordered.firstBad?.reason, 'link_broken');
  assert.equal(reordered.firstBad?.id, 'id-3');
  const firstGone = await verifyLog(recs.slice(1), [], trust);
  assert.equal(firstGone.firstBad?.reason, 'unanchored_start');
});

test('a consistently rewritten chain is caught by the signed checkpoint; deleting the end too', async () => {
  const recs = chain(['a', 'b', 'c', 'd']);
  const cps = [cp(1, recs, 3)];
  const rewritten = chain(['a', 'B', 'c', 'd']);
  const r = await verifyLog(rewritten, cps, trust);
  assert.equal(r.firstBad?.reason, 'checkpoint_mismatch');
  assert.equal(r.firstBad?.seq, 3);
  assert.equal(r.firstBad?.checkpoint, 1);
  const truncated = await verifyLog(recs.slice(0, 2), cps, trust);
  assert.equal(truncated.firstBad?.reason, 'records_missing_at_end');
  assert.equal(truncated.firstBad?.seq, 3);
  const gone = await verifyLog(
    recs.filter((x) => x.seq !== 3),
    [cp(1, recs, 3), cp(2, recs, 4)],
    trust,
  );
  assert.equal(gone.firstBad?.reason, 'link_broken');
});

test('checkpoints with a bad signature, another key or another origin are refused', async () => {
  const recs = chain(['a', 'b']);
  const good = cp(1, recs, 2);
  const tampered = { ...good, body: good.body.replace('kind periodic', 'kind purge') };
  assert.equal((await verifyLog(recs, [tampered], trust)).firstBad?.reason, 'checkpoint_signature_invalid');
  const other = generateKeyPairSync('ed25519').privateKey;
  assert.equal((await verifyLog(recs, [cp(1, recs, 2, 'periodic', other)], trust)).firstBad?.reason, 'checkpoint_key_unknown');
  assert.equal((await verifyLog(recs, [good], { ...trust, origin: 'elsewhere' })).firstBad?.reason, 'checkpoint_origin_mismatch');
  assert.equal((await verifyLog(recs, [{ ...good, body: 'nonsense' }], trust)).firstBad?.reason, 'checkpoint_malformed');
});

test('after a purge, the chain verifies from its signed anchor, and only from it', async () => {
  const all = chain(['a', 'b', 'c', 'd', 'e']);
  const early = cp(1, all, 2);
  const kept = all.slice(2);
  const anchor = cp(2, kept, 5, 'purge');
  const r = await verifyLog(kept, [early, anchor], trust);
  assert.equal(r.ok, true, JSON.stringify(r.firstBad));
  assert.deepEqual(r.first, { seq: 3, anchoredBy: 2 });
  const more = await verifyLog(kept.slice(1), [early, anchor], trust);
  assert.equal(more.firstBad?.reason, 'anchor_mismatch');
});

test('checkpoint text round-trips and is exactly what is signed', () => {
  const c = {
    origin: 'o',
    kind: 'purge' as const,
    lastSeq: 9,
    lastHash: Buffer.alloc(32, 1),
    firstSeq: 3,
    firstPrev: Buffer.alloc(32, 2),
    time: new Date('2026-01-02T03:04:05.000Z'),
  };
  const text = encodeCheckpoint(c);
  assert.equal(text.split('\n')[0], 'phigate-audit-checkpoint/v1');
  assert.deepEqual(decodeCheckpoint(text), c);
  assert.equal(decodeCheckpoint(`${text}extra`), undefined);
});
