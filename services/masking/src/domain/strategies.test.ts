import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scrub } from './detectors.js';
import { maskRows, partial, token } from './strategies.js';

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
