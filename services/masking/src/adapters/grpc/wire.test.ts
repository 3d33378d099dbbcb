import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '@phigate/errors';
import { type Cell, decodeRow, encodeRow, maskingV1, STRATEGY_TO_PROTO } from '@phigate/proto';
import { seededRandom } from '@phigate/testkit';
import { defaultScanner } from '../../domain/detectors.js';
import { parseAsOf } from '../../domain/safe-harbor.js';
import { type ColumnRule, maskRows, type Strategy } from '../../domain/strategies.js';
import { openStream } from './mask-server.js';
import { decodeRequest, mayContainIdentifierBytes } from './wire.js';

const key = { id: 'k1', secret: Buffer.from('0123456789abcdef0123456789abcdef') };
const AS_OF = '2026-06-30';
const STRATEGIES = Object.keys(STRATEGY_TO_PROTO) as Strategy[];

// Values that exercise both the byte-level fast paths and the string path.
const POOL = [
  '',
  'x',
  '[REDACTED]',
  '123',
  '89',
  '90',
  '104',
  '45.5',
  '1000',
  ' 45',
  '78758',
  '03612',
  '78758-1234',
  '787581234',
  '7875',
  ' 78758',
  '1987-03-14',
  '1930-01-01',
  '2024-03-14 10:22:00+00',
  '2024-03-14T10:22:00.123Z',
  '2024-03-14T25:00:00Z',
  '2024-02-30',
  '03/14/1987',
  'Mar 14, 1920',
  '1987',
  '(555) 201-3344',
  '912-34-5678',
  'MRN-0004521',
  'jane.doe@example.org',
  'José Núñez',
  'Zoë',
  '漢字テキスト',
  '😀 emoji 😀 123',
  'Pt called from 555-201-3344; SSN 912-34-5678; f/u 2024-03-14.',
  'No known drug allergies.',
  'see www.example.org',
  'a'.repeat(300),
  `${'note '.repeat(40)}4111 1111 1111 1111`,
];

const rng = seededRandom;

function batchRequest(rows: Cell[][]): Buffer {
  return Buffer.from(maskingV1.MaskRequest.encode({ msg: { $case: 'rows', value: { rows: rows.map(encodeRow) } } }).finish());
}

function header(rules: ColumnRule[], extra: Partial<maskingV1.MaskHeader> = {}): maskingV1.MaskHeader {
  return {
    requestId: 't',
    asOf: AS_OF,
    canary: 'CANARY_MODE_OFF',
    visiblePhiKinds: [],
    columns: rules.map((r) => ({ index: r.index, name: r.name, strategy: STRATEGY_TO_PROTO[r.strategy], keepLast: r.keepLast })),
    ...extra,
  };
}

function run(rules: ColumnRule[], rows: Cell[][], extra: Partial<maskingV1.MaskHeader> = {}) {
  const stream = openStream(header(rules, extra), { key });
  const req = decodeRequest(batchRequest(rows));
  assert.equal(req.kind, 'rows');
  if (req.kind !== 'rows') throw new Error('unreachable');
  const out = stream.masker.maskBatch(req.buf, req.start, req.end);
  const res = maskingV1.MaskResponse.decode(out);
  assert.equal(res.msg?.$case, 'rows');
  return { rows: res.msg?.$case === 'rows' ? res.msg.value.rows.map(decodeRow) : [], counts: [...stream.plan.counts], stream };
}

test('the byte-level batch masker gives exactly what the string reference (maskRows) gives', () => {
  const r = rng(42);
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  for (let round = 0; round < 300; round++) {
    const width = 1 + Math.floor(r() * 14);
    const rules: ColumnRule[] = [];
    for (let i = 0; i < width; i++) {
      // Some columns unlisted (pass through), the rest with a random strategy.
      if (r() < 0.15) continue;
      rules.push({ index: i, name: `c${i}`, strategy: pick(STRATEGIES), keepLast: Math.floor(r() * 6) });
    }
    const rows: Cell[][] = [];
    for (let k = 0; k < 20; k++) rows.push(Array.from({ length: width - (r() < 0.1 ? 1 : 0) }, () => (r() < 0.1 ? null : pick(POOL))));
    const expectedCounts: number[] = [];
    const expected = maskRows(rows, rules, key, expectedCounts, { asOf: parseAsOf(AS_OF), scanner: defaultScanner });
    const got = run(rules, rows);
    assert.deepEqual(got.rows, expected, `round ${round}: ${JSON.stringify(rules)}`);
    assert.deepEqual(
      got.counts,
      rules.map((_, i) => expectedCounts[i] ?? 0),
      `round ${round} counts`,
    );
  }
});

