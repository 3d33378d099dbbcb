import type { Analysis, Identity } from '@phigate/model';

export { Action, Channel, type ColumnFlow, type ColumnMask, type ColumnName, type StatementFacts, Strategy, type TableName } from '@phigate/model';

/** What one evaluation looks at. The clock is not part of it: `evaluateAt` takes `now` separately. */
export interface EvaluationInput {
  identity: Pick<Identity, 'subject' | 'clientId' | 'groups'>;
  connection: string;
  role: string;
  frontDoor: string;
  /** The purpose of use the client stated ('' or absent: none). */
  purpose?: string;
  analysis: Analysis;
}

export type { ApprovalRequirement, Decision } from '@phigate/model';
