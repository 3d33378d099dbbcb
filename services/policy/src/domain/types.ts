/** What policy can decide for a statement. */
export const Action = { ALLOW: 'allow', DENY: 'deny', REQUIRE_APPROVAL: 'require_approval' } as const;
export type Action = (typeof Action)[keyof typeof Action];

/** Masking strategies policy can ask for. */
export const Strategy = {
  NONE: 'none',
  REDACT: 'redact',
  PARTIAL: 'partial',
  NULLIFY: 'nullify',
  TOKEN: 'token',
  SCRUB: 'scrub',
} as const;
export type Strategy = (typeof Strategy)[keyof typeof Strategy];

export interface TableName {
  database: string;
  schema: string;
  name: string;
}

export interface ColumnName {
  table: TableName;
  column: string;
}

/** The gateway's analysis of one statement. */
export interface StatementFacts {
  kind: string;
  tablesRead: TableName[];
  tablesWritten: TableName[];
  columnsRead: ColumnName[];
  columnsWritten: ColumnName[];
  functions: string[];
  hasWhere: boolean;
  whereTriviallyTrue: boolean;
  hasLimit: boolean;
  columnsResolved: boolean;
}

export interface EvaluationInput {
  identity: { subject: string; clientId: string; groups: string[] };
  connection: string;
  role: string;
  frontDoor: string;
  analysis: { dialect: string; fingerprint: string; understood: boolean; error: string; statements: StatementFacts[] };
}

export interface ColumnMask {
  schema: string;
  table: string;
  column: string;
  strategy: Strategy;
  keepLast: number;
}

export interface Decision {
  action: Action;
  ruleIds: string[];
  reasons: string[];
  policyRevision: string;
  maskingPlan: { columns: ColumnMask[]; unknownSourceStrategy: Strategy };
  /** 0 = no limit. */
  rowLimit: number;
  approverGroups: string[];
}
