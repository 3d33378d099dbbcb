import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Canary } from './canary.js';
import { defaultScanner } from './detectors.js';

test('the canary samples every row of the first N, then every k-th (bounded cost)', () => {
  const c = new Canary(defaultScanner, { firstRows: 3, every: 10 });
  const sampled = Array.from({ length: 40 }, (_, i) => i).filter((i) => c.samples(i));
  assert.deepEqual(sampled, [0, 1, 2, 3, 13, 23, 33]);
  const all = new Canary(defaultScanner, { firstRows: 0, every: 1 });
  assert.ok(all.samples(0) && all.samples(12345));
});

test('the canary counts hits per column and detector, and keeps no values', () => {
  const c = new Canary(defaultScanner);
  assert.equal(c.inspect(3, 'comment', 'call 555-201-3344, SSN 912-34-5678'), 2);
  assert.equal(c.inspect(3, 'comment', 'and 415-555-0123'), 1);
  assert.equal(c.inspect(1, 'id', '12345'), 0);
  const leaks = c.leaks();
  assert.deepEqual(leaks, [
    { index: 3, name: 'comment', detector: 'ssn', count: 1 },
    { index: 3, name: 'comment', detector: 'phone', count: 2 },
  ]);
  assert.ok(!JSON.stringify(leaks).includes('555'));
});
