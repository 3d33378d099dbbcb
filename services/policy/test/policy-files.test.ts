import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '@phigate/testkit';
import { loadPolicyDir } from '../src/adapters/files/policy-store.js';

test('the shipped demo policies load and validate', () => {
  const p = loadPolicyDir(join(REPO_ROOT, 'deploy/local/policies'));
  assert.match(p.revision, /^[0-9a-f]{16}$/);
  assert.ok(p.doc.rules.some((r) => r.id === 'block-ddl'));
});
