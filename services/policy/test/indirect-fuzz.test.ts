// Fuzzing the indirect ways of naming a masked column (issue 14): statements built so that the
// value of patients.ssn reaches the result, with the reference rewritten into every indirect form
// each dialect has (whole-row references, row_to_json, (p).ssn, derived tables and CTEs that
// rename it, COLUMNS(), `* ILIKE`, `* EXCLUDE`, OBJECT_CONSTRUCT(*), IDENTIFIER(), positional $n),
// then wrapped in the query shapes analysts use. For an identity with ssn masked, every one of
// them must be denied, or planned with ssn masked AND computed result columns redacted: a result
// column the plan leaves unmasked must never carry the value.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createAnalyser } from '@phigate/sql';
import { REPO_ROOT, seededRandom } from '@phigate/testkit';
import { loadPolicyDir } from '../src/adapters/files/policy-store.js';
import { catalogOf, decide } from '../src/tools/policy-tests.js';

const PATIENT_COLUMNS = ['id', 'mrn', 'first_name', 'last_name', 'ssn', 'dob', 'zip', 'phone', 'email', 'notes'];
const CLAIM_COLUMNS = ['id', 'patient_id', 'encounter_id', 'payer_member_id', 'amount', 'status'];

/** `{v}` is where the value of ssn is projected; `{p}` names the patients relation (alias p). */
const PG_FORMS = [
  'p.ssn',
  'ssn',
  '(p).ssn',
  'p',
  'p.*',
  'row_to_json(p)',
  'to_jsonb(p)',
  "to_jsonb(p)->>'ssn'",
  'p::text',
  '(p.*)::text',
  'upper(p.ssn)',
  "concat(p.ssn, '')",
  'coalesce(p.ssn, p.email)',
  "json_build_object('k', p.ssn)",
  'array_agg(p.ssn) OVER ()',
  'ROW(p.ssn, p.id)',
  "p.ssn || ''",
  "string_agg(p.ssn, ',') OVER ()",
];
const PG_SHAPES = [
  'SELECT {v} FROM patients p WHERE p.id = 1',
  'SELECT x.v FROM (SELECT {v} AS v FROM patients p) x LIMIT 5',
  'WITH c AS (SELECT {v} AS v FROM patients p) SELECT v FROM c LIMIT 5',
  'WITH c(v) AS (SELECT {v} FROM patients p) SELECT c.* FROM c LIMIT 5',
  'SELECT q.* FROM (SELECT {v} FROM patients p) q LIMIT 5',
  'SELECT l.v FROM claims c CROSS JOIN LATERAL (SELECT {v} AS v FROM patients p WHERE p.id = c.patient_id) l LIMIT 5',
  'SELECT (SELECT {v} FROM patients p WHERE p.id = c.patient_id) FROM claims c LIMIT 5',
  'SELECT {v} FROM patients p JOIN claims c ON c.patient_id = p.id LIMIT 5',
  'SELECT v FROM (SELECT {v} AS v FROM patients p UNION ALL SELECT {v} FROM patients p) u LIMIT 5',
  'SELECT * FROM (VALUES (1)) t(n), LATERAL (SELECT {v} AS v FROM patients p WHERE p.id = t.n) l',
  'SELECT jsonb_build_array(x) FROM (SELECT {v} AS x FROM patients p) s LIMIT 3',
];

const SF_FORMS = [
  'P.SSN',
  'SSN',
  "COLUMNS('S.N')",
  "COLUMNS('.*')",
  "MAX(COLUMNS('^S'))",
  'OBJECT_CONSTRUCT(*)',
  'HASH(*)',
  'ARRAY_CONSTRUCT(*)',
  "IDENTIFIER('SSN')",
  "IDENTIFIER('P.SSN')",
  '$5',
  'P.*',
  '*',
  "* ILIKE '%SSN%'",
  '* EXCLUDE (ID)',
  '* EXCLUDE (ID, MRN)',
  '* RENAME (SSN AS S)',
  '* REPLACE (UPPER(SSN) AS SSN)',
  'UPPER(P.SSN)',
  "CONCAT(P.SSN, '')",
  "OBJECT_CONSTRUCT('k', P.SSN)",
  'TO_VARCHAR(P.SSN)',
];
const SF_SHAPES = [
  'SELECT {v} FROM PATIENTS P WHERE P.ID = 1',
  'SELECT X.* FROM (SELECT {v} FROM PATIENTS P) X LIMIT 5',
  'WITH C AS (SELECT {v} FROM PATIENTS P) SELECT * FROM C LIMIT 5',
  'SELECT {v} FROM PATIENTS P JOIN CLAIMS C ON C.PATIENT_ID = P.ID LIMIT 5',
  'SELECT * FROM (SELECT {v} FROM PATIENTS P UNION ALL SELECT {v} FROM PATIENTS P) LIMIT 5',
];

