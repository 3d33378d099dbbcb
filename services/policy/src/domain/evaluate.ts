import { STRICTNESS } from '@phigate/model';
import type { Match, PolicyDocument, Rule } from './document.js';
import { columnMatches, splitColumnPattern, tableMatches } from './patterns.js';
import { Action, type ColumnMask, type Decision, type EvaluationInput, type StatementFacts, Strategy } from './types.js';

/** Rule id reported when nothing allows a statement. */
export const DEFAULT_DENY = 'default-deny';
/** Rule id reported when the analyser could not understand the input. */
export const UNKNOWN_DENY = 'unknown-statement';

const SEVERITY: Record<Action, number> = { allow: 0, require_approval: 1, deny: 2 };

type Who = Pick<EvaluationInput, 'identity' | 'connection' | 'frontDoor'>;

function identityMatches(m: Match, who: Who): boolean {
  if (m.groups && !m.groups.some((g) => who.identity.groups.includes(g))) return false;
  if (m.identities && !m.identities.includes(who.identity.subject) && !m.identities.includes(who.identity.clientId)) return false;
  if (m.connections && !m.connections.includes(who.connection)) return false;
  if (m.frontDoors && !m.frontDoors.includes(who.frontDoor)) return false;
  return true;
}

/**
 * `failClosed`: for deny and approval rules, a trigger that cannot be evaluated (the analyser could
 * not pin every column) counts as matched; for allow rules it counts as not matched.
 */
function statementMatches(m: Match, s: StatementFacts, failClosed: boolean, masks: readonly ColumnMask[]): boolean {
  if (m.statements && !m.statements.includes(s.kind)) return false;
  const tables = [...s.tablesRead, ...s.tablesWritten];
  if (m.tables && !tables.every((t) => m.tables!.some((p) => tableMatches(p, t)))) return false;
  if (m.anyTable && !tables.some((t) => m.anyTable!.some((p) => tableMatches(p, t)))) return false;
  if (m.anyColumn) {
    const cols = [...s.columnsRead, ...s.columnsWritten];
    // A `*` the analyser could not expand stands for every column of its table.
    const hit = cols.some((c) => m.anyColumn!.some((p) => columnMatches(p, c) || (c.column === '*' && columnMatches(p.replace(/[^.]+$/, '*'), c))));
    if (!hit && !(failClosed && !s.columnsResolved)) return false;
  }
  if (m.unboundedWrite !== undefined) {
    const unbounded = (s.kind === 'update' || s.kind === 'delete') && (!s.hasWhere || s.whereTriviallyTrue);
    if (unbounded !== m.unboundedWrite) return false;
  }
  if (m.maskedColumnInPredicate !== undefined) {
    const masked = s.columnsFiltered.some((c) => masks.some((k) => columnMatches(`${k.schema}.${k.table}.${k.column}`, c)));
    const hit = masked || (failClosed && s.hasWhere && !s.columnsResolved);
    if (hit !== m.maskedColumnInPredicate) return false;
  }
  // pg_catalog.pg_read_file is pg_read_file: match on the function's own name, whatever the schema.
  if (m.functions && !s.functions.some((f) => m.functions!.includes(f.toLowerCase().split('.').at(-1)!))) return false;
  return true;
}

interface StatementVerdict {
  action: Action;
  rules: Rule[];
}

/**
 * Deny overrides: any matching deny rule denies. Otherwise an allow rule must match (default
 * deny), and a matching require_approval rule then holds the statement for approval: approval
 * gates access that is otherwise allowed, it never grants access on its own.
 */
function judgeStatement(doc: PolicyDocument, who: Who, s: StatementFacts, masks: readonly ColumnMask[]): StatementVerdict {
  const matched = doc.rules.filter((r) => identityMatches(r.match, who) && statementMatches(r.match, s, r.action !== 'allow', masks));
  const denies = matched.filter((r) => r.action === 'deny');
  if (denies.length) return { action: Action.DENY, rules: denies };
  const allows = matched.filter((r) => r.action === 'allow');
  if (!allows.length) return { action: Action.DENY, rules: [] };
  const approvals = matched.filter((r) => r.action === 'require_approval');
  if (approvals.length) return { action: Action.REQUIRE_APPROVAL, rules: [...approvals, ...allows] };
  return { action: Action.ALLOW, rules: allows };
}

