// `npm run policy:test` and `npm run -s policy:explain -- --as etl-pipeline --groups etl "SQL"`.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAnalyser } from '@phigate/sql';
import { parse } from 'yaml';
import { loadPolicyDir } from '../adapters/files/policy-store.js';
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
  },
});
const [command, ...rest] = positionals;
const analyser = await createAnalyser();
const testsDir = values.tests ?? join(values.policies, 'tests');

if (command === 'test') {
  const results = runPolicyTests(analyser, values.policies, testsDir);
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
  );
  console.log(JSON.stringify({ decision, analysis }, null, 2));
} else {
  console.error('usage: policy-cli test [--policies DIR] [--tests DIR] | explain --as SUBJECT [--groups a,b] [--connection NAME] "SQL"');
  process.exit(2);
}