function check(sql: string, dialect: 'postgresql' | 'snowflake', result: ReturnType<typeof decide>): string | undefined {
  const { analysis, decision } = result;
  if (decision.action === 'deny') return decision.ruleIds.length ? undefined : 'a denial without a rule';
  const ssnMask = decision.maskingPlan.columns.find((c) => c.column.toLowerCase() === 'ssn' && c.strategy !== 'none');
  if (!ssnMask) return `${dialect} allowed without an ssn mask`;
  if (decision.maskingPlan.unknownSourceStrategy !== 'redact') return `${dialect} allowed with computed columns unmasked`;
  const readsSsn = analysis.statements.some((s) =>
    s.columnsRead.some((c) => c.table.name.toLowerCase() === 'patients' && ['ssn', '*'].includes(c.column.toLowerCase())),
  );
  if (!readsSsn) return `${dialect} allowed, and the analysis does not record the ssn read: ${sql}`;
  return undefined;
}

test('indirect forms of a masked column, in every query shape: each is denied, or ssn is masked and computed columns redacted', async () => {
  const analyser = await createAnalyser();
  const policy = loadPolicyDir(join(REPO_ROOT, 'deploy/local/policies'));
  const identity = { subject: 'etl-pipeline', groups: ['etl'] };
  const pg = catalogOf({ database: 'clinical', defaultSchema: 'public', tables: { 'public.patients': PATIENT_COLUMNS, 'public.claims': CLAIM_COLUMNS } });
  const sf = catalogOf({
    database: 'CLINICAL',
    defaultSchema: 'PUBLIC',
    tables: { 'PUBLIC.PATIENTS': PATIENT_COLUMNS.map((c) => c.toUpperCase()), 'PUBLIC.CLAIMS': CLAIM_COLUMNS.map((c) => c.toUpperCase()) },
  });
  const random = seededRandom(20261207);
  const problems: string[] = [];
  let allowed = 0;
  let total = 0;
  const run = (sql: string, dialect: 'postgresql' | 'snowflake') => {
    total++;
    const c = { name: sql, identity, connection: dialect === 'postgresql' ? 'clinical-pg' : 'clinical-sf', dialect, sql, expect: { action: 'allow' as const } };
    const r = decide(analyser, policy, dialect === 'postgresql' ? pg : sf, dialect === 'postgresql' ? 'public' : 'PUBLIC', c);
    if (r.decision.action !== 'deny') allowed++;
    const problem = check(sql, dialect, r);
    if (problem) problems.push(`${problem}: ${sql}`);
  };
  for (const shape of PG_SHAPES) for (const form of PG_FORMS) run(shape.replaceAll('{v}', form), 'postgresql');
  for (const shape of SF_SHAPES) for (const form of SF_FORMS) run(shape.replaceAll('{v}', form), 'snowflake');
  // Random compositions: a form inside another form's shape, twice nested, with case changes.
  for (let i = 0; i < 3000; i++) {
    const dialect = random() < 0.5 ? 'postgresql' : 'snowflake';
    const shapes = dialect === 'postgresql' ? PG_SHAPES : SF_SHAPES;
    const forms = dialect === 'postgresql' ? PG_FORMS : SF_FORMS;
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
    const inner = pick(shapes).replaceAll('{v}', pick(forms));
    const outer = dialect === 'postgresql' ? `SELECT * FROM (${inner}) z LIMIT 3` : `SELECT * FROM (${inner}) Z LIMIT 3`;
    run(random() < 0.3 ? outer.toLowerCase() : outer, dialect);
  }
  assert.deepEqual(problems.slice(0, 40), [], `${problems.length} of ${total} statements let ssn out unplanned`);
  assert.ok(allowed > 100, `the fuzzer should also reach allowed statements (reached ${allowed} of ${total})`);
});
