import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MinimumNecessary } from './minimum-necessary.js';
import { parsePhiCatalog } from './phi-catalog.js';
import { buildRecording } from './recording.js';

const catalog = parsePhiCatalog({ phi: [{ columns: { '*.patients.ssn': 'ssn', '*.patients.email': 'email', '*.patients.zip': ['zip'] } }] });
const t = { schema: 'public', name: 'patients' };
const events = (requestId: string, action: string, columns: string[], ran: boolean) => [
  {
    requestId,
    type: 'query.received',
    identity: { subject: 'etl' },
    connection: 'pg',
    time: '2026-01-01T00:00:00.000Z',
    queryReceived: {
      statement: 'SELECT …',
      analysis: { understood: true, statements: [{ kind: 'select', tablesRead: [t], columnsRead: columns.map((column) => ({ table: t, column })) }] },
    },
  },
  {
    requestId,
    type: 'policy.decided',
    identity: { subject: 'etl' },
    connection: 'pg',
    policyDecided: { action, ruleIds: ['r'], maskingPlan: { columns: [{ schema: '*', table: 'patients', column: 'ssn', strategy: 'STRATEGY_REDACT' }] } },
  },
  ...(ran ? [{ requestId, type: 'query.completed', queryCompleted: { rows: 2 } }] : []),
];

test('minimum necessary: allowed (masked or clear) versus read, per identity and connection', () => {
  const r = new MinimumNecessary(catalog);
  for (const e of [
    ...events('a', 'ACTION_ALLOW', ['id', 'zip'], true),
    ...events('b', 'ACTION_ALLOW', ['*'], false),
    ...events('c', 'ACTION_DENY', ['ssn'], false),
  ])
    r.add(e);
  const [use] = r.result();
  assert.deepEqual([use?.identity, use?.connection, use?.requests, use?.allowedRequests], ['etl', 'pg', 3, 2]);
  assert.deepEqual(
    use?.columns.map((c) => [c.column, c.access, c.allowedIn, c.readIn, c.phiKinds]),
    [
      ['patients.email', ['STRATEGY_NONE'], 2, 0, ['email']],
      ['patients.ssn', ['STRATEGY_REDACT'], 2, 0, ['ssn']],
      ['patients.zip', ['STRATEGY_NONE'], 2, 1, ['zip']],
    ],
  );
  assert.deepEqual(use?.unused, ['patients.email', 'patients.ssn']);
  assert.deepEqual(use?.readInClear, ['patients.zip']);
  assert.deepEqual(catalog.searchKeys('zip'), ['patients.zip']);
});

test('a recording says what happened, from whatever events there are', () => {
  const rec = buildRecording('c', events('c', 'ACTION_DENY', ['ssn'], false));
  assert.deepEqual(
    [rec.status, rec.decision?.action, rec.statement?.tables, rec.statement?.columnsRead],
    ['denied', 'ACTION_DENY', ['public.patients'], ['public.patients.ssn']],
  );
  assert.equal(buildRecording('x', [{ type: 'query.failed', queryFailed: { code: 'E', stage: 'upstream' } }]).status, 'failed');
  assert.equal(buildRecording('x', [null, 'junk', { type: 'unknown.type' }]).status, 'received');
});
