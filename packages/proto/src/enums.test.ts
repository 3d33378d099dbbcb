import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Action, Strategy } from '@phigate/model';
import { ACTION_FROM_PROTO, ACTION_TO_PROTO, CANARY_TO_PROTO, canaryFromProto, STRATEGY_FROM_PROTO, STRATEGY_TO_PROTO } from './enums.js';
import { CanaryMode as WireCanaryMode, Strategy as WireStrategy } from './gen/phigate/masking/v1/masking.pb.js';
import { Action as WireAction } from './gen/phigate/policy/v1/policy.pb.js';

/** Every value of a generated enum but its UNSPECIFIED zero value. */
const specified = (e: Record<string, string>) => Object.values(e).filter((v) => !v.endsWith('_UNSPECIFIED') && v !== 'UNRECOGNIZED');

test('every model strategy and action has one wire value and comes back unchanged', () => {
  for (const s of Object.values(Strategy)) assert.equal(STRATEGY_FROM_PROTO[STRATEGY_TO_PROTO[s]], s);
  for (const a of Object.values(Action)) assert.equal(ACTION_FROM_PROTO[ACTION_TO_PROTO[a]], a);
  for (const c of ['off', 'report', 'block'] as const) assert.equal(canaryFromProto(CANARY_TO_PROTO[c]), c);
});

test('every specified wire value has a model value; unspecified and unknown ones have none', () => {
  assert.deepEqual(
    specified(WireStrategy).filter((w) => STRATEGY_FROM_PROTO[w as WireStrategy] === undefined),
    [],
  );
  assert.deepEqual(
    specified(WireAction).filter((w) => ACTION_FROM_PROTO[w as WireAction] === undefined),
    [],
  );
  assert.deepEqual(
    specified(WireCanaryMode).filter((w) => canaryFromProto(w as WireCanaryMode) === undefined),
    [],
  );
  assert.equal(STRATEGY_FROM_PROTO[WireStrategy.STRATEGY_UNSPECIFIED], undefined);
  assert.equal(ACTION_FROM_PROTO[WireAction.ACTION_UNSPECIFIED], undefined);
});

test('an unset or unspecified canary mode is off; one this build does not know is undefined (callers fail closed)', () => {
  assert.equal(canaryFromProto(undefined), 'off');
  assert.equal(canaryFromProto(WireCanaryMode.CANARY_MODE_UNSPECIFIED), 'off');
  assert.equal(canaryFromProto('CANARY_MODE_FROM_THE_FUTURE' as WireCanaryMode), undefined);
});
