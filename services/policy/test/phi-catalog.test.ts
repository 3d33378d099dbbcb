// PHI catalog: `phi:` tags columns per connection; `match.anyPhi` and `masking[].phi` use the tags.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lintDocument } from '../src/domain/document.js';
import { evaluateAt, phiKindsOf } from '../src/domain/evaluate.js';
import { col, policy, problems, request, select, stmt, table } from './fixtures.js';

const NOW = new Date('2026-03-02T12:00:00Z');

const doc = policy({
  phi: [
    {
      columns: {
        '*.patients.ssn': 'ssn',
        '*.patients.first_name': 'name',
        '*.patients.phone': ['phone', 'other_id'],
        '*.patients.notes': 'free_text',
        '*.encounters.notes': 'free_text',
      },
    },
    // Only the Snowflake copy has the legacy MRN column.
    { connections: ['clinical-sf'], columns: { '*.patients.legacy_mrn': 'mrn' } },
  ],
  rules: [
    { id: 'read', match: { groups: ['etl'], statements: ['select', 'insert'], tables: ['*.patients', '*.encounters'] }, action: 'allow', reason: 'r' },
    { id: 'ssn-needs-approval', match: { groups: ['etl'], anyPhi: ['ssn'] }, action: 'require_approval', approvers: ['phi-approvers'], reason: 'ssn' },
    { id: 'no-mrn', match: { anyPhi: ['mrn'] }, action: 'deny', reason: 'no MRNs' },
    { id: 'no-free-text-for-agents', match: { groups: ['agents'], anyPhi: ['free_text'] }, action: 'deny', reason: 'no notes' },
    { id: 'agent-read', match: { groups: ['agents'], statements: ['select'], tables: ['*.patients', '*.encounters'] }, action: 'allow', reason: 'r' },
    // An allow rule with a kind trigger: allows only when a name column is provably read.
    { id: 'auditor-reads-names', match: { groups: ['auditors'], anyPhi: ['name'], tables: ['*.patients'] }, action: 'allow', reason: 'r' },
  ],
  masking: [
    { id: 'etl-masks', match: { groups: ['etl'] }, phi: { ssn: 'redact', phone: { strategy: 'partial', keepLast: 4 }, free_text: 'scrub', mrn: 'token' } },
  ],
});

const allowAll = { id: 'allow-all', action: 'allow', reason: 'r' };
const decide = (statements: Parameters<typeof request>[0], opts: Parameters<typeof request>[1] = {}) => evaluateAt(doc, 'r', request(statements, opts), NOW);
const mask = (d: ReturnType<typeof decide>, column: string) => d.maskingPlan.columns.find((c) => `${c.table}.${c.column}` === column);

test('anyPhi fires on a tagged column read, and not on untagged ones', () => {
  assert.deepEqual(decide([select('patients.id', 'patients.ssn')]).ruleIds, ['ssn-needs-approval', 'read']);
  assert.equal(decide([select('patients.id', 'patients.ssn')]).action, 'require_approval');
  const plain = decide([select('patients.id', 'patients.phone')]);
  assert.deepEqual([plain.action, plain.ruleIds], ['allow', ['read']]);
});

test('anyPhi fires on a tagged column written', () => {
  const insert = stmt({ kind: 'insert', tablesWritten: [table('patients')], columnsWritten: [col('patients', 'id'), col('patients', 'ssn')] });
  assert.equal(decide([insert]).action, 'require_approval');
});

test('anyPhi matches case-insensitively, as table and column patterns do', () => {
  const upper = stmt({
    tablesRead: [{ database: 'CLINICAL', schema: 'PUBLIC', name: 'PATIENTS' }],
    columnsRead: [{ table: { database: 'CLINICAL', schema: 'PUBLIC', name: 'PATIENTS' }, column: 'SSN' }],
  });
  assert.equal(decide([upper]).action, 'require_approval');
});

