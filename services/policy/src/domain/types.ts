import type { Analysis, Identity } from '@phigate/model';

export { Action, type ColumnMask, type ColumnName, type Decision, type StatementFacts, Strategy, type TableName } from '@phigate/model';

/** What one evaluation looks at. */
export interface EvaluationInput {
  identity: Pick<Identity, 'subject' | 'clientId' | 'groups'>;
  connection: string;
  role: string;
  frontDoor: string;
  analysis: Analysis;
}
