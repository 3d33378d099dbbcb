import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createAnalyser } from '@phigate/sql';
import { REPO_ROOT } from '@phigate/testkit';
import { runPolicyTests } from '../src/tools/policy-tests.js';

test('the demo policies pass their policy test suite (npm run policy:test)', async () => {
  const results = runPolicyTests(await createAnalyser(), join(REPO_ROOT, 'deploy/local/policies'), join(REPO_ROOT, 'deploy/local/policies/tests'));
  const failed = results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.problems.join('; ')}`);
  assert.deepEqual(failed, []);
  const hostile = results.filter((r) => r.decision.action === 'deny');
  assert.ok(hostile.length >= 40, `the hostile corpus has ${hostile.length} statements`);
  assert.ok(
    hostile.every((r) => r.decision.ruleIds.length > 0),
    'every denial names a rule',
  );
});
