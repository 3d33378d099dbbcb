import type { Analysis, Identity, Decision as ModelDecision } from '@phigate/model';

export { Action, type ColumnMask, type ColumnName, type StatementFacts, Strategy, type TableName } from '@phigate/model';

/** What one evaluation looks at. The clock is not part of it: `evaluateAt` takes `now` separately. */
export interface EvaluationInput {
  identity: Pick<Identity, 'subject' | 'clientId' | 'groups'>;
  connection: string;
  role: string;
  frontDoor: string;
  analysis: Analysis;
}

/**
 * What a `require_approval` decision asks of the approvers: at least `quorum` distinct approvers,
 * each a member of one of `groups`, within `expiresInSec` of the request. When several approval
 * rules match, the strictest requirement wins (largest quorum, shortest expiry, all groups).
 */
export interface ApprovalRequirement {
  groups: string[];
  quorum: number;
  expiresInSec: number;
}

/**
 * The policy service's decision: `@phigate/model`'s Decision plus what the wire does not carry
 * yet. `approval` is present exactly when the action is `require_approval`.
 */
export interface Decision extends ModelDecision {
  approval?: ApprovalRequirement;
}
