// Policy replay: what a candidate policy would have decided for statements the gateway recorded.
// Pure: a recorded statement (rebuilt into the same EvaluationInput the gRPC adapter builds) is
// evaluated with `evaluateAt` at the instant it was recorded, and the candidate decision is
// compared with the recorded one. The tally is bounded (counters and a few examples per
// transition), so a replay over millions of statements keeps flat memory.
import { STRICTNESS } from '@phigate/model';
import type { PolicyDocument } from './document.js';
import { evaluateAt } from './evaluate.js';
import { columnMatches, tableMatches } from './patterns.js';
import { type Action, type ColumnMask, type ColumnName, type Decision, type EvaluationInput, Strategy } from './types.js';

/** The parts of a recorded `policy.decided` that replay compares. */
export interface RecordedDecision {
  action: Action;
  ruleIds: string[];
  policyRevision: string;
  masks: ColumnMask[];
  unknownSourceStrategy: Strategy;
  rowLimit: number;
}

/** One recorded statement: what was asked (the evaluation input), and what was decided. */
export interface RecordedStatement {
  /** The audit store's sequence number of the record. */
  seq: string;
  requestId: string;
  /** When the gateway recorded it; the instant the candidate is evaluated at (time windows replay). */
  time: Date;
  statement: string;
  dialect: string;
  input: EvaluationInput;
  recorded: RecordedDecision;
}

export interface MaskingChange {
  /** `schema.table.column`, or `(expressions)` for result columns with no provable source. */
  column: string;
  from: Strategy;
  to: Strategy;
}

/** How one statement's outcome differs under the candidate. */
export interface OutcomeChange {
  /** `allow→deny`, …, or `masking` / `row-limit` when the action stays and only those change. */
  transition: string;
  from: Action;
  to: Action;
  recordedRules: string[];
  candidateRules: string[];
  masking: MaskingChange[];
  rowLimit?: { from: number; to: number };
}

/** The unknown-source column in a masking change. */
export const EXPRESSIONS = '(expressions)';

const strictest = (masks: readonly ColumnMask[], c: ColumnName): Strategy =>
  masks
    .filter((m) => columnMatches(`${m.schema}.${m.table}.${m.column}`, c))
    .reduce<Strategy>((a, m) => (STRICTNESS[m.strategy] > STRICTNESS[a] ? m.strategy : a), Strategy.NONE);

/** The concrete columns a statement reads: a `*` stands for every column either plan masks on its table. */
function columnsRead(input: EvaluationInput, plans: readonly (readonly ColumnMask[])[]): ColumnName[] {
  const out = new Map<string, ColumnName>();
  for (const s of input.analysis.statements) {
    for (const c of s.columnsRead) {
      const cols =
        c.column === '*' ? plans.flat().flatMap((m) => (tableMatches(`${m.schema}.${m.table}`, c.table) ? [{ table: c.table, column: m.column }] : [])) : [c];
      for (const col of cols) out.set(`${col.table.schema}.${col.table.name}.${col.column}`, col);
    }
  }
  return [...out.values()];
}

/** Per column the statement reads, the strategy each decision applies, where they differ. */
export function maskingChanges(input: EvaluationInput, recorded: RecordedDecision, candidate: Decision): MaskingChange[] {
  const before = recorded.masks;
  const after = candidate.maskingPlan.columns;
  const out: MaskingChange[] = [];
  for (const c of columnsRead(input, [before, after])) {
    const from = strictest(before, c);
    const to = strictest(after, c);
    if (from !== to) out.push({ column: `${c.table.schema}.${c.table.name}.${c.column}`, from, to });
  }
  const { unknownSourceStrategy } = candidate.maskingPlan;
  if (recorded.unknownSourceStrategy !== unknownSourceStrategy)
    out.push({ column: EXPRESSIONS, from: recorded.unknownSourceStrategy, to: unknownSourceStrategy });
  return out;
}

