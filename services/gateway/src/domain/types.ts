/** An authenticated caller (never the token). */
export interface Identity {
  subject: string;
  clientId: string;
  groups: string[];
  issuer: string;
}

export interface TableName {
  database: string;
  schema: string;
  name: string;
}

export interface ColumnName {
  table: TableName;
  column: string;
}

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

export interface Analysis {
  dialect: 'postgresql' | 'snowflake';
  fingerprint: string;
  understood: boolean;
  error: string;
  statements: StatementFacts[];
}

export const Action = { ALLOW: 'allow', DENY: 'deny', REQUIRE_APPROVAL: 'require_approval' } as const;
export type Action = (typeof Action)[keyof typeof Action];

export const Strategy = { NONE: 'none', REDACT: 'redact', PARTIAL: 'partial', NULLIFY: 'nullify', TOKEN: 'token', SCRUB: 'scrub' } as const;
export type Strategy = (typeof Strategy)[keyof typeof Strategy];

export interface ColumnMask {
  schema: string;
  table: string;
  column: string;
  strategy: Strategy;
  keepLast: number;
}

export interface MaskingPlan {
  columns: ColumnMask[];
  unknownSourceStrategy: Strategy;
}

export interface Decision {
  decisionId: string;
  action: Action;
  ruleIds: string[];
  reasons: string[];
  policyRevision: string;
  maskingPlan: MaskingPlan;
  rowLimit: number;
  approverGroups: string[];
}

/** A result column as described by the upstream, with its source column when the upstream knows it. */
export interface ResultColumn {
  name: string;
  /** Upstream type name, e.g. int8, text, date. */
  type: string;
  source?: { schema: string; table: string; column: string };
}

/** A text cell; null is SQL NULL. */
export type Cell = string | null;

/** What masking should do to each result column. */
export interface ResultColumnMask {
  index: number;
  name: string;
  strategy: Strategy;
  keepLast: number;
}

export interface MaskReportColumn {
  index: number;
  name: string;
  strategy: Strategy;
  valuesMasked: number;
}
