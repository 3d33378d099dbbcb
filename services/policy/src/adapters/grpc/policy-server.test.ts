import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Strategy } from '@phigate/model';
import { toResponse } from './policy-server.js';

type Decision = Parameters<typeof toResponse>[1];

test('a decision goes on the wire through the shared enum maps', () => {
  const d = {
    action: 'require_approval',
    ruleIds: ['r1'],
    reasons: ['held'],
    policyRevision: 'rev',
    maskingPlan: {
      columns: Object.values(Strategy).map((strategy, i) => ({ schema: 's', table: 't', column: `c${i}`, strategy })),
      unknownSourceStrategy: 'redact',
      canary: 'block',
    },
    rowLimit: 0,
    approverGroups: ['g'],
    approval: { groups: ['g'], quorum: 2, expiresInSec: 60 },
  } as Decision;
  const r = toResponse('d1', d);
  assert.equal(r.action, 'ACTION_REQUIRE_APPROVAL');
  assert.deepEqual(
    r.maskingPlan?.columns.map((c) => c.strategy),
    Object.values(Strategy).map((s) => `STRATEGY_${s.toUpperCase()}`),
  );
  assert.equal(r.maskingPlan?.unknownSourceStrategy, 'STRATEGY_REDACT');
  assert.equal(r.maskingPlan?.canary, 'CANARY_MODE_BLOCK');
  assert.equal(toResponse('d2', { ...d, maskingPlan: { columns: [], unknownSourceStrategy: 'nullify' } }).maskingPlan?.canary, 'CANARY_MODE_OFF');
});
