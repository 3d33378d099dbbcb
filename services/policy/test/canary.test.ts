// The leak canary in the shipped demo policies: who is watched, and which PHI kinds each identity
// sees in clear (so the canary does not flag them).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '@phigate/testkit';
import { loadPolicyDir } from '../src/adapters/files/policy-store.js';
import { evaluateAt } from '../src/domain/evaluate.js';
import { request, select } from './fixtures.js';

const NOW = new Date('2026-03-02T12:00:00Z');
const { doc } = loadPolicyDir(join(REPO_ROOT, 'deploy/local/policies'));
const PATIENTS = ['id', 'mrn', 'first_name', 'last_name', 'ssn', 'dob', 'zip', 'phone', 'email', 'notes'].map((c) => `patients.${c}`);
const plan = (groups: string[], ...columns: string[]) => {
  const d = evaluateAt(doc, 'r', request([select(...columns)], { groups }), NOW);
  return { action: d.action, canary: d.maskingPlan.canary, visible: d.maskingPlan.visiblePhiKinds };
};

test('etl: watched in report mode; names, MRNs, birth dates and ZIPs are visible, SSNs, phones, e-mails and notes are not', () => {
  assert.deepEqual(plan(['etl'], ...PATIENTS), { action: 'allow', canary: 'report', visible: ['name', 'mrn', 'dob', 'zip'] });
  assert.deepEqual(plan(['etl'], 'encounters.id', 'encounters.admitted_at', 'encounters.notes').visible, ['date']);
  assert.deepEqual(plan(['etl'], 'claims.id', 'claims.payer_member_id').visible, ['health_plan_id']);
  assert.deepEqual(plan(['etl'], 'patients.id', 'patients.ssn').visible, [], 'only what the statement reads');
});

test('the AI agent: blocked on any hit, and sees no catalogued kind in clear', () => {
  assert.deepEqual(plan(['ai-agents'], 'patients.id', 'patients.mrn', 'patients.dob', 'patients.zip', 'patients.first_name'), {
    action: 'allow',
    canary: 'block',
    visible: [],
  });
  assert.deepEqual(plan(['ai-agents'], 'claims.id', 'claims.payer_member_id', 'encounters.admitted_at').visible, []);
});

test('billing, not named in the canary section, is watched by default', () => {
  assert.deepEqual(plan(['billing'], 'claims.id', 'claims.payer_member_id', 'patients.id'), { action: 'allow', canary: 'report', visible: ['health_plan_id'] });
});
