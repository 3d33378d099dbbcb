// PHI budgets (issue 21, item 2): how much PHI an identity may take over a sliding window, declared
// on its binding (the gateway's connections file, next to its role, purposes and rate limit) and
// counted on what actually leaves, after masking, by one atomic Redis script per statement shared by
// every replica (adapters/redis/budgets.ts; docs/adr/0014-phi-budgets.md).
import { createHmac } from 'node:crypto';
import { AppError } from '@phigate/errors';
import { globMatch } from '@phigate/model';
import { type Binding, resolveBinding } from './bindings.js';
import { resultMasks } from './masks.js';
import type { BudgetEventDetail, DomainEvent, RequestContext } from './ports.js';
import type { Cell, Decision, ResultColumn, ResultColumnMask } from './types.js';

/** What a budget limits over its window. */
export interface BudgetLimits {
  /** Rows released from results that carry a covered column in clear. */
  rows?: number;
  /** Distinct patients (keyed hashes of the patient key column) in those rows. */
  patients?: number;
  /** Bytes of those rows, as released (masked text). */
  bytes?: number;
}

export type BudgetMetric = keyof BudgetLimits;
export const BUDGET_METRICS: readonly BudgetMetric[] = ['rows', 'patients', 'bytes'];

/** A budget as declared on a binding (`budgets:`). */
export interface Budget {
  /** Lower-case words joined by dashes; reported in errors and events. */
  id: string;
  /** Sliding window length in seconds (declared as `90s`, `15m`, `24h`). */
  windowSec: number;
  limits: BudgetLimits;
  /** Counts only statements stating one of these purposes of use; absent: every statement. */
  purposes?: string[];
  /** Counts only statements on these connections; absent: every connection of the binding. */
  connections?: string[];
  /** Separate counters per stated purpose and/or per connection; absent: one counter per identity. */
  per?: ('purpose' | 'connection')[];
  /** Column patterns (`schema.table.column`, `*` per part) that make a result count when one leaves in clear. */
  columns: string[];
  /** Masking strategies that still count as "in clear" (default `none` only). */
  clear: string[];
  /** Column patterns whose values identify the patient of a row (default `*.patients.id`, `*.*.patient_id`). */
  patientColumns: string[];
  /**
   * What happens to a statement that would exceed it: refused (nothing leaves), held until a
   * member of `approvers` approves it (then served, counted past the limit), or served with a
   * `budget.exceeded` alert.
   */
  onExceed: 'deny' | 'require_approval' | 'alert';
  /** require_approval: the groups whose members may approve, and how long the statement waits (s). */
  approvers?: string[];
  expiresInSec?: number;
  /** Share of a limit at which `budget.threshold_reached` is emitted once per crossing (default 0.8). */
  alertAt: number;
}

/** What one released result would spend. `patients`: distinct keyed hashes of its patient keys. */
export interface BudgetUse {
  rows: number;
  bytes: number;
  patients: string[];
}

/** A budget that applies to one statement: the budget and the counter it is kept in. */
export interface BudgetScope {
  budget: Budget;
  /** The counter's name below the identity: budget id plus the purpose and/or connection it is kept per. */
  counter: string;
}

/** Used before and after one statement, per metric, as the Redis script saw it. */
export interface BudgetState {
  budget: Budget;
  counter: string;
  before: Required<BudgetLimits>;
  after: Required<BudgetLimits>;
  /** Metrics that would be (deny) or are (alert) past their limit. */
  exceeded: BudgetMetric[];
  /** Metrics whose alertAt share was crossed by this statement. */
  thresholds: BudgetMetric[];
}

export interface BudgetCheck {
  /** False: a deny budget would be exceeded; nothing was consumed. */
  allowed: boolean;
  states: BudgetState[];
}

/**
 * Consumes, all or nothing, what one statement spends from every budget that applies to it:
 * exact across replicas (one atomic script), fails closed (GATEWAY_BUDGET_UNAVAILABLE).
 */
export interface BudgetPort {
  consume(subject: string, scopes: readonly BudgetScope[], use: BudgetUse): Promise<BudgetCheck>;
  /** The keyed hash of a patient key (never the key itself leaves the gateway). */
  patientHash(connection: string, value: string): string;
}

const parts = (pattern: string) => pattern.split('.');

/** Whether a result column's proven source matches a `schema.table.column` pattern (or `db.schema.table.column`). */
function sourceMatches(pattern: string, col: ResultColumn): boolean {
  const src = col.source;
  if (!src) return false;
  const p = parts(pattern).slice(-3);
  if (p.length !== 3) return false;
  return globMatch(p[0] as string, src.schema) && globMatch(p[1] as string, src.table) && globMatch(p[2] as string, src.column);
}

