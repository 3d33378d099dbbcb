import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '@phigate/testkit';
import { Canary, DEFAULT_CANARY_SAMPLING, DETECTOR_PHI_KINDS, ignoredDetectors } from './canary.js';
import { DETECTOR_NAMES, defaultScanner } from './detectors.js';

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

test('every detector maps onto PHI kinds of the policy catalog (the published policy schema)', () => {
  const schema = JSON.parse(readFileSync(join(REPO_ROOT, 'docs/policy.schema.json'), 'utf8')) as { $defs: { PhiKind: { enum: string[] } } };
  const catalog = new Set(schema.$defs.PhiKind.enum);
  assert.deepEqual(Object.keys(DETECTOR_PHI_KINDS).sort(), [...DETECTOR_NAMES].sort());
  for (const [detector, kinds] of Object.entries(DETECTOR_PHI_KINDS)) {
    assert.ok(kinds.length > 0, detector);
    for (const k of kinds) assert.ok(catalog.has(k), `${detector} → ${k} is not a catalog kind`);
  }
});

test('the canary ignores the PHI kinds the plan leaves visible and flags the others', () => {
  // What etl-pipeline sees in clear: names, birth dates, ZIPs, MRNs. An SSN is not among them.
  const c = new Canary(defaultScanner, DEFAULT_CANARY_SAMPLING, ['name', 'dob', 'zip', 'mrn']);
  assert.equal(c.inspect(0, 'dob', '1984-03-12'), 0, 'a birth date in clear');
  assert.equal(c.inspect(1, 'mrn', 'MRN-0012345'), 0, 'an MRN in clear');
  assert.equal(c.inspect(2, 'comment', 'MRN-0012345 born 1984-03-12, SSN 912-34-5678'), 1, 'only the SSN counts');
  assert.deepEqual(c.leaks(), [{ index: 2, name: 'comment', detector: 'ssn', count: 1 }]);
  // Without visible kinds, the same values are all flagged; unknown kinds silence nothing.
  for (const visible of [[], ['free_text', 'no_such_kind']]) {
    const all = new Canary(defaultScanner, DEFAULT_CANARY_SAMPLING, visible);
    assert.equal(all.inspect(2, 'comment', 'MRN-0012345 born 1984-03-12, SSN 912-34-5678'), 3);
  }
  assert.equal(ignoredDetectors([]), undefined);
  assert.equal(ignoredDetectors(['name', 'free_text']), undefined, 'kinds no detector finds silence nothing');
  const ignore = ignoredDetectors(['dob', 'health_plan_id'])!;
  assert.deepEqual(
    DETECTOR_NAMES.filter((_, i) => ignore[i] === 1),
    ['health_plan', 'date'],
  );
});
