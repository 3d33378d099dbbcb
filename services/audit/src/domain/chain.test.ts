import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GENESIS, link, verifyChain } from './chain.js';

function chain(payloads: string[]) {
  let prev: Buffer = GENESIS;
  return payloads.map((payload, i) => {
    const hash = link(prev, payload);
    const r = { seq: i + 1, payload, prevHash: prev, hash };
    prev = hash;
    return r;
  });
}

test('an intact chain verifies; edits, deletions and reordering are located', () => {
  const recs = chain(['a', 'b', 'c', 'd']);
  assert.deepEqual(verifyChain(recs), { ok: true, checked: 4 });
  const edited = recs.map((r) => (r.seq === 3 ? { ...r, payload: 'X' } : r));
  assert.deepEqual(verifyChain(edited), { ok: false, checked: 2, firstBad: 3 });
  assert.equal(verifyChain(recs.filter((r) => r.seq !== 2)).firstBad, 3);
  assert.equal(verifyChain([recs[0]!, recs[2]!, recs[1]!, recs[3]!]).firstBad, 3);
});
