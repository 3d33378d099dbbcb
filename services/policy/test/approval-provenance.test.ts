// Approval follows provenance (issue 14): a rule that holds statements touching a PHI kind holds
// them however the column is named: directly, through an expression, a whole-row or JSON form, a
// star, COLUMNS(…), a positional $n or IDENTIFIER(…), in both dialects. The real analyser judges
// each statement; the policy holds every one of them for approval.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Catalog, createAnalyser } from '@phigate/sql';
import { evaluateAt } from '../src/domain/evaluate.js';
import { policy, request } from './fixtures.js';

const NOW = new Date('2026-03-02T12:00:00Z');
const doc = policy({
  phi: [{ columns: { '*.patients.ssn': 'ssn' } }],
  rules: [
    { id: 'read', match: { statements: ['select'], tables: ['*.patients', '*.claims'] }, action: 'allow', reason: 'r' },
    { id: 'ssn-needs-approval', match: { anyPhi: ['ssn'] }, action: 'require_approval', approvers: ['phi-approvers'], reason: 'ssn' },
  ],
});

const COLUMNS = ['id', 'mrn', 'first_name', 'last_name', 'ssn', 'dob', 'zip', 'phone', 'email', 'notes'];
const catalogOf = (schema: string, upper: boolean) =>
  new Catalog(upper ? 'CLINICAL' : 'clinical', [
    ...COLUMNS.map((c, i) => ({ tableOid: 1, schema, table: upper ? 'PATIENTS' : 'patients', attnum: i + 1, column: upper ? c.toUpperCase() : c })),
    ...['id', 'patient_id', 'status'].map((c, i) => ({
      tableOid: 2,
      schema,
      table: upper ? 'CLAIMS' : 'claims',
      attnum: i + 1,
      column: upper ? c.toUpperCase() : c,
    })),
  ]);

test('a rule holding SSN reads holds every way of naming the column, in both dialects', async () => {
  const analyse = await createAnalyser();
  const cases: Array<['postgresql' | 'snowflake', string]> = [
    ['postgresql', 'SELECT ssn FROM patients'],
    ['postgresql', 'SELECT upper(ssn) AS x FROM patients'],
    ['postgresql', 'SELECT * FROM patients'],
    ['postgresql', 'SELECT p FROM patients p'],
    ['postgresql', 'SELECT (p).ssn FROM patients p'],
    ['postgresql', "SELECT to_jsonb(p)->>'ssn' FROM patients p"],
    ['postgresql', 'SELECT row_to_json(p) FROM patients p'],
    ['postgresql', 'SELECT x.s FROM (SELECT ssn AS s FROM patients) x'],
    ['postgresql', 'WITH w AS (SELECT ssn FROM patients) SELECT * FROM w'],
    ['postgresql', 'SELECT c.id FROM claims c WHERE EXISTS (SELECT 1 FROM patients p WHERE p.id = c.patient_id AND p.ssn IS NOT NULL)'],
    ['postgresql', 'SELECT id FROM claims UNION ALL SELECT ssn::int FROM patients'],
    ['snowflake', 'SELECT SSN FROM PATIENTS'],
    ['snowflake', "SELECT ID, COLUMNS('S.N') FROM PATIENTS"],
    ['snowflake', "SELECT COLUMNS('.*') FROM PATIENTS"],
    ['snowflake', 'SELECT $5 FROM PATIENTS'],
    ['snowflake', "SELECT IDENTIFIER('SSN') FROM PATIENTS"],
    ['snowflake', 'SELECT OBJECT_CONSTRUCT(*) FROM PATIENTS'],
    ['snowflake', 'SELECT HASH(*) FROM PATIENTS'],
    ['snowflake', 'SELECT * EXCLUDE (NOTES) FROM PATIENTS'],
  ];
  for (const [dialect, sql] of cases) {
    const upper = dialect === 'snowflake';
    const analysis = analyse(sql, dialect, catalogOf(upper ? 'PUBLIC' : 'public', upper), upper ? 'PUBLIC' : 'public');
    assert.equal(analysis.understood, true, `${sql}: ${analysis.error}`);
    const d = evaluateAt(doc, 'r', { ...request([], { connection: upper ? 'clinical-sf' : 'clinical-pg' }), analysis }, NOW);
    assert.deepEqual([d.action, d.ruleIds.includes('ssn-needs-approval')], ['require_approval', true], `${dialect}: ${sql}`);
  }
  // And one that names no SSN is not held.
  const plain = analyse('SELECT id, zip FROM patients', 'postgresql', catalogOf('public', false), 'public');
  const d = evaluateAt(doc, 'r', { ...request([]), analysis: plain }, NOW);
  assert.equal(d.action, 'allow');
});
