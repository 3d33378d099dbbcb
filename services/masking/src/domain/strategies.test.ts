import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scrub } from './detectors.js';
import { parseAsOf } from './safe-harbor.js';
import { compileMasker, maskCell, maskRows, partial, type Strategy, token } from './strategies.js';

const key = { id: 'k1', secret: Buffer.from('0123456789abcdef0123456789abcdef') };

test('partial keeps the last characters and the shape', () => {
  assert.equal(partial('(555) 201-3344', 4), '(***) ***-3344');
  assert.equal(partial('123-45-6789', 4), '***-**-6789');
  assert.equal(partial('ab', 4), 'ab');
});

test('tokens are deterministic per key and never contain the input', () => {
  assert.equal(token('MRN-0000001', key), token('MRN-0000001', key));
  assert.notEqual(token('MRN-0000001', key), token('MRN-0000002', key));
  assert.notEqual(token('MRN-0000001', key), token('MRN-0000001', { id: 'k2', secret: Buffer.from('x'.repeat(32)) }));
  assert.ok(!token('MRN-0000001', key).includes('0000001'));
});

test('scrub replaces planted identifiers in free text', () => {
  const r = scrub('Pt called from 555-201-3344 re: refill; SSN 912-34-5678; f/u 2024-03-14; mail jane.doe12@example.org; MRN-0004521');
  assert.equal(r.text, 'Pt called from [PHONE] re: refill; SSN [SSN]; f/u [DATE]; mail [EMAIL]; [MRN]');
  assert.equal(r.replaced, 5);
  assert.equal(scrub('no identifiers here').replaced, 0);
});

test('maskRows applies each rule and counts changed values', () => {
  const counts: number[] = [];
  const out = maskRows(
    [
      ['1', '123-45-6789', 'a@b.org', null],
      ['2', null, 'c@d.org', 'x'],
    ],
    [
      { index: 1, name: 'ssn', strategy: 'redact', keepLast: 0 },
      { index: 2, name: 'email', strategy: 'token', keepLast: 0 },
      { index: 3, name: 'notes', strategy: 'nullify', keepLast: 0 },
    ],
    key,
    counts,
  );
  assert.deepEqual(out[0]?.slice(0, 2), ['1', '[REDACTED]']);
  assert.equal(out[1]?.[1], null, 'NULL stays NULL under redact');
  assert.equal(out[1]?.[3], null);
  assert.deepEqual(counts, [1, 2, 1]);
});

test('partial masks letters and digits of any script and never splits a surrogate pair', () => {
  assert.equal(partial('José Núñez', 3), '**** **ñez');
  assert.equal(partial('漢字テキスト', 2), '****スト');
  assert.equal(partial('a😀b', 1), '***b', 'astral characters are masked too');
  assert.equal(partial('ab😀', 1), '****', 'the cut falls inside the pair: the whole pair is masked');
  assert.equal(partial('x'.repeat(300), 0), '*'.repeat(300));
});

test('every strategy compiles, and each one fails closed on what it cannot handle', () => {
  const asOf = parseAsOf('2026-06-30');
  const m = (strategy: Strategy, v: string, keepLast = 4) => compileMasker({ index: 0, name: 'c', strategy, keepLast }, { key, asOf })?.(v);
  assert.equal(compileMasker({ index: 0, name: 'c', strategy: 'none', keepLast: 0 }, {}), undefined, 'none passes through');
  assert.equal(m('redact', 'x'), '[REDACTED]');
  assert.equal(m('nullify', 'x'), null);
  assert.equal(m('partial', '123-45-6789'), '***-**-6789');
  assert.equal(m('token', 'MRN-0000001'), token('MRN-0000001', key));
  assert.equal(m('scrub', 'SSN 912-34-5678'), 'SSN [SSN]');
  assert.equal(m('safe_harbor_date', '1987-03-14'), '1987');
  assert.equal(m('safe_harbor_date', 'soon'), '[REDACTED]');
  assert.equal(m('safe_harbor_zip', '78758'), '787**');
  assert.equal(m('safe_harbor_zip', 'n/a'), '[REDACTED]');
  assert.equal(m('safe_harbor_age', '93'), '90+');
  assert.equal(m('safe_harbor_age', 'old'), '[REDACTED]');
  assert.throws(() => compileMasker({ index: 0, name: 'c', strategy: 'token', keepLast: 0 }, {}), /requires a key/);
  assert.throws(() => compileMasker({ index: 0, name: 'c', strategy: 'safe_harbor_date', keepLast: 0 }, {}), /as_of/);
  assert.throws(() => compileMasker({ index: 0, name: 'c', strategy: 'shuffle' as Strategy, keepLast: 0 }, {}), /not implemented/);
});

test('maskCell keeps NULL as NULL and reports whether the value changed', () => {
  assert.deepEqual(maskCell(null, { index: 0, name: 'c', strategy: 'redact', keepLast: 0 }, undefined), { cell: null, changed: false });
  assert.deepEqual(maskCell('45', { index: 0, name: 'c', strategy: 'safe_harbor_age', keepLast: 0 }, undefined), { cell: '45', changed: false });
  assert.deepEqual(maskCell('95', { index: 0, name: 'c', strategy: 'safe_harbor_age', keepLast: 0 }, undefined), { cell: '90+', changed: true });
});