/** The budgets of a binding that apply to a statement on `connection` stating `purpose`, with their counters. */
export function applicableBudgets(budgets: readonly Budget[] | undefined, connection: string, purpose: string | undefined): BudgetScope[] {
  if (!budgets?.length) return [];
  const out: BudgetScope[] = [];
  for (const b of budgets) {
    if (b.connections && !b.connections.includes(connection)) continue;
    if (b.purposes && (!purpose || !b.purposes.includes(purpose))) continue;
    let counter = b.id;
    if (b.per?.includes('purpose')) counter += `:p=${purpose ?? '-'}`;
    if (b.per?.includes('connection')) counter += `:c=${connection}`;
    out.push({ budget: b, counter });
  }
  return out;
}

/**
 * How each applicable budget sees a result's columns: whether it counts at all (a covered column
 * leaves in clear), and which column, if any, identifies the patient of a row. Budgets that share
 * a column plan share one meter; one statement has a few budgets at most.
 */
export class BudgetMeter {
  readonly counts: boolean;
  private readonly patientIndex: number;
  /** The statement's distinct patient keys since the last take, raw: they never leave the gateway's memory. */
  private keys = new Set<string>();
  rows = 0;
  bytes = 0;

  constructor(
    scopes: readonly BudgetScope[],
    columns: readonly ResultColumn[],
    masks: readonly ResultColumnMask[],
    private readonly hash: (value: string) => string,
  ) {
    this.counts = scopes.some(({ budget }) =>
      columns.some((c, i) => budget.columns.some((p) => sourceMatches(p, c)) && budget.clear.includes(masks[i]?.strategy ?? 'none')),
    );
    this.patientIndex = this.counts ? columns.findIndex((c) => scopes.some(({ budget }) => budget.patientColumns.some((p) => sourceMatches(p, c)))) : -1;
  }

  /**
   * Adds released rows: `raw` are the same rows before masking (the patient key is read there, so
   * a tokenised or redacted key still tells patients apart), `masked` what leaves.
   */
  add(raw: readonly Cell[][], masked: readonly Cell[][]): void {
    if (!this.counts) return;
    this.rows += masked.length;
    for (const r of masked) for (const c of r) if (c !== null) this.bytes += c.length;
    if (this.patientIndex >= 0)
      for (const r of raw) {
        const v = r[this.patientIndex];
        if (v !== null && v !== undefined) this.keys.add(v);
      }
  }

  /**
   * What has been added since the last take, then starts again (a stream counts batch by batch).
   * Patient keys are hashed here, each distinct one once (an HMAC is most of a check's CPU).
   */
  take(): BudgetUse {
    const use = { rows: this.rows, bytes: this.bytes, patients: Array.from(this.keys, this.hash) };
    this.rows = 0;
    this.bytes = 0;
    this.keys = new Set();
    return use;
  }
}

/** A keyed hash of a patient key: HMAC-SHA-256 under a gateway key, per connection, 128 bits, base64url. */
export function patientHmac(key: Buffer, connection: string, value: string): string {
  return createHmac('sha256', key).update(connection).update('\0').update(value).digest().subarray(0, 16).toString('base64url');
}

/** The refusal of a statement that would exceed a deny budget, naming the budget, metric, limit and use. */
export function budgetExceededError(check: BudgetCheck, requestId: string): AppError {
  const s = check.states.find((x) => x.budget.onExceed !== 'alert' && x.exceeded.length > 0) ?? check.states[0];
  const metric = s?.exceeded[0] ?? 'rows';
  const limit = s?.budget.limits[metric] ?? 0;
  const used = s?.before[metric] ?? 0;
  return new AppError('GATEWAY_BUDGET_EXCEEDED', {
    message: `PHI budget '${s?.budget.id}' exceeded: this result would bring ${metric} to ${s?.after[metric]} of ${limit} in ${windowText(s?.budget.windowSec ?? 0)} (${used} used); no rows were released`,
    details: { requestId, budget: s?.budget.id ?? '', metric, limit, used, windowSec: s?.budget.windowSec ?? 0 },
  });
}

/** What a budget's state says to a person: `PHI budget 'b': this result would bring patients to 600 of 500 in 10 min (500 used)`. */
export function budgetStateText(s: BudgetState): string {
  const m = s.exceeded[0] ?? 'rows';
  return `PHI budget '${s.budget.id}': this result would bring ${m} to ${s.after[m]} of ${s.budget.limits[m] ?? 0} in ${windowText(s.budget.windowSec)} (${s.before[m]} used)`;
}

/** Default wait of a statement a budget holds for approval, as for policy's holds. */
export const BUDGET_HOLD_EXPIRY_SEC = 1800;

/**
 * A buffered result that only require_approval budgets refuse: the caller holds the statement for
 * their approvers (QueryService.submit), showing them each budget's state, and runs it past them
 * once approved. Nothing was consumed.
 */
export class BudgetHold extends Error {
  readonly budgetIds: string[];
  readonly reasons: string[];
  readonly approval: { groups: string[]; quorum: number; expiresInSec: number };

