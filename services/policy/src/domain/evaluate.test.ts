import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stmt, table } from '../../test/fixtures.js';
import { validateDocument } from './document.js';
import { evaluate } from './evaluate.js';
import type { EvaluationInput, StatementFacts } from './types.js';

const doc = (() => {
  const v = validateDocument({
    version: 1,
    rules: [
      { id: 'block-ddl', match: { statements: ['drop'] }, action: 'deny', reason: 'no DDL' },
      { id: 'block-unbounded', match: { statements: ['update', 'delete', 'merge'], unboundedWrite: true }, action: 'deny', reason: 'needs WHERE' },
      {
        id: 'etl-read',
        match: { groups: ['etl'], statements: ['select'], tables: ['public.patients', 'public.claims'] },
        action: 'allow',
        reason: 'etl reads',
      },
      { id: 'etl-write', match: { groups: ['etl'], statements: ['delete'], tables: ['public.claims'] }, action: 'allow', reason: 'etl deletes claims' },
      {
        id: 'ssn-approval',
        match: { groups: ['etl'], anyColumn: ['public.patients.ssn'] },
        action: 'require_approval',
        approvers: ['phi-approvers'],
        reason: 'ssn',
      },
    ],
    masking: [
      {
        id: 'etl-masks',
        match: { groups: ['etl'] },
        columns: { 'public.patients.email': 'redact', 'public.patients.phone': { strategy: 'partial', keepLast: 2 } },
      },
    ],
    rowLimits: [{ match: { groups: ['etl'] }, limit: 500 }],
  });
  assert.ok(v.ok);
  return v.doc;
})();

const t = (name: string) => table(name);
const input = (statements: StatementFacts[], groups = ['etl'], understood = true): EvaluationInput => ({
  identity: { subject: 'etl-pipeline', clientId: 'etl-pipeline', groups },
  connection: 'clinical-pg',
  role: 'clinical_reader',
  frontDoor: 'http',
  analysis: { dialect: 'postgresql', fingerprint: 'f', understood, error: '', statements },
});

test('allows a scoped read and returns the masking plan and row limit', () => {
  const d = evaluate(doc, 'rev1', input([stmt({ tablesRead: [t('patients')], columnsRead: [{ table: t('patients'), column: 'email' }] })]));
  assert.equal(d.action, 'allow');
  assert.deepEqual(d.ruleIds, ['etl-read']);
  assert.equal(d.policyRevision, 'rev1');
  assert.equal(d.rowLimit, 500);
  assert.deepEqual(
    d.maskingPlan.columns.map((c) => [c.column, c.strategy, c.keepLast]),
    [
      ['email', 'redact', 4],
      ['phone', 'partial', 2],
    ],
  );
  assert.equal(d.maskingPlan.unknownSourceStrategy, 'redact', 'reads a masked column, so computed columns are redacted');
});

test('a read of a table outside the scope is denied by default, naming no other tables', () => {
  const d = evaluate(doc, 'rev1', input([stmt({ tablesRead: [t('patients'), t('encounters')] })]));
  assert.equal(d.action, 'deny');
  assert.deepEqual(d.ruleIds, ['default-deny']);
});

test('deny overrides allow; unbounded writes are caught; multi-statement takes the worst', () => {
  assert.deepEqual(evaluate(doc, 'r', input([stmt({ kind: 'drop', tablesWritten: [t('patients')] })])).ruleIds, ['block-ddl']);
  const del = evaluate(doc, 'r', input([stmt({ kind: 'delete', tablesWritten: [t('claims')], hasWhere: true, whereTriviallyTrue: true })]));
  assert.deepEqual([del.action, del.ruleIds], ['deny', ['block-unbounded']]);
  const ok = evaluate(doc, 'r', input([stmt({ kind: 'delete', tablesWritten: [t('claims')], hasWhere: true })]));
  assert.equal(ok.action, 'allow');
  const multi = evaluate(doc, 'r', input([stmt({ tablesRead: [t('patients')] }), stmt({ kind: 'drop', tablesWritten: [t('claims')] })]));
  assert.equal(multi.action, 'deny');
});

test('approval gates allowed access; it does not grant access on its own', () => {
  const ssn = { table: t('patients'), column: 'ssn' };
  const d = evaluate(doc, 'r', input([stmt({ tablesRead: [t('patients')], columnsRead: [ssn] })]));
  assert.equal(d.action, 'require_approval');
  assert.deepEqual(d.approverGroups, ['phi-approvers']);
  const star = evaluate(doc, 'r', input([stmt({ tablesRead: [t('patients')], columnsRead: [{ table: t('patients'), column: '*' }] })]));
  assert.equal(star.action, 'require_approval', 'SELECT * reads ssn too');
  const outside = evaluate(doc, 'r', input([stmt({ tablesRead: [t('patients'), t('encounters')], columnsRead: [ssn] })]));
  assert.equal(outside.action, 'deny');
});

