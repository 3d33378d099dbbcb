// maskedColumnFlow: a masked column's value reaching an inference channel (row count, order,
// errors, delay, another value) is refused, with the column, channel and construct in the reason;
// unmasked columns flow freely, and so do masked columns for an identity that sees them in clear.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateAt } from '../src/domain/evaluate.js';
import type { Channel } from '../src/domain/types.js';
import { col, policy, problems, request, stmt, table } from './fixtures.js';

const NOW = new Date('2026-03-02T12:00:00Z');
const CHANNELS: Channel[] = ['rows', 'order', 'error', 'delay', 'value'];

const doc = policy({
  phi: [{ columns: { '*.patients.ssn': 'ssn' } }],
  rules: [
    { id: 'read', match: { statements: ['select'], tables: ['*.patients'] }, action: 'allow', reason: 'r' },
    ...CHANNELS.map((c) => ({ id: `block-masked-${c}`, match: { maskedColumnFlow: [c] }, action: 'deny', reason: `masked ${c}` })),
  ],
  masking: [{ id: 'm', match: { groups: ['etl'] }, phi: { ssn: 'redact' } }],
});

const ssn = col('patients', 'ssn');
const id = col('patients', 'id');
const decide = (flows: Array<{ column: typeof ssn; channel: Channel; via: string }>, groups = ['etl']) =>
  evaluateAt(doc, 'r', request([stmt({ tablesRead: [table('patients')], columnsRead: [ssn, id], flows })], { groups }), NOW);

test('each channel of a masked column is refused by its rule, with the column, channel and construct in the reason', () => {
  for (const channel of CHANNELS) {
    const d = decide([{ column: ssn, channel, via: 'ORDER BY' }]);
    assert.equal(d.action, 'deny', channel);
    assert.deepEqual(d.ruleIds, [`block-masked-${channel}`]);
    assert.match(d.reasons[0]!, new RegExp(`^masked ${channel}: patients\\.ssn → .+ \\(ORDER BY\\)$`));
  }
});

test('an unmasked column flows freely; a masked one too for an identity that sees it in clear', () => {
  assert.equal(decide([{ column: id, channel: 'order', via: 'ORDER BY' }]).action, 'allow');
  assert.equal(decide([{ column: ssn, channel: 'order', via: 'ORDER BY' }], ['registry']).action, 'allow');
});

test('a `*` the analyser could not expand stands for every column, masked ones included', () => {
  assert.equal(decide([{ column: col('patients', '*'), channel: 'rows', via: 'GROUP BY' }]).action, 'deny');
});

test('a whole-row reference in a predicate filters on the masked column too', () => {
  const d = evaluateAt(
    policy({
      rules: [
        { id: 'read', match: { statements: ['select'], tables: ['*.patients'] }, action: 'allow', reason: 'r' },
        { id: 'no-masked-predicates', match: { maskedColumnInPredicate: true }, action: 'deny', reason: 'p' },
      ],
      masking: [{ id: 'm', match: { groups: ['etl'] }, columns: { '*.patients.ssn': 'redact' } }],
    }),
    'r',
    request([stmt({ tablesRead: [table('patients')], hasWhere: true, columnsFiltered: [col('patients', '*')] })]),
    NOW,
  );
  assert.deepEqual(d.ruleIds, ['no-masked-predicates']);
});

test('maskedColumnFlow takes only the five channels', () => {
  assert.ok(problems({ rules: [{ id: 'x', match: { maskedColumnFlow: ['latency'] }, action: 'deny', reason: 'r' }] }).length > 0);
  assert.ok(problems({ rules: [{ id: 'x', match: { maskedColumnFlow: [] }, action: 'deny', reason: 'r' }] }).length > 0);
});

test('a condition the analysis could not pin is refused only on a table with a column masked for the caller', () => {
  const doc2 = policy({
    rules: [
      { id: 'read', match: { statements: ['select'], tables: ['*.patients', '*.claims'] }, action: 'allow', reason: 'r' },
      { id: 'no-masked-predicates', match: { maskedColumnInPredicate: true }, action: 'deny', reason: 'p' },
    ],
    masking: [{ id: 'm', match: { groups: ['etl'] }, columns: { '*.patients.ssn': 'redact' } }],
  });
  const unpinned = (t: string, groups = ['etl']) =>
    evaluateAt(doc2, 'r', request([stmt({ tablesRead: [table(t)], hasWhere: true, columnsResolved: false })], { groups }), NOW).ruleIds;
  assert.deepEqual(unpinned('patients'), ['no-masked-predicates']);
  assert.deepEqual(unpinned('claims'), ['read'], 'claims has no masked column');
  assert.deepEqual(unpinned('patients', ['registry']), ['read'], 'nothing is masked for this identity');
});
