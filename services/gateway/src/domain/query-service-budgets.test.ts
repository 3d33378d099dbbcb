// PHI budgets in the request lifecycle, without a stack: what is counted (after the row cap, raw
// patient keys), what is recorded on a refusal and a hold, and no budget call when none applies.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Catalog } from '@phigate/sql';
import type { Binding } from './bindings.js';
import type { Budget, BudgetCheck, BudgetPort, BudgetScope, BudgetUse } from './budgets.js';
import type { DomainEvent, UpstreamPort } from './ports.js';
import type { Prepared } from './query-service.js';
import { QueryService } from './query-service.js';
import type { Analysis, Decision } from './types.js';

const read: Analysis = {
  dialect: 'postgresql',
  fingerprint: 'f',
  understood: true,
  error: '',
  statements: [
    {
      kind: 'select',
      tablesRead: [{ database: 'd', schema: 'public', name: 'patients' }],
      tablesWritten: [],
      columnsRead: [],
      columnsWritten: [],
      columnsFiltered: [],
      flows: [],
      functions: [],
      hasWhere: false,
      whereTriviallyTrue: false,
      hasLimit: false,
      columnsResolved: true,
    },
  ],
};
const allow: Decision = {
  decisionId: 'd1',
  action: 'allow',
  ruleIds: ['r'],
  reasons: ['reads'],
  policyRevision: 'rev',
  maskingPlan: { columns: [], unknownSourceStrategy: 'none' },
  rowLimit: 5,
  approverGroups: [],
};
const budget = (onExceed: Budget['onExceed']): Budget => ({
  id: 'b',
  windowSec: 600,
  limits: { patients: 3 },
  columns: ['*.patients.*'],
  clear: ['none'],
  patientColumns: ['*.patients.id'],
  onExceed,
  alertAt: 0.8,
  ...(onExceed === 'require_approval' ? { approvers: ['phi-approvers'] } : {}),
});

/** A budget store that records each call and answers `allowed`, reporting the patients limit exceeded when not. */
function port(allowed: boolean) {
  const calls: Array<{ scopes: readonly BudgetScope[]; use: BudgetUse }> = [];
  const p: BudgetPort = {
    patientHash: (_c, v) => `h${v}`,
    consume: async (_s, scopes, use): Promise<BudgetCheck> => {
      calls.push({ scopes, use });
      return {
        allowed,
        states: scopes.map((s) => ({
          budget: s.budget,
          counter: s.counter,
          before: { rows: 0, patients: 0, bytes: 0 },
          after: { rows: use.rows, patients: use.patients.length, bytes: use.bytes },
          exceeded: allowed ? [] : ['patients'],
          thresholds: [],
        })),
      };
    },
  };
  return { p, calls };
}

function service(budgets: BudgetPort, bindings: Binding[], events: string[], held?: (p: Prepared) => void) {
  const upstream: UpstreamPort = {
    catalog: async () => new Catalog('d', []),
    execute: async (_c, _r, _sql, _p, sink) => {
      await sink.columns([{ name: 'id', type: 'int4', source: { schema: 'public', table: 'patients', column: 'id' } }]);
      // Eight rows of seven patients; policy caps the result at five.
      await sink.rows([['1'], ['2'], ['2'], ['3'], ['4'], ['5'], ['6'], ['7']]);
      return { command: 'SELECT', rowCount: 8, upstreamMs: 1, finish: async () => {} };
    },
  };
  return new QueryService({
    connections: () => new Map([['c', { name: 'c', type: 'postgresql', dialect: 'postgresql', database: 'd', defaultSchema: 'public' }]]),
    bindings: () => bindings,
    analyse: () => read,
    policy: { evaluate: async () => allow },
    upstream,
    masking: { open: () => assert.fail('nothing to mask') },
    audit: { record: async (_ctx, list: DomainEvent[]) => void events.push(list.map((e) => e.type).join(',')) },
    rateLimit: { take: async () => ({ allowed: true, retryAfterSec: 0, resetsAt: '', perMinute: 1 }) },
    budgets,
    limits: { maxSqlBytes: 1000, maxRows: 100 },
    ...(held
      ? {
          held: {
            hold: async (p: Prepared) => {
              held(p);
              return { requestId: p.ctx.requestId, approvalId: 'a1', expiresAt: '' };
            },
          },
        }
      : {}),
  });
}

const request = {
  requestId: 'r1',
  sessionId: 's',
  frontDoor: 'http',
  identity: { subject: 'u', clientId: 'u', groups: ['g'], issuer: 'i' },
  connection: 'c',
  sql: 'SELECT id FROM patients',
  params: [],
  traceparent: '',
};
const bound = (b?: Budget): Binding[] => [{ groups: ['g'], connections: { c: 'reader' }, ...(b ? { budgets: [b] } : {}) }];

test('what leaves is counted once, after the row cap: rows, distinct raw patient keys, bytes', async () => {
  const { p, calls } = port(true);
  const events: string[] = [];
  const r = await service(p, bound(budget('deny')), events).run(request);
  assert.equal(r.rows.length, 5);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0]?.use, { rows: 5, bytes: 5, patients: ['h1', 'h2', 'h3', 'h4'] });
  assert.deepEqual(events, ['query.served']);
});

test('no budget applies: no budget call', async () => {
  const { p, calls } = port(true);
  await service(p, bound(), []).run(request);
  assert.equal(calls.length, 0);
});

test('a deny budget refuses: nothing released; the statement, its decision, budget.exceeded and query.failed are recorded', async () => {
  const { p } = port(false);
  const events: string[] = [];
  await assert.rejects(service(p, bound(budget('deny')), events).run(request), (e: { code: string; message: string }) => {
    assert.equal(e.code, 'GATEWAY_BUDGET_EXCEEDED');
    assert.match(e.message, /^PHI budget 'b' exceeded: this result would bring patients to 4 of 3 in 10 min \(0 used\); no rows were released$/);
    return true;
  });
  assert.deepEqual(events, ['query.received,policy.decided,budget.exceeded,query.failed']);
});

test('a require_approval budget holds the statement: approver groups, the budget as rule and reason, and the budgets the approval lets it past', async () => {
  const { p } = port(false);
  const events: string[] = [];
  let heldAs: Prepared | undefined;
  const outcome = await service(p, bound(budget('require_approval')), events, (x) => {
    heldAs = x;
  }).submit(request);
  assert.equal(outcome.kind, 'held');
  assert.deepEqual(events, ['query.received,policy.decided,budget.exceeded']);
  assert.equal(heldAs?.decision.action, 'require_approval');
  assert.deepEqual(heldAs?.decision.ruleIds, ['r', 'budget:b']);
  assert.deepEqual(heldAs?.decision.approval, { groups: ['phi-approvers'], quorum: 1, expiresInSec: 1800 });
  assert.match(
    heldAs?.decision.reasons[1] ?? '',
    /^PHI budget 'b': this result would bring patients to 4 of 3 in 10 min \(0 used\); an approver may let it through$/,
  );
  assert.deepEqual(heldAs?.budgetApproved, ['b']);
});

test('without a held-statement workflow, a require_approval budget refuses like deny', async () => {
  const { p } = port(false);
  await assert.rejects(service(p, bound(budget('require_approval')), []).run(request), { code: 'GATEWAY_BUDGET_EXCEEDED' });
});