test('a * read counts as reading every tagged column of its table, and only of its table', () => {
  const starPatients = stmt({ tablesRead: [table('patients')], columnsRead: [col('patients', '*')] });
  assert.equal(decide([starPatients]).action, 'require_approval');
  const starEncounters = stmt({ tablesRead: [table('encounters')], columnsRead: [col('encounters', '*')] });
  assert.equal(decide([starEncounters]).action, 'allow', 'encounters has no ssn-tagged column');
  assert.deepEqual(decide([starEncounters], { groups: ['agents'] }).ruleIds, ['no-free-text-for-agents'], 'but it has free_text');
});

test('columns that cannot be pinned: deny and approval kind triggers match (fail closed), allow triggers do not', () => {
  const unpinned = stmt({ tablesRead: [table('patients')], columnsResolved: false });
  const etl = decide([unpinned]);
  assert.deepEqual([etl.action, etl.ruleIds], ['deny', ['no-mrn']], 'the deny rule on mrn fires although no column is tagged mrn here');
  const auditor = decide([unpinned], { groups: ['auditors'] });
  assert.deepEqual([auditor.action, auditor.ruleIds], ['deny', ['no-mrn']]);
  const auditorPinned = decide([select('patients.first_name')], { groups: ['auditors'] });
  assert.deepEqual([auditorPinned.action, auditorPinned.ruleIds], ['allow', ['auditor-reads-names']]);
  const auditorOther = decide([select('patients.id')], { groups: ['auditors'] });
  assert.deepEqual(auditorOther.ruleIds, ['default-deny']);
});

test('catalog entries are per connection; an entry without connections covers all', () => {
  const legacy = select('patients.id', 'patients.legacy_mrn');
  assert.equal(decide([legacy], { connection: 'clinical-pg' }).action, 'allow', 'clinical-pg has no mrn-tagged column');
  assert.deepEqual(decide([legacy], { connection: 'clinical-sf' }).ruleIds, ['no-mrn']);
  assert.equal(mask(decide([select('patients.id')], { connection: 'clinical-pg' }), 'patients.legacy_mrn'), undefined);
  assert.equal(mask(decide([select('patients.id')], { connection: 'clinical-sf' }), 'patients.legacy_mrn')?.strategy, 'token');
  assert.equal(mask(decide([select('patients.id')], { connection: 'elsewhere' }), 'patients.ssn')?.strategy, 'redact');
});

test('a tag mask expands to every column of that kind; a column with two kinds gets the strictest', () => {
  const d = decide([select('patients.id')]);
  assert.deepEqual(
    d.maskingPlan.columns.map((c) => [`${c.schema}.${c.table}.${c.column}`, c.strategy]),
    [
      ['*.patients.ssn', 'redact'],
      ['*.patients.phone', 'partial'],
      ['*.patients.notes', 'scrub'],
      ['*.encounters.notes', 'scrub'],
    ],
  );
  const twoKinds = policy({
    phi: doc.phi,
    rules: [allowAll],
    masking: [{ id: 'm', phi: { phone: 'partial', other_id: 'token' } }],
  });
  assert.equal(evaluateAt(twoKinds, 'r', request([select('patients.id')]), NOW).maskingPlan.columns.find((c) => c.column === 'phone')?.strategy, 'token');
});

test('tag masks and column masks on one column: the strictest wins, whichever comes first', () => {
  for (const masking of [
    [
      { id: 'a', phi: { ssn: 'partial' } },
      { id: 'b', columns: { '*.patients.ssn': 'nullify' } },
    ],
    [
      { id: 'b', columns: { '*.patients.ssn': 'nullify' } },
      { id: 'a', phi: { ssn: 'partial' } },
    ],
    [{ id: 'c', columns: { '*.patients.ssn': 'none' }, phi: { ssn: 'nullify' } }],
  ]) {
    const d = evaluateAt(policy({ phi: doc.phi, rules: [allowAll], masking }), 'r', request([select('patients.id')]), NOW);
    assert.deepEqual(
      d.maskingPlan.columns.map((c) => [c.column, c.strategy]),
      [['ssn', 'nullify']],
    );
  }
  const partials = policy({
    phi: doc.phi,
    rules: [allowAll],
    masking: [
      { id: 'a', phi: { phone: { strategy: 'partial', keepLast: 4 } } },
      { id: 'b', columns: { '*.patients.phone': { strategy: 'partial', keepLast: 2 } } },
    ],
  });
  assert.equal(evaluateAt(partials, 'r', request([select('patients.id')]), NOW).maskingPlan.columns[0]?.keepLast, 2, 'fewer characters in clear is stricter');
});

