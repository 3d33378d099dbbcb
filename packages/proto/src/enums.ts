// The one mapping between the wire enums (generated) and the hand-written model's string unions
// (@phigate/model) for Strategy, CanaryMode and Action. Every adapter that converts a masking plan,
// a decision or a masking report uses these; a model value without a wire value does not compile.
import { type Action, type CanaryMode, Strategy } from '@phigate/model';
import { CanaryMode as WireCanaryMode, Strategy as WireStrategy } from './gen/phigate/masking/v1/masking.pb.js';
import { Action as WireAction } from './gen/phigate/policy/v1/policy.pb.js';

function inverse<M extends string, W extends string>(to: Readonly<Record<M, W>>): Readonly<Partial<Record<W, M>>> {
  return Object.freeze(Object.fromEntries(Object.entries(to).map(([m, w]) => [w, m])) as Partial<Record<W, M>>);
}

export const STRATEGY_TO_PROTO: Readonly<Record<Strategy, WireStrategy>> = Object.freeze({
  [Strategy.NONE]: WireStrategy.STRATEGY_NONE,
  [Strategy.REDACT]: WireStrategy.STRATEGY_REDACT,
  [Strategy.PARTIAL]: WireStrategy.STRATEGY_PARTIAL,
  [Strategy.NULLIFY]: WireStrategy.STRATEGY_NULLIFY,
  [Strategy.TOKEN]: WireStrategy.STRATEGY_TOKEN,
  [Strategy.SCRUB]: WireStrategy.STRATEGY_SCRUB,
  [Strategy.SAFE_HARBOR_DATE]: WireStrategy.STRATEGY_SAFE_HARBOR_DATE,
  [Strategy.SAFE_HARBOR_ZIP]: WireStrategy.STRATEGY_SAFE_HARBOR_ZIP,
  [Strategy.SAFE_HARBOR_AGE]: WireStrategy.STRATEGY_SAFE_HARBOR_AGE,
});
/** Wire → model; unspecified and unknown values are absent (each caller fails closed its own way). */
export const STRATEGY_FROM_PROTO = inverse(STRATEGY_TO_PROTO);

export const CANARY_TO_PROTO: Readonly<Record<CanaryMode, WireCanaryMode>> = Object.freeze({
  off: WireCanaryMode.CANARY_MODE_OFF,
  report: WireCanaryMode.CANARY_MODE_REPORT,
  block: WireCanaryMode.CANARY_MODE_BLOCK,
});
const CANARY_FROM = inverse(CANARY_TO_PROTO);
/**
 * Wire → model. Unset or unspecified is `off` (a peer that predates the canary asked for nothing);
 * a value this build does not know is `undefined`, which callers treat as a broken contract.
 */
export function canaryFromProto(c: WireCanaryMode | undefined): CanaryMode | undefined {
  if (c === undefined || c === WireCanaryMode.CANARY_MODE_UNSPECIFIED) return 'off';
  return CANARY_FROM[c];
}

export const ACTION_TO_PROTO: Readonly<Record<Action, WireAction>> = Object.freeze({
  allow: WireAction.ACTION_ALLOW,
  deny: WireAction.ACTION_DENY,
  require_approval: WireAction.ACTION_REQUIRE_APPROVAL,
});
/** Wire → model; unspecified and unknown values are absent (the gateway reads them as deny). */
export const ACTION_FROM_PROTO = inverse(ACTION_TO_PROTO);