test('unknown statements and unknown identities are denied', () => {
  assert.deepEqual(evaluate(doc, 'r', input([stmt({})], ['etl'], false)).ruleIds, ['unknown-statement']);
  assert.equal(evaluate(doc, 'r', input([stmt({ tablesRead: [t('patients')] })], ['nobody'])).action, 'deny');
});

test('validateDocument reports every problem', () => {
  const v = validateDocument({
    version: 1,
    rules: [
      { id: 'Bad Id', action: 'maybe', reason: '' },
      { id: 'x', action: 'require_approval', reason: 'r' },
    ],
  });
  assert.equal(v.ok, false);
  if (!v.ok) assert.ok(v.problems.length >= 3, v.problems.join('\n'));
});

test('a column trigger on a deny/approval rule fires when columns cannot be pinned (fail closed)', () => {
  const d = evaluate(doc, 'r', input([stmt({ tablesRead: [t('patients')], columnsResolved: false })]));
  assert.equal(d.action, 'require_approval');
});

test('a WHERE on a column masked for the caller is caught; unmasked columns are fine', () => {
  const docWithGuard = {
    ...doc,
    rules: [...doc.rules, { id: 'no-masked-predicates', match: { maskedColumnInPredicate: true }, action: 'deny' as const, reason: 'r' }],
  };
  const email = { table: t('patients'), column: 'email' };
  const d = evaluate(docWithGuard, 'r', input([stmt({ tablesRead: [t('patients')], columnsFiltered: [email] })]));
  assert.deepEqual([d.action, d.ruleIds], ['deny', ['no-masked-predicates']]);
  const ok = evaluate(
    docWithGuard,
    'r',
    input([stmt({ tablesRead: [t('patients')], hasWhere: true, columnsFiltered: [{ table: t('patients'), column: 'id' }] })]),
  );
  assert.equal(ok.action, 'allow');
});

test('the leak canary: the strictest mode that applies to the identity goes into the plan', () => {
  const v = validateDocument({
    version: 1,
    rules: [{ id: 'read', match: { groups: ['etl', 'other'], statements: ['select'] }, action: 'allow', reason: 'r' }],
    canary: [{ mode: 'report' }, { match: { groups: ['etl'] }, mode: 'block' }],
  });
  assert.ok(v.ok);
  assert.equal(evaluate(v.doc, 'r', input([stmt({})])).maskingPlan.canary, 'block');
  assert.equal(evaluate(v.doc, 'r', input([stmt({})], ['other'])).maskingPlan.canary, 'report');
});

test('the leak canary watches every identity: report when no entry applies, unless an entry says off', () => {
  const v = validateDocument({
    version: 1,
    rules: [{ id: 'read', match: { statements: ['select'] }, action: 'allow', reason: 'r' }],
    canary: [
      { match: { groups: ['agents'] }, mode: 'block' },
      { match: { groups: ['quiet', 'agents'] }, mode: 'off' },
    ],
  });
  assert.ok(v.ok);
  assert.equal(evaluate(v.doc, 'r', input([stmt({})], ['etl'])).maskingPlan.canary, 'report', 'no entry applies: the default');
  assert.equal(evaluate(v.doc, 'r', input([stmt({})], ['quiet'])).maskingPlan.canary, 'off', 'an entry turns it off');
  assert.equal(evaluate(v.doc, 'r', input([stmt({})], ['agents'])).maskingPlan.canary, 'block', 'off never lowers a stricter entry');
  const bare = validateDocument({ version: 1, rules: [{ id: 'read', match: { statements: ['select'] }, action: 'allow', reason: 'r' }] });
  assert.ok(bare.ok);
  assert.equal(evaluate(bare.doc, 'r', input([stmt({})])).maskingPlan.canary, 'report', 'a policy without a canary section');
});

