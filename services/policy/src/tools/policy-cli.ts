// `npm run policy:test` and `npm run -s policy:explain -- --as etl-pipeline --groups etl "SQL"`.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAnalyser } from '@phigate/sql';
import { parse } from 'yaml';
import { loadPolicyDir } from '../adapters/files/policy-store.js';
import { lintDocument } from '../domain/document.js';
import { phiKindsOf } from '../domain/evaluate.js';
import { catalogOf, decide, runPolicyTests } from './policy-tests.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    policies: { type: 'string', default: 'deploy/local/policies' },
    tests: { type: 'string' },
    as: { type: 'string' },
    groups: { type: 'string', default: '' },
    connection: { type: 'string', default: 'clinical-pg' },
    dialect: { type: 'string', default: 'postgresql' },
    at: { type: 'string' },
  },
});
const [command, ...rest] = positionals;
const analyser = await createAnalyser();
const testsDir = values.tests ?? join(values.policies, 'tests');
// The clock is read here, at the tool's edge; `--at` replays a decision at another instant.
const now = values.at ? new Date(values.at) : new Date();
if (Number.isNaN(now.getTime())) {
  console.error(`--at ${values.at}: not a date (use ISO 8601, e.g. 2026-03-02T09:30:00Z)`);
  process.exit(2);
}

if (command === 'test') {
  for (const w of lintDocument(loadPolicyDir(values.policies).doc)) console.log(`warn ${w}`);
  const results = runPolicyTests(analyser, values.policies, testsDir, now);
  for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.file}: ${r.name}${r.ok ? '' : `\n       ${r.problems.join('\n       ')}`}`);
  const failed = results.filter((r) => !r.ok).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
} else if (command === 'explain' && values.as && rest.length) {
  const policy = loadPolicyDir(values.policies);
  // The demo suite's catalog stands in for the connection's.
  const suite = parse(readFileSync(join(testsDir, 'demo.yaml'), 'utf8')) as { catalog: Parameters<typeof catalogOf>[0] & { defaultSchema?: string } };
  const c = {
    name: 'explain',
    identity: { subject: values.as, groups: values.groups ? values.groups.split(',') : [] },
    connection: values.connection,
    dialect: values.dialect as 'postgresql',
    sql: rest.join(' '),
    expect: { action: 'allow' as const },
  };
  const { analysis, decision } = decide(
    analyser,
    policy,
    catalogOf({ ...suite.catalog, defaultSchema: suite.catalog.defaultSchema ?? 'public' }),
    suite.catalog.defaultSchema ?? 'public',
    c,
    now,
  );
  // The PHI kinds the catalog gives each column the statements read or write, for anyPhi and tag masks.
  const phi: Record<string, string[]> = {};
  for (const s of analysis.statements) {
    for (const col of [...s.columnsRead, ...s.columnsWritten]) {
      const kinds = phiKindsOf(policy.doc, values.connection, col);
      if (kinds.length) phi[`${col.table.schema}.${col.table.name}.${col.column}`] = kinds;
    }
  }
  console.log(JSON.stringify({ at: now.toISOString(), decision, phi, analysis }, null, 2));
} else {
  console.error('usage: policy-cli test [--policies DIR] [--tests DIR] [--at ISO] | explain --as SUBJECT [--groups a,b] [--connection NAME] [--at ISO] "SQL"');
  process.exit(2);
}
