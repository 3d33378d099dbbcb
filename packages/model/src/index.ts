// The domain vocabulary services share. Plain types and `as const` objects only: no transport,
// no generated code (adapters convert between these and packages/proto).

/** An authenticated caller, as established from a validated access token (never the token). */
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

/** The gateway's analysis of one SQL statement, which policy decides on. */
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
  /** True when every column reference could be pinned to a real table column. */
  columnsResolved: boolean;
  /** Columns used in WHERE or HAVING conditions: filtering on a masked column can reveal its values. */
  columnsFiltered: ColumnName[];
  /**
   * Every way a column's value can shape what the caller observes besides its own result column:
   * the number of rows, their order, whether the statement fails, how long it takes, or a value
   * that is not masked as that column is (written elsewhere, or steering another column).
   */
  flows: ColumnFlow[];
}

/** The channels through which a column's value can be observed by inference. */
export const Channel = {
  /** The number of rows (LIMIT/OFFSET, set-returning functions, GROUP BY, DISTINCT, set operations). */
  ROWS: 'rows',
  /** The order of rows (ORDER BY, window ORDER BY / PARTITION BY, DISTINCT ON). */
  ORDER: 'order',
  /** Whether the statement fails (casts, arithmetic, functions that can raise on some values). */
  ERROR: 'error',
  /** How long it takes (sleep and wait functions, costly work chosen by the value). */
  DELAY: 'delay',
  /** Another value: written to a column, or steering an expression that is not masked with it. */
  VALUE: 'value',
} as const;
export type Channel = (typeof Channel)[keyof typeof Channel];

/** One column reaching one channel, and the construct it goes through (for reasons and audit). */
export interface ColumnFlow {
  column: ColumnName;
  channel: Channel;
  /** The construct, e.g. `ORDER BY`, `LIMIT`, `generate_series`, `cast to integer`. */
  via: string;
}

export type Dialect = 'postgresql' | 'snowflake';

export interface Analysis {
  dialect: Dialect;
  /** Literal-normalised fingerprint (never contains literals). */
  fingerprint: string;
  /** False when the analyser could not fully understand the input: fail closed. */
  understood: boolean;
  error: string;
  /**
   * When not understood because the database itself would reject the statement: its SQLSTATE,
   * message and 1-based position, as PostgreSQL reports them (a syntax error 42601, an unknown
   * relation 42P01). The message may quote a token of the statement: scrub it before it leaves.
   */
  failure?: AnalysisFailure;
  statements: StatementFacts[];
}

export interface AnalysisFailure {
  sqlstate: string;
  message: string;
  position?: number;
}

/** The rule id policy reports when it denies a statement the analyser could not understand. */
export const UNKNOWN_STATEMENT_RULE = 'unknown-statement';

/** What policy can decide for a statement. */
export const Action = { ALLOW: 'allow', DENY: 'deny', REQUIRE_APPROVAL: 'require_approval' } as const;
export type Action = (typeof Action)[keyof typeof Action];

/** How a column's values are transformed before they leave the gateway. */
export const Strategy = {
  NONE: 'none',
  REDACT: 'redact',
  PARTIAL: 'partial',
  NULLIFY: 'nullify',
  TOKEN: 'token',
  SCRUB: 'scrub',
  /** HIPAA Safe Harbor: dates to their year; dates implying an age over 89 to "90+". */
  SAFE_HARBOR_DATE: 'safe_harbor_date',
  /** HIPAA Safe Harbor: ZIP to its first three digits; "000" for low-population prefixes. */
  SAFE_HARBOR_ZIP: 'safe_harbor_zip',
  /** HIPAA Safe Harbor: ages over 89 to "90+". */
  SAFE_HARBOR_AGE: 'safe_harbor_age',
} as const;
export type Strategy = (typeof Strategy)[keyof typeof Strategy];

/** A masking rule for source columns (`*` globs a part). */
export interface ColumnMask {
  schema: string;
  table: string;
  column: string;
  strategy: Strategy;
  keepLast: number;
}

/** What the leak canary does when a column the plan leaves untouched looks like PHI. */
export type CanaryMode = 'off' | 'report' | 'block';

export interface MaskingPlan {
  columns: ColumnMask[];
  /** For result columns whose source cannot be proven (expressions). */
  unknownSourceStrategy: Strategy;
  /** Absent means off. */
  canary?: CanaryMode;
  /**
   * PHI kinds of the policy's catalog (`ssn`, `dob`, `mrn`, …) this identity sees in clear in this
   * statement's results: the canary does not flag identifiers of these kinds. Absent means none.
   */
  visiblePhiKinds?: string[];
}

/**
 * What a `require_approval` decision asks of the approvers: at least `quorum` distinct approvers,
 * each in one of `groups`, within `expiresInSec` of the request.
 */
export interface ApprovalRequirement {
  groups: string[];
  quorum: number;
  expiresInSec: number;
}

/** A policy decision, explainable (rule ids, reasons) and reproducible (revision). */
export interface Decision {
  action: Action;
  ruleIds: string[];
  reasons: string[];
  policyRevision: string;
  maskingPlan: MaskingPlan;
  /** 0 = no limit. */
  rowLimit: number;
  approverGroups: string[];
  /** Present exactly when the action is `require_approval`. */
  approval?: ApprovalRequirement;
}

/** Strictness of each strategy: when several masks cover one column, the strictest wins. */
export const STRICTNESS: Readonly<Record<Strategy, number>> = Object.freeze({
  none: 0,
  partial: 1,
  scrub: 2,
  safe_harbor_age: 2,
  safe_harbor_date: 2,
  safe_harbor_zip: 2,
  token: 3,
  redact: 4,
  nullify: 5,
});

/**
 * Matches one name part against a policy pattern part: case-insensitive (PostgreSQL folds unquoted
 * names to lower case and Snowflake to upper case; a policy must mean the same object in both),
 * where `*` matches any run of characters. Gateway and policy both use this one matcher.
 */
export function globMatch(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  const p = pattern.toLowerCase();
  const v = value.toLowerCase();
  if (!p.includes('*')) return p === v;
  return new RegExp(
    `^${p
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  ).test(v);
}
