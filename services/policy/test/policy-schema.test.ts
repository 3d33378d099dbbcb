// docs/policy.schema.json is generated from the zod schema (src/tools/write-schema.ts): it must not drift.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '@phigate/testkit';
import { policyJsonSchema, SCHEMA_PATH } from '../src/tools/policy-schema.js';

test('the published JSON Schema matches the policy document schema', () => {
  const committed = JSON.parse(readFileSync(join(REPO_ROOT, SCHEMA_PATH), 'utf8'));
  assert.deepEqual(committed, policyJsonSchema(), `${SCHEMA_PATH} is stale: run node services/policy/dist/src/tools/write-schema.js`);
});

test('the schema describes what authors write: the PHI catalog, kinds, time windows, approvals', () => {
  const s = policyJsonSchema() as { properties: Record<string, unknown>; $defs: Record<string, { properties?: Record<string, unknown>; enum?: string[] }> };
  assert.deepEqual(Object.keys(s.properties), ['version', 'phi', 'rules', 'masking', 'rowLimits', 'canary']);
  assert.ok(s.$defs.PhiKind?.enum?.includes('health_plan_id'));
  assert.ok(s.$defs.Match?.properties?.anyPhi && s.$defs.Match.properties.timeWindow);
  assert.ok(s.$defs.Rule?.properties?.quorum && s.$defs.Rule.properties.expiresIn);
  assert.ok(s.$defs.MaskEntry?.properties?.phi);
});

test('every shipped policy file points editors at the schema', () => {
  const dir = join(REPO_ROOT, 'deploy/local/policies');
  for (const f of readdirSync(dir).filter((x) => /\.ya?ml$/.test(x) && !x.startsWith('99-test-'))) {
    assert.match(readFileSync(join(dir, f), 'utf8'), /^# yaml-language-server: \$schema=\.\.\/\.\.\/\.\.\/docs\/policy\.schema\.json$/m, f);
  }
});