  constructor(
    states: readonly BudgetState[],
    readonly requestId: string,
  ) {
    super(`held for approval: ${states.map(budgetStateText).join('; ')}`);
    this.budgetIds = states.map((s) => s.budget.id);
    this.reasons = states.map((s) => `${budgetStateText(s)}; an approver may let it through`);
    this.approval = {
      groups: [...new Set(states.flatMap((s) => s.budget.approvers ?? []))],
      quorum: 1,
      expiresInSec: Math.min(...states.map((s) => s.budget.expiresInSec ?? BUDGET_HOLD_EXPIRY_SEC)),
    };
  }
}

export function windowText(sec: number): string {
  if (sec % 3600 === 0) return `${sec / 3600} h`;
  if (sec % 60 === 0) return `${sec / 60} min`;
  return `${sec} s`;
}

/** `90s`, `15m`, `24h`, `7d` → seconds; undefined when malformed. */
export function parseWindow(text: string): number | undefined {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

/** The events a budget check gives: each crossed threshold, each exceeded budget. */
export function budgetEvents(check: BudgetCheck): DomainEvent[] {
  const out: DomainEvent[] = [];
  for (const s of check.states) {
    const detail = (metrics: readonly BudgetMetric[]): BudgetEventDetail => ({
      budgetId: s.budget.id,
      counter: s.counter,
      windowSec: s.budget.windowSec,
      onExceed: s.budget.onExceed,
      alertAt: s.budget.alertAt,
      metrics: metrics.map((m) => ({ metric: m, limit: s.budget.limits[m] ?? 0, used: s.before[m], requested: s.after[m] - s.before[m] })),
    });
    if (s.thresholds.length) out.push({ type: 'budget.threshold_reached', ...detail(s.thresholds) });
    if (s.exceeded.length) out.push({ type: 'budget.exceeded', ...detail(s.exceeded) });
  }
  return out;
}

/**
 * One statement's PHI budgets, from its columns to its check: undefined (no Redis, no work) when
 * no budget of the identity's binding applies to the statement.
 */
export class BudgetGate {
  private meter: BudgetMeter | undefined;
  /** The events of a refusal: recorded with the statement's failure. */
  refusal: DomainEvent[] = [];

  private constructor(
    private readonly port: BudgetPort,
    private readonly ctx: RequestContext,
    private readonly scopes: BudgetScope[],
    private readonly canHold: boolean,
  ) {}

  /**
   * `approved`: budgets a human approved this statement past (a resumed hold): counted, never
   * refusing. `canHold`: a require_approval budget may hold the statement (a buffered result
   * outside a client's transaction); otherwise it refuses like deny (a stream cannot wait).
   */
  static for(
    port: BudgetPort | undefined,
    bindings: readonly Binding[],
    ctx: RequestContext,
    opts: { approved?: readonly string[]; canHold?: boolean } = {},
  ): BudgetGate | undefined {
    if (!port) return undefined;
    let scopes = applicableBudgets(resolveBinding(bindings, ctx.identity, ctx.connection)?.budgets, ctx.connection, ctx.purpose);
    if (!scopes.length) return undefined;
    if (opts.approved?.length)
      scopes = scopes.map((s) => (opts.approved?.includes(s.budget.id) ? { ...s, budget: { ...s.budget, onExceed: 'alert' as const } } : s));
    return new BudgetGate(port, ctx, scopes, opts.canHold ?? false);
  }

  /** The result's columns are known: which budgets count it, and by which patient key. */
  columns(cols: readonly ResultColumn[], decision: Decision): void {
    this.meter = new BudgetMeter(this.scopes, cols, resultMasks(cols, decision.maskingPlan), (v) => this.port.patientHash(this.ctx.connection, v));
  }

  /** Rows about to leave: `raw` before masking, `masked` as released. */
  add(raw: readonly Cell[][], masked: readonly Cell[][]): void {
    this.meter?.add(raw, masked);
  }

  /**
   * Consumes what was added since the last check from every applicable budget, all or nothing;
   * resolves with the events to record, or throws GATEWAY_BUDGET_EXCEEDED (events in `refusal`)
   * or GATEWAY_BUDGET_UNAVAILABLE (fail closed).
   */
  async check(): Promise<DomainEvent[]> {
    if (!this.meter?.counts) return [];
    const use = this.meter.take();
    if (use.rows === 0 && use.bytes === 0 && use.patients.length === 0) return [];
    const check = await this.port.consume(this.ctx.identity.subject, this.scopes, use);
    const events = budgetEvents(check);
    if (!check.allowed) {
      this.refusal = events;
      const refusing = check.states.filter((x) => x.exceeded.length > 0 && x.budget.onExceed !== 'alert');
      if (this.canHold && refusing.every((x) => x.budget.onExceed === 'require_approval')) throw new BudgetHold(refusing, this.ctx.requestId);
      throw budgetExceededError(check, this.ctx.requestId);
    }
    return events;
  }

  /** The refusal's events, once. */
  takeRefusal(): DomainEvent[] {
    const r = this.refusal;
    this.refusal = [];
    return r;
  }
}