test('rows keep their NULLs, their width, and NULL positions past the last value', () => {
  const rules: ColumnRule[] = [
    { index: 0, name: 'a', strategy: 'redact', keepLast: 0 },
    { index: 1, name: 'b', strategy: 'nullify', keepLast: 0 },
  ];
  const got = run(rules, [[null, 'x', 'keep'], ['y', null, null], []]);
  assert.deepEqual(got.rows, [[null, null, 'keep'], ['[REDACTED]', null, null], []]);
  assert.deepEqual(got.counts, [1, 1]);
  // null_indexes beyond the values (not what encodeRow produces, but valid on the wire).
  const stream = openStream(header(rules), { key });
  const raw = Buffer.from(maskingV1.MaskRequest.encode({ msg: { $case: 'rows', value: { rows: [{ values: ['v'], nullIndexes: [3] }] } } }).finish());
  const req = decodeRequest(raw);
  if (req.kind !== 'rows') throw new Error('rows expected');
  const res = maskingV1.MaskResponse.decode(stream.masker.maskBatch(req.buf, req.start, req.end));
  assert.deepEqual(res.msg?.$case === 'rows' && res.msg.value.rows[0], { values: ['[REDACTED]'], nullIndexes: [3] });
});

test('non-packed null indexes and unknown fields are read like any protobuf decoder would', () => {
  // Row { values: "a", values: "b", null_indexes: 0 (unpacked), field 9 varint 7, field 10 bytes "zz" }
  const row = Buffer.from([0x0a, 1, 0x61, 0x0a, 1, 0x62, 0x10, 0, 0x48, 7, 0x52, 2, 0x7a, 0x7a]);
  const batch = Buffer.concat([Buffer.from([0x0a, row.length]), row, Buffer.from([0x18, 5])]);
  const req = decodeRequest(Buffer.concat([Buffer.from([0x12, batch.length]), batch]));
  if (req.kind !== 'rows') throw new Error('rows expected');
  const stream = openStream(header([{ index: 1, name: 'b', strategy: 'redact', keepLast: 0 }]), { key });
  const res = maskingV1.MaskResponse.decode(stream.masker.maskBatch(req.buf, req.start, req.end));
  assert.deepEqual(res.msg?.$case === 'rows' && res.msg.value.rows.map(decodeRow), [[null, '[REDACTED]']]);
});

test('a plan with nothing to mask copies rows byte for byte', () => {
  const rows: Cell[][] = [
    ['a', null, 'José'],
    ['b', 'c', ''],
  ];
  const got = run(
    [
      { index: 0, name: 'a', strategy: 'none', keepLast: 0 },
      { index: 2, name: 'c', strategy: 'none', keepLast: 0 },
    ],
    rows,
  );
  assert.deepEqual(got.rows, rows);
});

test('malformed batches are refused with MASKING_STREAM_INVALID, never passed through', () => {
  const stream = openStream(header([{ index: 0, name: 'a', strategy: 'redact', keepLast: 0 }]), { key });
  for (const bad of [
    Buffer.from([0x0a, 5, 0x0a, 10, 0x61]), // a row whose value runs past the end
    Buffer.from([0x0a, 0x80]), // truncated varint
    Buffer.from([0x0a, 3, 0x0b, 0, 0]), // wire type 3 (groups)
    Buffer.from([0x0a, 200]), // row longer than the batch
  ]) {
    assert.throws(
      () => stream.masker.maskBatch(bad, 0, bad.length),
      (e) => isAppError(e) && e.code === 'MASKING_STREAM_INVALID',
    );
  }
  assert.equal(decodeRequest(Buffer.from([0x12, 9, 1])).kind, 'invalid');
  assert.equal(decodeRequest(Buffer.from([0x0a, 2, 0xff, 0xff])).kind, 'invalid');
  assert.equal(decodeRequest(Buffer.alloc(0)).kind, 'empty');
});

