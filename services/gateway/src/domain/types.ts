import type { Decision as PolicyDecision, Strategy } from '@phigate/model';

export {
  Action,
  type Analysis,
  type ColumnMask,
  type ColumnName,
  globMatch,
  type Identity,
  type MaskingPlan,
  type StatementFacts,
  Strategy,
  type TableName,
} from '@phigate/model';

/** A policy decision as the gateway holds it: with the id the policy service gave it. */
export interface Decision extends PolicyDecision {
  decisionId: string;
}

/** A result column as described by the upstream, with its source column when the upstream knows it. */
export interface ResultColumn {
  name: string;
  /** Upstream type name, e.g. int8, text, date. */
  type: string;
  source?: { schema: string; table: string; column: string };
  /** Snowflake upstreams: the column's precision and scale (NUMBER, TIME, TIMESTAMP_*) and nullability. */
  precision?: number;
  scale?: number;
  nullable?: boolean;
  /** PostgreSQL upstreams: the type's OID and modifier (what the PostgreSQL wire door reports). */
  typeOid?: number;
  typeMod?: number;
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
