// 100,000 mutated statements through analysis and evaluation: no crash, and nothing allowed
// unless it parses to something an allow rule permits.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createAnalyser } from '@phigate/sql';
import { REPO_ROOT, seededRandom } from '@phigate/testkit';
import { parse } from 'yaml';
import { loadPolicyDir } from '../src/adapters/files/policy-store.js';
import { catalogOf, decide } from '../src/tools/policy-tests.js';

const rng = seededRandom;

const TOKENS = [
  ';',
  "'",
  '"',
  '--',
  '/*',
  '*/',
  '(',
  ')',
  ',',
  ' OR 1=1',
  ' DROP TABLE patients',
  '; DELETE FROM claims',
  ' WITH x AS (',
  ' UNION SELECT ssn FROM patients',
  '$$',
  '\\',
  '\n',
  " pg_read_file('/etc/passwd')",
  ' INTO stolen',
  ' RETURNING *',
  ' WHERE ',
  ' ssn ',
  ' * ',
  ' LIMIT 1',
  ' COPY ',
  ' SET ROLE postgres',
  "E'\\x27'",
  '::text',
  ' ; SELECT 1',
];

test('100,000 mutated statements: no crash, and nothing allowed unless an allow rule permits what it parses to', async () => {
  const analyser = await createAnalyser();
  const policy = loadPolicyDir(join(REPO_ROOT, 'deploy/local/policies'));
  const suite = parse(readFileSync(join(REPO_ROOT, 'deploy/local/policies/tests/demo.yaml'), 'utf8')) as {
    catalog: Parameters<typeof catalogOf>[0];
    cases: Array<{ sql: string; identity: { subject: string; groups: string[] } }>;
  };
  const catalog = catalogOf({ ...suite.catalog, defaultSchema: 'public' });
  const seeds = suite.cases.map((c) => c.sql);
  const identities = [...new Map(suite.cases.map((c) => [c.identity.subject, c.identity])).values()];
  const allowRules = new Set(policy.doc.rules.filter((r) => r.action === 'allow').map((r) => r.id));
  const allowedKinds = new Set(policy.doc.rules.filter((r) => r.action === 'allow').flatMap((r) => r.match.statements ?? []));
  const blockedFunctions = new Set(policy.doc.rules.filter((r) => r.action === 'deny').flatMap((r) => r.match.functions ?? []));
  const random = rng(20261129);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  let allowed = 0;
  for (let i = 0; i < 100_000; i++) {
    let sql = pick(seeds);
    const mutations = 1 + Math.floor(random() * 3);
    for (let m = 0; m < mutations; m++) {
      const at = Math.floor(random() * (sql.length + 1));
      const op = random();
      if (op < 0.3) sql = sql.slice(0, at) + pick(TOKENS) + sql.slice(at);
      else if (op < 0.5) sql = sql.slice(0, at) + sql.slice(at + 1 + Math.floor(random() * 8));
      else if (op < 0.65) sql = `${sql.slice(0, at)}${sql.slice(at).toUpperCase()}`;
      else if (op < 0.8) sql = `${sql}; ${pick(seeds)}`;
      else sql = sql.slice(0, at) + String.fromCharCode(32 + Math.floor(random() * 95)) + sql.slice(at);
    }
    const c = {
      name: `fuzz ${i}`,
      identity: pick(identities),
      connection: 'clinical-pg',
      dialect: 'postgresql' as const,
      sql,
      expect: { action: 'allow' as const },
    };
    let result: ReturnType<typeof decide>;
    try {
      result = decide(analyser, policy, catalog, 'public', c);
    } catch (err) {
      assert.fail(`case ${i} crashed (${(err as Error).message}): ${JSON.stringify(sql)}`);
    }
    const { analysis, decision } = result;
    if (decision.action === 'deny') {
      assert.ok(decision.ruleIds.length > 0, `case ${i}: a denial without a rule`);
      continue;
    }
    allowed++;
    const why = `case ${i} was ${decision.action}: ${JSON.stringify(sql)}`;
    assert.ok(analysis.understood, why);
    assert.ok(
      decision.ruleIds.some((r) => allowRules.has(r)),
      why,
    );
    for (const s of analysis.statements) {
      assert.ok(allowedKinds.has(s.kind), `${why} (kind ${s.kind})`);
      assert.ok(!s.functions.some((f) => blockedFunctions.has(f.split('.').at(-1)!)), `${why} (functions ${s.functions})`);
      if (s.kind === 'update' || s.kind === 'delete') assert.ok(s.hasWhere && !s.whereTriviallyTrue, `${why} (unbounded write)`);
    }
  }
  assert.ok(allowed > 1000, `the fuzzer should also reach allowed statements (reached ${allowed})`);
});