test('the header is validated: strategies, duplicates, index range, as_of, canary, key', () => {
  const col = (index: number, strategy: maskingV1.Strategy) => ({ index, name: `c${index}`, strategy, keepLast: 0 });
  const code = (h: Partial<maskingV1.MaskHeader>, deps: { key?: typeof key } = { key }) => {
    try {
      openStream({ requestId: 'r', asOf: AS_OF, canary: 'CANARY_MODE_OFF', visiblePhiKinds: [], columns: [], ...h }, deps);
      return 'ok';
    } catch (e) {
      return isAppError(e) ? e.code : String(e);
    }
  };
  assert.equal(code({ columns: [col(0, 'STRATEGY_SAFE_HARBOR_DATE'), col(1, 'STRATEGY_SAFE_HARBOR_ZIP'), col(2, 'STRATEGY_SAFE_HARBOR_AGE')] }), 'ok');
  assert.equal(code({ columns: [col(0, 'STRATEGY_UNSPECIFIED')] }), 'MASKING_STREAM_INVALID');
  assert.equal(code({ columns: [col(0, 'UNRECOGNIZED')] }), 'MASKING_STREAM_INVALID');
  assert.equal(code({ columns: [col(0, 'STRATEGY_REDACT'), col(0, 'STRATEGY_NONE')] }), 'MASKING_STREAM_INVALID');
  assert.equal(code({ columns: [col(10_001, 'STRATEGY_REDACT')] }), 'MASKING_STREAM_INVALID');
  assert.equal(code({ asOf: '', columns: [col(0, 'STRATEGY_SAFE_HARBOR_DATE')] }), 'MASKING_STREAM_INVALID');
  assert.equal(code({ asOf: '', columns: [col(0, 'STRATEGY_SAFE_HARBOR_ZIP')] }), 'ok', 'as_of is only needed for dates');
  assert.equal(code({ asOf: '2026-02-30' }), 'MASKING_STREAM_INVALID');
  assert.equal(code({ canary: 'UNRECOGNIZED' }), 'MASKING_STREAM_INVALID');
  assert.equal(code({ canary: 'CANARY_MODE_UNSPECIFIED' }), 'ok');
  assert.equal(code({ columns: [col(0, 'STRATEGY_TOKEN')] }, {}), 'MASKING_KEY_MISSING');
});

test('canary REPORT counts detector hits in unmasked columns (never values), BLOCK refuses the batch', () => {
  const rules: ColumnRule[] = [
    { index: 0, name: 'id', strategy: 'none', keepLast: 0 },
    { index: 1, name: 'ssn', strategy: 'redact', keepLast: 0 },
    { index: 2, name: 'comment', strategy: 'none', keepLast: 0 },
  ];
  const rows: Cell[][] = [
    ['1', '912-34-5678', 'call 555-201-3344 or mail a@example.org'],
    ['2', '912-34-5679', 'fine'],
    ['3', null, 'SSN 912-34-5670'],
  ];
  const report = run(rules, rows, { canary: 'CANARY_MODE_REPORT' });
  assert.deepEqual(
    report.rows.map((r) => r[2]),
    rows.map((r) => r[2]),
    'REPORT lets rows flow',
  );
  assert.deepEqual(report.stream.plan.canary?.leaks(), [
    { index: 2, name: 'comment', detector: 'ssn', count: 1 },
    { index: 2, name: 'comment', detector: 'phone', count: 1 },
    { index: 2, name: 'comment', detector: 'email', count: 1 },
  ]);
  assert.throws(
    () => run(rules, rows, { canary: 'CANARY_MODE_BLOCK' }),
    (e) => isAppError(e) && e.code === 'MASKING_LEAK_BLOCKED' && !e.message.includes('555'),
  );
  const clean = run(rules, [['1', 'x', 'fine']], { canary: 'CANARY_MODE_BLOCK' });
  assert.equal(clean.rows.length, 1);
});

test('the byte pre-check of the canary never skips what the detectors would look at', () => {
  for (const v of POOL) {
    const b = Buffer.from(v);
    if (defaultScanner.findAll(v).length > 0) assert.ok(mayContainIdentifierBytes(b, 0, b.length), v);
  }
});
