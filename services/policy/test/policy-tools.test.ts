// The policy test runner: `at` makes time-window cases reproducible; `approval` checks quorum and expiry.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createAnalyser } from '@phigate/sql';
import { REPO_ROOT } from '@phigate/testkit';
import { loadPolicyDir } from '../src/adapters/files/policy-store.js';
import { lintDocument } from '../src/domain/document.js';
import { runPolicyTests } from '../src/tools/policy-tests.js';

const POLICY = `version: 1
phi:
  - columns: { "*.patients.ssn": ssn }
rules:
  - id: office-hours-read
    match: { groups: [etl], statements: [select], timeWindow: { days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00", timezone: Europe/London } }
    action: allow
    reason: ETL reads in office hours
  - id: ssn-two-approvers
    match: { anyPhi: [ssn] }
    action: require_approval
    approvers: [phi-approvers]
    quorum: 2
    expiresIn: 10m
    reason: two approvers for SSNs
`;

const SUITE = `catalog:
  database: clinical
  tables:
    public.patients: [id, ssn]
at: "2026-03-02T10:00:00Z"
cases:
  - name: Monday morning (the suite's instant)
    identity: { subject: etl-pipeline, groups: [etl] }
    sql: SELECT id FROM patients
    expect: { action: allow, rule: office-hours-read }
  - name: Monday evening in London
    identity: { subject: etl-pipeline, groups: [etl] }
    at: "2026-03-02T18:30:00+01:00"
    sql: SELECT id FROM patients
    expect: { action: deny, rule: default-deny }
  - name: SSNs need two approvers within ten minutes
    identity: { subject: etl-pipeline, groups: [etl] }
    sql: SELECT ssn FROM patients
    expect: { action: require_approval, rule: ssn-two-approvers, approval: { quorum: 2, expiresInSec: 600 } }
  - name: a wrong expectation is reported
    identity: { subject: etl-pipeline, groups: [etl] }
    sql: SELECT ssn FROM patients
    expect: { action: require_approval, approval: { quorum: 1 } }
`;

test('policy test cases are judged at the case, suite or given instant', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'phigate-policy-'));
  try {
    mkdirSync(join(dir, 'tests'));
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    writeFileSync(join(dir, 'tests', 'suite.yaml'), SUITE);
    const analyser = await createAnalyser();
    const results = runPolicyTests(analyser, dir, join(dir, 'tests'));
    assert.deepEqual(
      results.map((r) => [r.name, r.ok, r.problems]),
      [
        ["Monday morning (the suite's instant)", true, []],
        ['Monday evening in London', true, []],
        ['SSNs need two approvers within ten minutes', true, []],
        ['a wrong expectation is reported', false, ['approval quorum is 2, expected 1']],
      ],
    );
    // Without a suite instant, the caller's clock applies.
    writeFileSync(join(dir, 'tests', 'suite.yaml'), SUITE.replace(/^at: .*$/m, ''));
    const saturday = runPolicyTests(analyser, dir, join(dir, 'tests'), new Date('2026-03-07T10:00:00Z'));
    assert.deepEqual(saturday[0]?.problems, ['action deny, expected allow (rules default-deny)', 'rule office-hours-read not among default-deny']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the shipped policies have no lint warnings (every PHI kind they use is catalogued)', () => {
  assert.deepEqual(lintDocument(loadPolicyDir(join(REPO_ROOT, 'deploy/local/policies')).doc), []);
});