/** Evaluates one request against a policy document. Pure: the same input and revision give the same decision. */
export function evaluate(doc: PolicyDocument, revision: string, input: EvaluationInput): Omit<Decision, 'policyRevision'> & { policyRevision: string } {
  const who: Who = input;
  const base = { policyRevision: revision, maskingPlan: { columns: [], unknownSourceStrategy: Strategy.REDACT }, rowLimit: 0, approverGroups: [] };
  if (!input.analysis.understood || input.analysis.statements.length === 0) {
    return { ...base, action: Action.DENY, ruleIds: [UNKNOWN_DENY], reasons: ['the statement could not be fully analysed, and unknown statements are denied'] };
  }
  const masks = maskColumns(doc, who);
  const verdicts = input.analysis.statements.map((s) => judgeStatement(doc, who, s, masks));
  const worst = verdicts.reduce((a, b) => (SEVERITY[b.action] > SEVERITY[a.action] ? b : a));
  if (worst.action === Action.DENY) {
    const denied = verdicts.filter((v) => v.action === Action.DENY);
    const rules = denied.flatMap((v) => v.rules);
    if (!rules.length) {
      return { ...base, action: Action.DENY, ruleIds: [DEFAULT_DENY], reasons: ['no policy rule allows this statement for this identity'] };
    }
    return { ...base, action: Action.DENY, ruleIds: unique(rules.map((r) => r.id)), reasons: unique(rules.map((r) => r.reason)) };
  }
  const rules = verdicts.flatMap((v) => v.rules);
  const approverGroups = unique(rules.filter((r) => r.action === 'require_approval').flatMap((r) => r.approvers ?? []));
  const actionRules = worst.action === Action.REQUIRE_APPROVAL ? rules.filter((r) => r.action === 'require_approval') : rules;
  return {
    policyRevision: revision,
    action: worst.action,
    ruleIds: unique(rules.map((r) => r.id)),
    reasons: unique(actionRules.map((r) => r.reason)),
    maskingPlan: maskingPlan(masks, input.analysis.statements),
    rowLimit: rowLimit(doc, who),
    approverGroups,
  };
}

/** The masks that apply to this identity (the strictest per column pattern). */
function maskColumns(doc: PolicyDocument, who: Who): ColumnMask[] {
  const byColumn = new Map<string, ColumnMask>();
  for (const entry of doc.masking) {
    if (!identityMatches(entry.match, who)) continue;
    for (const [pattern, spec] of Object.entries(entry.columns)) {
      const parts = splitColumnPattern(pattern);
      if (!parts) continue;
      const strategy = typeof spec === 'string' ? spec : spec.strategy;
      const keepLast = typeof spec === 'string' ? 4 : (spec.keepLast ?? 4);
      const key = `${parts.schema}.${parts.table}.${parts.column}`.toLowerCase();
      const prev = byColumn.get(key);
      if (!prev || STRICTNESS[strategy] > STRICTNESS[prev.strategy]) byColumn.set(key, { ...parts, strategy, keepLast });
    }
  }
  return [...byColumn.values()].filter((c) => c.strategy !== Strategy.NONE);
}

function maskingPlan(columns: ColumnMask[], statements: StatementFacts[]): Decision['maskingPlan'] {
  // A result column whose source cannot be proven (an expression) could carry a masked column's
  // value, e.g. upper(ssn). If the statement reads any masked column, or cannot say which columns
  // it reads, such result columns are redacted.
  const readsMasked = statements.some(
    (s) => !s.columnsResolved || s.columnsRead.some((c) => c.column === '*' || columns.some((m) => columnMatches(`${m.schema}.${m.table}.${m.column}`, c))),
  );
  return { columns, unknownSourceStrategy: columns.length && readsMasked ? Strategy.REDACT : Strategy.NONE };
}

function rowLimit(doc: PolicyDocument, who: Who): number {
  const limits = doc.rowLimits.filter((l) => identityMatches({ ...l.match }, who)).map((l) => l.limit);
  return limits.length ? Math.min(...limits) : 0;
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