/** Compares a candidate decision with the recorded one; undefined when the outcome is the same. */
export function compareDecision(input: EvaluationInput, recorded: RecordedDecision, candidate: Decision): OutcomeChange | undefined {
  const base = { from: recorded.action, to: candidate.action, recordedRules: recorded.ruleIds, candidateRules: candidate.ruleIds };
  if (recorded.action !== candidate.action) return { ...base, transition: `${recorded.action}→${candidate.action}`, masking: [] };
  // A denied statement released nothing, whatever its plan said.
  if (candidate.action === 'deny') return undefined;
  const masking = maskingChanges(input, recorded, candidate);
  const rowLimit = recorded.rowLimit !== candidate.rowLimit ? { from: recorded.rowLimit, to: candidate.rowLimit } : undefined;
  if (!masking.length && !rowLimit) return undefined;
  return { ...base, transition: masking.length ? 'masking' : 'row-limit', masking, ...(rowLimit ? { rowLimit } : {}) };
}

/** Evaluates one recorded statement against the candidate, at the instant it was recorded. */
export function replayStatement(doc: PolicyDocument, revision: string, r: RecordedStatement): OutcomeChange | undefined {
  return compareDecision(r.input, r.recorded, evaluateAt(doc, revision, r.input, r.time));
}

export interface ReplayExample {
  seq: string;
  requestId: string;
  time: string;
  subject: string;
  connection: string;
  /** The statement with its literals redacted. */
  statement: string;
  change: OutcomeChange;
}

export interface ReplaySummary {
  candidateRevision: string;
  statements: number;
  changed: number;
  /** Records that could not be rebuilt into a request, by reason. */
  skipped: Record<string, number>;
  transitions: Record<string, number>;
  /** Changed outcomes per rule of the candidate decision that produced them. */
  rules: Record<string, number>;
  /** Masking changes per `column from→to`. */
  columns: Record<string, number>;
  /** The recorded revisions replayed, with how many statements each. */
  recordedRevisions: Record<string, number>;
  /** Changed outcomes per recorded revision: none under the candidate's own revision, if replay decides as the service did. */
  changedByRecordedRevision: Record<string, number>;
  examples: ReplayExample[];
}

const bump = (m: Record<string, number>, k: string, n = 1) => {
  m[k] = (m[k] ?? 0) + n;
};

/** Accumulates a replay in bounded memory: counters, and the first `examplesPerTransition` changes of each transition. */
export class ReplayTally {
  private readonly summary: ReplaySummary;

  constructor(
    candidateRevision: string,
    private readonly redact: (sql: string, dialect: string) => string,
    private readonly examplesPerTransition = 3,
  ) {
    this.summary = {
      candidateRevision,
      statements: 0,
      changed: 0,
      skipped: {},
      transitions: {},
      rules: {},
      columns: {},
      recordedRevisions: {},
      changedByRecordedRevision: {},
      examples: [],
    };
  }

  skip(reason: string): void {
    bump(this.summary.skipped, reason);
  }

  add(r: RecordedStatement, change: OutcomeChange | undefined): void {
    const s = this.summary;
    s.statements++;
    const revision = r.recorded.policyRevision || '(none)';
    bump(s.recordedRevisions, revision);
    if (!change) return;
    s.changed++;
    bump(s.changedByRecordedRevision, revision);
    bump(s.transitions, change.transition);
    for (const id of change.candidateRules) bump(s.rules, id);
    for (const m of change.masking) bump(s.columns, `${m.column} ${m.from}→${m.to}`);
    if ((s.transitions[change.transition] ?? 0) <= this.examplesPerTransition) {
      s.examples.push({
        seq: r.seq,
        requestId: r.requestId,
        time: r.time.toISOString(),
        subject: r.input.identity.subject,
        connection: r.input.connection,
        statement: this.redact(r.statement, r.dialect),
        change,
      });
    }
  }

  result(): ReplaySummary {
    return this.summary;
  }
}

/** Replays a stream of recorded statements (or reasons a record was skipped) against a candidate. */
export async function replay(
  doc: PolicyDocument,
  revision: string,
  records: AsyncIterable<RecordedStatement | { skipped: string }>,
  tally: ReplayTally,
): Promise<ReplaySummary> {
  for await (const r of records) {
    if ('skipped' in r) tally.skip(r.skipped);
    else tally.add(r, replayStatement(doc, revision, r));
  }
  return tally.result();
}

/** The `--fail-on-changes N` gate: true when more than `limit` outcomes changed. */
export const exceedsChangeLimit = (s: ReplaySummary, limit: number | undefined): boolean => limit !== undefined && s.changed > limit;
