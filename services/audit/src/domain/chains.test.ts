import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { GENESIS, type StoredCheckpoint } from './chain.js';
import { crossCheck, type StoredRecord, verifyChains } from './chains.js';
import { type ChainHead, signHeads, type Trust } from './checkpoint.js';
import { classify, type DecodedEvent, NO_COLUMNS, type RecordStatus, recordHash } from './record.js';

const key = generateKeyPairSync('ed25519').privateKey;
const trust: Trust = { keys: [{ publicKey: createPublicKey(key) }], origin: 'test-log' };
const AT = '2026-12-07T10:00:00.000000Z';
const ID = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** A tiny decoder standing in for the event contract's: JSON with id, type, requestId. */
const decode = (bytes: Buffer): DecodedEvent | undefined => {
  try {
    const j = JSON.parse(bytes.toString('utf8')) as { id?: string; type?: string; requestId?: string };
    return j.id && j.type && j.requestId ? { id: j.id, type: j.type, requestId: j.requestId, connection: '' } : undefined;
  } catch {
    return undefined;
  }
};

/** A chain of records on one partition: events, except where `statuses` says otherwise. */
function chain(n: number, topic = 't', partition = 0, statuses: Record<number, RecordStatus> = {}): StoredRecord[] {
  const out: StoredRecord[] = [];
  let prev = GENESIS;
  for (let i = 0; i < n; i++) {
    const status = statuses[i] ?? 'event';
    const bytes = Buffer.from(JSON.stringify({ id: ID(i), type: 'query.completed', requestId: `r${i}` }));
    const header = { topic, partition, offset: String(i), status, ingestedAt: AT };
    const hash = recordHash(prev, header, bytes);
    const c = classify(bytes, decode(bytes), AT);
    out.push({
      ...header,
      seq: i + 1,
      prevHash: prev,
      hash,
      payload: status === 'event' ? bytes.toString('utf8') : null,
      raw: status === 'event' ? null : bytes,
      columns: status === 'event' && c.storable ? c.columns : NO_COLUMNS,
    });
    prev = hash;
  }
  return out;
}

const headOf = (recs: StoredRecord[]): ChainHead => ({
  topic: recs[0]!.topic,
  partition: recs[0]!.partition,
  firstOffset: recs[0]!.offset,
  firstPrev: recs[0]!.prevHash,
  lastOffset: recs.at(-1)!.offset,
  lastHash: recs.at(-1)!.hash,
});
const checkpoint = (seq: number, heads: ChainHead[], k = key, time = new Date('2026-12-07T10:00:05Z')): StoredCheckpoint => ({
  seq,
  ...signHeads({ origin: 'test-log', kind: 'periodic', time, heads }, k),
});

test('classify: NUL and lone surrogates escaped anywhere, invalid UTF-8 and non-events are not storable; pairs and other escapes are', () => {
  const ev = (s: string) => Buffer.from(`{"id":"${ID(1)}","type":"query.completed","requestId":"r","x":"${s}"}`);
  const reason = (b: Buffer) => {
    const c = classify(b, decode(b), AT);
    return c.storable ? 'ok' : c.reason;
  };
  assert.equal(reason(ev('plain \\u00e9 \\ud83d\\ude00 \\\\u0000 \\"')), 'ok');
  assert.equal(reason(ev('a\\u0000')), 'TEXT_NUL');
  assert.equal(reason(ev('\\ud800')), 'TEXT_LONE_SURROGATE');
  assert.equal(reason(ev('\\ud800\\u0041')), 'TEXT_LONE_SURROGATE');
  assert.equal(reason(ev('\\udc00')), 'TEXT_LONE_SURROGATE');
  assert.equal(reason(Buffer.concat([ev('x').subarray(0, 10), Buffer.from([0xff])])), 'RAW_NOT_UTF8');
  assert.equal(reason(Buffer.from('{"not":"an event"}')), 'EVENT_INVALID');
  const t = classify(ev('x'), { ...decode(ev('x'))!, time: new Date(Date.UTC(-5000, 0, 1)) }, AT);
  assert.equal(t.storable ? 'ok' : t.reason, 'TIME_OUT_OF_RANGE');
});

