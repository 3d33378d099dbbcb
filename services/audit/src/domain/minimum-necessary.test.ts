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

test('minimum necessary: rows served, purposes stated and PHI budget signals, per identity and connection', () => {
  const r = new MinimumNecessary(catalog);
  const signal = (requestId: string, type: string, used: number) => ({
    requestId,
    type,
    identity: { subject: 'etl' },
    connection: 'pg',
    purpose: 'operations',
    time: `2026-01-01T00:00:0${used / 100}.000Z`,
    [type === 'budget.exceeded' ? 'budgetExceeded' : 'budgetThresholdReached']: {
      budgetId: 'b',
      counter: 'b:p=operations',
      onExceed: 'deny',
      metrics: [{ metric: 'patients', limit: 500, used, requested: 100 }],
    },
  });
  for (const e of [
    ...events('a', 'ACTION_ALLOW', ['id'], true).map((x) => ({ ...x, purpose: 'operations' })),
    ...events('b', 'ACTION_ALLOW', ['id'], true),
    signal('c', 'budget.threshold_reached', 300),
    signal('d', 'budget.exceeded', 500),
  ])
    r.add(e);
  const [use] = r.result();
  assert.equal(use?.rowsServed, 4);
  assert.deepEqual(use?.purposes, [
    { purpose: '', requests: 1 },
    { purpose: 'operations', requests: 3 },
  ]);
  assert.deepEqual(use?.budgets, [
    {
      budgetId: 'b',
      counter: 'b:p=operations',
      onExceed: 'deny',
      thresholdsReached: 1,
      exceeded: 1,
      metrics: [{ metric: 'patients', limit: 500, peak: 600 }],
      lastSignal: '2026-01-01T00:00:05.000Z',
    },
  ]);
});
