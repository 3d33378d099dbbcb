import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STRATEGY_TO_PROTO } from '@phigate/proto';
import { decisionFromProto } from './policy-client.js';

type Wire = Parameters<typeof decisionFromProto>[0];

const wire = (over: Partial<Wire> = {}): Wire =>
  ({
    decisionId: 'd1',
    action: 'ACTION_ALLOW',
    ruleIds: ['r1'],
    reasons: ['ok'],
    policyRevision: 'rev',
    maskingPlan: {
      columns: Object.values(STRATEGY_TO_PROTO).map((strategy, i) => ({ schema: 's', table: 't', column: `c${i}`, strategy, keepLast: 0 })),
      unknownSourceStrategy: 'STRATEGY_NULLIFY',
      canary: 'CANARY_MODE_REPORT',
      visiblePhiKinds: [],
    },
    rowLimit: 10,
    approverGroups: [],
    approvalQuorum: 0,
    approvalExpiresInSec: 0,
    ...over,
  }) as Wire;

test('a wire decision becomes the model one through the shared enum maps', () => {
  const d = decisionFromProto(wire());
  assert.equal(d.action, 'allow');
  assert.deepEqual(
    d.maskingPlan.columns.map((c) => c.strategy),
    Object.keys(STRATEGY_TO_PROTO),
  );
  assert.equal(d.maskingPlan.unknownSourceStrategy, 'nullify');
  assert.equal(d.maskingPlan.canary, 'report');
});

test('what the contract does not name fails closed: deny, redact, canary block; unset canary is off', () => {
  const d = decisionFromProto(
    wire({
      action: 'ACTION_UNSPECIFIED',
      maskingPlan: {
        columns: [{ schema: 's', table: 't', column: 'c', strategy: 'STRATEGY_UNSPECIFIED', keepLast: 0 }],
        unknownSourceStrategy: 'UNRECOGNIZED',
        canary: 'UNRECOGNIZED',
        visiblePhiKinds: [],
      },
    } as Partial<Wire>),
  );
  assert.equal(d.action, 'deny');
  assert.deepEqual(d.ruleIds, ['invalid-decision']);
  assert.equal(d.maskingPlan.columns[0]!.strategy, 'redact');
  assert.equal(d.maskingPlan.unknownSourceStrategy, 'redact');
  assert.equal(d.maskingPlan.canary, 'block');
  assert.equal(decisionFromProto(wire({ maskingPlan: undefined } as Partial<Wire>)).maskingPlan.canary, 'off');
});
