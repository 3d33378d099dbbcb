// phigate-test: stack
// Policy replay on the demo world: statements sent through the gateway's HTTP door as the ETL
// identity are recorded by the audit store; `npm run policy:replay` over them against a copy of
// the live policy directory reports nothing, and against the copy with first_name masked for ETL
// and claims denied reports exactly the statements that change, and how.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { demoToken, eventually, need, REPO_ROOT, stackEnv, uniqueName } from '@phigate/testkit';
import pg from 'pg';
import type { ReplaySummary } from '../src/domain/replay.js';

const LIVE = join(REPO_ROOT, 'deploy/local/policies');
const TOOL = join(REPO_ROOT, 'services/policy/dist/src/tools/policy-replay.js');

function copyPolicies(): string {
  const dir = mkdtempSync(join(tmpdir(), 'phigate-replay-'));
  for (const f of readdirSync(LIVE).filter((n) => /\.ya?ml$/.test(n))) copyFileSync(join(LIVE, f), join(dir, f));
  return dir;
}

/** The copy with `etl-masks` masking first_name, and a deny rule for claims. */
function tightened(): string {
  const dir = copyPolicies();
  const file = join(dir, '10-clinical.yaml');
  const before = readFileSync(file, 'utf8');
  const after = before.replace(/( {2}- id: etl-masks\n {4}match: \{ groups: \[etl\] \}\n)/, '$1    columns:\n      "*.patients.first_name": redact\n');
  assert.notEqual(after, before, 'etl-masks is where this test expects it');
  writeFileSync(file, after);
  writeFileSync(
    join(dir, '90-candidate.yaml'),
    'version: 1\nrules:\n  - id: etl-no-claims\n    match: { groups: [etl], anyTable: ["*.claims"] }\n    action: deny\n    reason: claims are closed to ETL\n',
  );
  return dir;
}

function runReplay(dir: string, args: string[]): { status: number | null; summary: ReplaySummary } {
  const r = spawnSync(process.execPath, [TOOL, '--policies', dir, '--json', '--examples', '100000', ...args], {
    env: { ...process.env, ...stackEnv() },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(r.stderr, '', 'the tool reports no error');
  return { status: r.status, summary: JSON.parse(r.stdout) as ReplaySummary };
}

test('replay reports exactly the recorded ETL statements a tightened policy changes, and nothing against the live policy', { timeout: 300_000 }, async (t) => {
  const token = await demoToken('etl-pipeline');
  const marker = uniqueName('replay');
  const since = new Date(Date.now() - 1000);
  const statements = {
    lastName: 'SELECT id, last_name FROM patients WHERE id = 1',
    firstName: 'SELECT id, first_name FROM patients WHERE id = 2',
    claims: 'SELECT id, amount FROM claims WHERE id = 1',
    count: 'SELECT count(*) FROM encounters',
    star: 'SELECT * FROM patients WHERE id = 3',
    drop: 'DROP TABLE claims',
  };
  const sent = {} as Record<keyof typeof statements, string>;
  for (const [name, sql] of Object.entries(statements) as [keyof typeof statements, string][]) {
    const res = await fetch(`${need('GATEWAY_URL')}/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ connection: 'clinical-pg', sql: `/* ${marker} */ ${sql}` }),
    });
    const body = (await res.json()) as { requestId: string };
    assert.equal(res.status, name === 'drop' ? 403 : 200, `${name}: ${JSON.stringify(body)}`);
    sent[name] = body.requestId;
  }
  const until = new Date(Date.now() + 1000);

  // The audit store indexes records behind its writers: wait until every decision is searchable.
  const store = new pg.Pool({ connectionString: need('AUDIT_DATABASE_URL'), max: 1 });
  t.after(() => store.end());
  const ids = Object.values(sent);
  await eventually(
    'every statement recorded and indexed',
    async () => {
      const { rows } = await store.query(
        `SELECT count(DISTINCT request_id)::int AS n FROM audit_search WHERE request_id = ANY($1) AND type IN ('query.served', 'policy.decided')`,
        [ids],
      );
      return rows[0].n === ids.length ? true : undefined;
    },
    // Generous: under load from other suites the store's indexer can be a minute behind.
    120_000,
    250,
  );

  const window = ['--since', since.toISOString(), '--until', until.toISOString(), '--identity', 'etl-pipeline'];
  const mine = (s: ReplaySummary) => new Map(s.examples.filter((x) => ids.includes(x.requestId)).map((x) => [x.requestId, x]));

  const same = copyPolicies();
  t.after(() => rmSync(same, { recursive: true, force: true }));
  const unchanged = runReplay(same, window);
  assert.equal(unchanged.status, 0);
  assert.ok(unchanged.summary.statements >= ids.length, 'every statement sent was replayed');
  assert.equal(mine(unchanged.summary).size, 0, 'an unchanged copy of the live policy changes none of them');
  // The copy has the live revision: nothing recorded under it in the window decides otherwise.
  assert.equal(unchanged.summary.changedByRecordedRevision[unchanged.summary.candidateRevision] ?? 0, 0);
  assert.ok((unchanged.summary.recordedRevisions[unchanged.summary.candidateRevision] ?? 0) >= ids.length);

  const candidate = tightened();
  t.after(() => rmSync(candidate, { recursive: true, force: true }));
  const changed = runReplay(candidate, window);
  assert.equal(changed.status, 0, 'without --fail-on-changes, changes do not fail the run');
  const found = mine(changed.summary);
  assert.deepEqual([...found.keys()].sort(), [sent.firstName, sent.claims, sent.star].sort(), 'exactly the statements that change');

  const claims = found.get(sent.claims)!;
  assert.equal(claims.change.transition, 'allow→deny');
  assert.deepEqual(claims.change.candidateRules, ['etl-no-claims']);
  for (const name of ['firstName', 'star'] as const) {
    const x = found.get(sent[name])!;
    assert.equal(x.change.transition, 'masking', name);
    assert.deepEqual(
      x.change.masking.find((m) => m.column === 'public.patients.first_name'),
      { column: 'public.patients.first_name', from: 'none', to: 'redact' },
      name,
    );
    assert.ok(!x.change.masking.some((m) => m.column === 'public.patients.last_name'), `${name}: last_name is unchanged`);
  }
  // Literals redacted in the examples; the statement shape stays readable.
  assert.equal(found.get(sent.firstName)!.statement.includes('= 2'), false);
  assert.match(found.get(sent.firstName)!.statement, /first_name FROM patients WHERE id = \?/);
  assert.ok((changed.summary.rules['etl-no-claims'] ?? 0) >= 1);

  // The CI gate (--fail-on-changes N): exit 1 when more than N outcomes change.
  assert.equal(runReplay(candidate, [...window, '--fail-on-changes', '2']).status, 1);
  assert.equal(runReplay(candidate, [...window, '--fail-on-changes', String(changed.summary.changed)]).status, 0);
});