test('verifyChains: intact chains verify; each kind of damage is reported with its position', async () => {
  const a = chain(6, 't', 0, { 3: 'quarantined', 4: 'duplicate' });
  const b = chain(3, 't', 1);
  const cps = [checkpoint(1, [headOf(a), headOf(b)])];
  const ok = await verifyChains([...a, ...b], cps, trust, decode);
  assert.equal(ok.ok, true, JSON.stringify(ok.firstBad));
  assert.deepEqual(
    ok.chains.map((c) => [c.partition, c.firstOffset, c.lastOffset, c.records]),
    [
      [0, '0', '5', 6],
      [1, '0', '2', 3],
    ],
  );
  const bad = async (recs: StoredRecord[], c = cps) => (await verifyChains(recs, c, trust, decode)).firstBad;
  const gap = await bad([...a.slice(0, 2), ...a.slice(3), ...b]);
  assert.deepEqual([gap?.reason, gap?.offset, gap?.offsets], ['offsets_missing', '3', { from: '2', to: '2' }]);
  const col = await bad([...a.slice(0, 1), { ...a[1]!, columns: { ...a[1]!.columns, request_id: 'x' } }, ...a.slice(2), ...b]);
  assert.deepEqual([col?.reason, col?.offset, col?.column], ['column_mismatch', '1', 'request_id']);
  const planted = await bad([...a.slice(0, 3), { ...a[3]!, columns: { ...NO_COLUMNS, type: 'query.received' } }, ...a.slice(4), ...b]);
  assert.deepEqual([planted?.reason, planted?.offset, planted?.column], ['column_mismatch', '3', 'type']);
  const order = await bad([...a.slice(0, 2), { ...a[2]!, seq: 1 }, ...a.slice(3), ...b]);
  assert.deepEqual([order?.reason, order?.offset], ['order_broken', '2']);
  const edited = await bad([...a.slice(0, 2), { ...a[2]!, ingestedAt: '2019-01-01T00:00:00.000000Z' }, ...a.slice(3), ...b]);
  assert.deepEqual([edited?.reason, edited?.offset], ['record_edited', '2']);
  const swapped = await bad([...a.slice(0, 2), { ...a[2]!, raw: Buffer.from(a[2]!.payload!), payload: null }, ...a.slice(3), ...b]);
  assert.deepEqual([swapped?.reason, swapped?.offset], ['status_invalid', '2']);
  const tail = await bad([...a.slice(0, 4), ...b]);
  assert.deepEqual([tail?.reason, tail?.partition, tail?.offsets], ['records_missing_at_end', 0, { from: '4', to: '5' }]);
  const gone = await bad(a);
  assert.deepEqual([gone?.reason, gone?.partition, gone?.offsets], ['records_missing_at_end', 1, { from: '0', to: '2' }]);
  const start = await bad([...a.slice(1), ...b]);
  assert.deepEqual([start?.reason, start?.offset], ['unanchored_start', '1']);
});

test('key rotation: a checkpoint verifies only under a trusted key valid at the time it names', async () => {
  const recs = chain(2);
  const old = generateKeyPairSync('ed25519').privateKey;
  const rotated: Trust = {
    origin: 'test-log',
    keys: [
      { publicKey: createPublicKey(old), notAfter: new Date('2026-06-01T00:00:00Z') },
      { publicKey: createPublicKey(key), notBefore: new Date('2026-06-01T00:00:00Z') },
    ],
  };
  const byOld = checkpoint(1, [headOf(recs)], old, new Date('2026-05-01T00:00:00Z'));
  const byNew = checkpoint(2, [headOf(recs)], key, new Date('2026-07-01T00:00:00Z'));
  assert.equal((await verifyChains(recs, [byOld, byNew], rotated, decode)).ok, true);
  const late = checkpoint(3, [headOf(recs)], old, new Date('2026-07-01T00:00:00Z'));
  assert.deepEqual(
    [(await verifyChains(recs, [byOld, late], rotated, decode)).firstBad?.reason, (await verifyChains(recs, [late], rotated, decode)).firstBad?.checkpoint],
    ['checkpoint_key_unknown', 3],
  );
});

test('crossCheck: committed offsets beyond a chain, or with no chain, are reported as lost', () => {
  const chains = [{ topic: 't', partition: 0, firstOffset: '0', lastOffset: '9', records: 10, unsigned: 0 }];
  assert.equal(crossCheck('t', chains, [{ partition: 0, low: '0', committed: '10' }]), undefined);
  assert.deepEqual(crossCheck('t', chains, [{ partition: 0, low: '0', committed: '12' }])?.offsets, { from: '10', to: '11' });
  assert.deepEqual(crossCheck('t', chains, [{ partition: 1, low: '5', committed: '8' }])?.offsets, { from: '5', to: '7' });
  assert.equal(crossCheck('t', chains, [{ partition: 1, low: '0', committed: '8' }], new Map([[1, '7']])), undefined);
  assert.equal(crossCheck('t', chains, [{ partition: 2, low: '0', committed: '-1' }]), undefined);
});