test('a tag mask counts for predicates on masked columns and for unknown-source columns', () => {
  const guarded = policy({
    ...doc,
    rules: [...doc.rules, { id: 'no-masked-predicates', match: { maskedColumnInPredicate: true }, action: 'deny', reason: 'r' }],
  });
  const filtered = stmt({ tablesRead: [table('patients')], columnsRead: [col('patients', 'id')], hasWhere: true, columnsFiltered: [col('patients', 'notes')] });
  assert.deepEqual(evaluateAt(guarded, 'r', request([filtered]), NOW).ruleIds, ['no-masked-predicates']);
  assert.equal(decide([select('patients.notes')]).maskingPlan.unknownSourceStrategy, 'redact');
  assert.equal(decide([select('patients.id')]).maskingPlan.unknownSourceStrategy, 'none');
});

test('phiKindsOf names the kinds of a column, * included', () => {
  assert.deepEqual(phiKindsOf(doc, 'clinical-pg', col('patients', 'phone')), ['phone', 'other_id']);
  assert.deepEqual(phiKindsOf(doc, 'clinical-pg', col('patients', 'id')), []);
  assert.deepEqual(phiKindsOf(doc, 'clinical-sf', col('patients', '*')).sort(), ['free_text', 'mrn', 'name', 'other_id', 'phone', 'ssn']);
});

test('the catalog is validated: closed vocabulary, whole-part globs, no empty lists', () => {
  assert.match(problems({ phi: [{ columns: { '*.patients.ssn': 'social' } }] }).join('\n'), /phi\.0\.columns/);
  assert.match(problems({ phi: [{ columns: { '*.patients.*_name': 'name' } }] }).join('\n'), /each part a name or a whole \*/);
  assert.match(problems({ phi: [{ columns: { 'patients.ssn': 'ssn' } }] }).join('\n'), /schema\.table\.column/);
  assert.ok(problems({ phi: [{ connections: [], columns: {} }] }).length > 0);
  assert.ok(problems({ phi: [{ columns: { '*.patients.ssn': [] } }] }).length > 0);
  assert.ok(problems({ rules: [{ id: 'x', match: { anyPhi: ['dna'] }, action: 'deny', reason: 'r' }] }).length > 0);
  assert.ok(problems({ rules: [{ id: 'x', match: { anyPhi: [] }, action: 'deny', reason: 'r' }] }).length > 0);
  assert.ok(problems({ masking: [{ id: 'm', phi: { dna: 'redact' } }] }).length > 0);
  assert.match(problems({ masking: [{ id: 'm' }] }).join('\n'), /needs columns or phi/);
  assert.match(
    problems({ masking: [{ id: 'm', columns: { 'patients.ssn': 'redact' } }] }).join('\n'),
    /schema\.table\.column/,
    'a short pattern would mask nothing',
  );
});

test('lintDocument warns about kinds no catalogued column has, per connection', () => {
  const d = policy({
    phi: [{ connections: ['clinical-sf'], columns: { '*.patients.ssn': 'ssn' } }],
    rules: [
      { id: 'sf-ssn', match: { connections: ['clinical-sf'], anyPhi: ['ssn'] }, action: 'deny', reason: 'r' },
      { id: 'pg-ssn', match: { connections: ['clinical-pg'], anyPhi: ['ssn'] }, action: 'deny', reason: 'r' },
      { id: 'any-ssn', match: { anyPhi: ['ssn', 'biometric'] }, action: 'deny', reason: 'r' },
    ],
    masking: [{ id: 'm', phi: { ssn: 'redact', photo: 'nullify' } }],
  });
  assert.deepEqual(lintDocument(d), [
    'rule pg-ssn: no column is tagged ssn in the phi catalog, so anyPhi never matches on it',
    'rule any-ssn: no column is tagged biometric in the phi catalog, so anyPhi never matches on it',
    'masking m: no column is tagged photo in the phi catalog, so its mask masks nothing',
  ]);
});