test('the plan lists the PHI kinds the identity sees in clear in what the statement reads', () => {
  const v = validateDocument({
    version: 1,
    phi: [
      {
        columns: {
          '*.patients.ssn': 'ssn',
          '*.patients.first_name': 'name',
          '*.patients.dob': 'dob',
          '*.patients.mrn': 'mrn',
          '*.patients.phone': 'phone',
          '*.patients.notes': 'free_text',
          '*.claims.payer_member_id': 'health_plan_id',
        },
      },
      { connections: ['clinical-sf'], columns: { '*.patients.legacy_id': 'mrn' } },
    ],
    rules: [{ id: 'read', match: { statements: ['select'] }, action: 'allow', reason: 'r' }],
    masking: [
      { id: 'etl-masks', match: { groups: ['etl'] }, phi: { ssn: 'redact', phone: { strategy: 'partial', keepLast: 4 }, free_text: 'scrub', name: 'none' } },
      { id: 'agent-masks', match: { groups: ['agents'] }, phi: { ssn: 'redact', name: 'redact', dob: 'safe_harbor_date', mrn: 'token', phone: 'redact' } },
    ],
  });
  assert.ok(v.ok);
  const c = (table: string, column: string) => ({ table: t(table), column });
  const read = (...cols: Array<ReturnType<typeof c>>) => stmt({ tablesRead: [...new Set(cols.map((x) => x.table))], columnsRead: cols });
  const kinds = (statements: StatementFacts[], groups = ['etl'], understood = true) =>
    evaluate(v.doc, 'r', input(statements, groups, understood)).maskingPlan.visiblePhiKinds;
  const all = ['ssn', 'first_name', 'dob', 'mrn', 'phone', 'notes'].map((x) => c('patients', x));
  // Masked kinds are not visible; unmasked ones are (a `none` mask leaves a kind in clear), in catalog order.
  assert.deepEqual(kinds([read(...all)]), ['name', 'dob', 'mrn']);
  assert.deepEqual(kinds([read(c('patients', 'id'), c('patients', 'dob'))]), ['dob'], 'only what the statement reads');
  assert.deepEqual(kinds([read(c('patients', 'id')), read(c('claims', 'payer_member_id'))]), ['health_plan_id'], 'every statement counts');
  assert.deepEqual(kinds([read(...all)], ['agents']), ['free_text'], 'the agent sees its unmasked notes only');
  assert.deepEqual(kinds([read(...all)], ['nobody']), ['ssn', 'name', 'dob', 'mrn', 'phone', 'free_text'], 'no masks: every kind read is visible');
  // A `*` the analyser could not expand reads every catalogued column of its table.
  assert.deepEqual(kinds([read(c('patients', '*'))]), ['name', 'dob', 'mrn']);
  assert.deepEqual(kinds([read(c('patients', '*'))], ['agents']), ['free_text']);
  // The catalog is per connection: legacy_id is an MRN only on clinical-sf.
  assert.deepEqual(kinds([read(c('patients', 'legacy_id'))]), []);
  // A denied statement returns no rows: an empty plan.
  assert.equal(evaluate(v.doc, 'r', input([read(...all)], ['etl'], false)).maskingPlan.visiblePhiKinds, undefined);
});

test('a table scope is not satisfied by a statement that names no table, except a table-less read', () => {
  assert.equal(evaluate(doc, 'r', input([stmt({ kind: 'grant' })])).action, 'deny');
  assert.equal(evaluate(doc, 'r', input([stmt({ kind: 'select' })])).action, 'allow');
  const merge = evaluate(doc, 'r', input([stmt({ kind: 'merge', tablesWritten: [t('claims')], hasWhere: true, whereTriviallyTrue: true })]));
  assert.deepEqual([merge.action, merge.ruleIds], ['deny', ['block-unbounded']]);
});

test('purposes and notPurposes match the purpose of use the client stated; a request without one matches only notPurposes', () => {
  const v = validateDocument({
    version: 1,
    rules: [
      { id: 'read', match: { groups: ['etl'], statements: ['select'], tables: ['public.patients'] }, action: 'allow', reason: 'reads' },
      { id: 'needs-purpose', match: { groups: ['etl'], notPurposes: ['research', 'care'] }, action: 'deny', reason: 'state research or care' },
      {
        id: 'ssn-only-for-care',
        match: { groups: ['etl'], purposes: ['research'], anyColumn: ['public.patients.ssn'] },
        action: 'deny',
        reason: 'no SSNs for research',
      },
    ],
  });
  assert.ok(v.ok);
  const read = (column: string, purpose?: string) =>
    evaluate(v.doc, 'r', {
      ...input([stmt({ tablesRead: [t('patients')], columnsRead: [{ table: t('patients'), column }] })]),
      ...(purpose ? { purpose } : {}),
    });
  assert.deepEqual([read('id').action, read('id').ruleIds], ['deny', ['needs-purpose']]);
  assert.equal(read('id', 'marketing').action, 'deny');
  assert.equal(read('id', 'research').action, 'allow');
  assert.deepEqual([read('ssn', 'research').action, read('ssn', 'research').ruleIds], ['deny', ['ssn-only-for-care']]);
  assert.equal(read('ssn', 'care').action, 'allow');
});
