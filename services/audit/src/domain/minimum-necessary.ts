import { lifecycleOf } from '@phigate/bus/lifecycle';
import type { PhiCatalog } from './phi-catalog.js';

// Minimum-necessary evidence (45 CFR 164.502(b)): per identity and connection, which PHI columns
// policy made available and which the identity actually read, from the recorded events alone.
//
// - "allowed": a PHI column an ACTION_ALLOW decision made readable, masked (it is in the
//   decision's masking plan, with its strategy) or in clear (the catalog tags it, the statement's
//   table was allowed, and the plan left it unmasked).
// - "read": a PHI column a statement that ran (query.executed or query.completed) read, as the
//   gateway's analysis resolved it (`*` expands to the table's catalog columns).
// Columns are keyed `table.column`, lower case (plans use `*` for the schema).
// - "purposes": the purposes of use the identity's requests stated (`''`: none stated).
// - "budgets": the PHI budget signals of its requests (budget.threshold_reached, budget.exceeded),
//   per budget counter, with the highest use a signal reported per metric.

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : 0);

/** One PHI column in the report. */
export interface ColumnUse {
  column: string;
  phiKinds: string[];
  /** How policy made it available: a masking strategy, or `STRATEGY_NONE` for clear. */
  access: string[];
  /** Allowed requests that made it available. */
  allowedIn: number;
  /** Requests that ran and read it. */
  readIn: number;
  lastRead?: string;
}

/** One PHI budget counter of an identity, from its signals in the period. */
export interface BudgetUse {
  budgetId: string;
  counter: string;
  onExceed: string;
  /** Statements that crossed the budget's alert share of a limit. */
  thresholdsReached: number;
  /** Statements that would exceed a limit: refused (`deny`) or served with an alert (`alert`). */
  exceeded: number;
  /** Per metric: its limit, and the most that a signal reported used with its statement's share. */
  metrics: { metric: string; limit: number; peak: number }[];
  lastSignal: string;
}

/** The report's row for one identity on one connection. */
export interface IdentityUse {
  identity: string;
  connection: string;
  requests: number;
  allowedRequests: number;
  columns: ColumnUse[];
  /** Allowed but never read in the period: candidates to mask harder or take away. */
  unused: string[];
  /** Read in clear: check that the identity needs them unmasked. */
  readInClear: string[];
  /** Rows the requests that ran returned. */
  rowsServed: number;
  /** Requests per purpose of use stated (`''`: none). */
  purposes: { purpose: string; requests: number }[];
  /** PHI budget signals, per budget counter. */
  budgets: BudgetUse[];
}

interface Signal {
  type: string;
  time: string;
  detail: Json;
}

interface RequestFacts {
  identity: string;
  connection: string;
  action: string;
  plan: Map<string, string>;
  tables: Set<string>;
  columns: Set<string>;
  ran: boolean;
  time: string;
  purpose: string;
  rows: number;
  signals: Signal[];
}

/** Accumulates events (any order within the period) and reports per identity and connection. */
export class MinimumNecessary {
  private readonly requests = new Map<string, RequestFacts>();

  constructor(private readonly catalog: PhiCatalog) {}

  add(event: unknown): void {
    for (const part of lifecycleOf(event)) this.addStep(part);
  }

  private addStep(event: unknown): void {
    const e = obj(event);
    const requestId = str(e.requestId);
    if (!requestId) return;
    let r = this.requests.get(requestId);
    if (!r) {
      r = {
        identity: '',
        connection: '',
        action: '',
        plan: new Map(),
        tables: new Set(),
        columns: new Set(),
        ran: false,
        time: '',
        purpose: '',
        rows: 0,
        signals: [],
      };
      this.requests.set(requestId, r);
    }
    r.identity ||= str(obj(e.identity).subject);
    r.connection ||= str(e.connection);
    r.purpose ||= str(e.purpose);
    if (str(e.time) > r.time) r.time = str(e.time);
    switch (e.type) {
      case 'query.received':
        for (const s of arr(obj(obj(e.queryReceived).analysis).statements).map(obj)) {
          for (const t of arr(s.tablesRead)) r.tables.add(str(obj(t).name).toLowerCase());
          for (const c of arr(s.columnsRead).map(obj)) {
            const table = str(obj(c.table).name).toLowerCase();
            const column = str(c.column).toLowerCase();
            if (column === '*') for (const k of this.catalog.columnsOf(r.connection || undefined, table)) r.columns.add(`${table}.${k}`);
            else r.columns.add(`${table}.${column}`);
          }
        }
        break;
      case 'policy.decided': {
        const d = obj(e.policyDecided);
        r.action = str(d.action);
        for (const m of arr(obj(d.maskingPlan).columns).map(obj))
          r.plan.set(`${str(m.table)}.${str(m.column)}`.toLowerCase(), str(m.strategy) || 'STRATEGY_UNSPECIFIED');
        break;
      }
      case 'query.executed':
        r.ran = true;
        break;
      case 'query.completed':
        r.ran = true;
        r.rows += num(obj(e.queryCompleted).rows);
        break;
      case 'budget.threshold_reached':
        r.signals.push({ type: e.type, time: str(e.time), detail: obj(e.budgetThresholdReached) });
        break;
      case 'budget.exceeded':
        r.signals.push({ type: e.type, time: str(e.time), detail: obj(e.budgetExceeded) });
        break;
      default:
        break;
    }
  }

  result(): IdentityUse[] {
    const groups = new Map<string, { use: IdentityUse; cols: Map<string, ColumnUse> }>();
    for (const r of this.requests.values()) {
      if (!r.identity) continue;
      const key = `${r.identity}\u0000${r.connection}`;
      let g = groups.get(key);
      if (!g) {
        g = {
          use: {
            identity: r.identity,
            connection: r.connection,
            requests: 0,
            allowedRequests: 0,
            columns: [],
            unused: [],
            readInClear: [],
            rowsServed: 0,
            purposes: [],
            budgets: [],
          },
          cols: new Map(),
        };
        groups.set(key, g);
      }
      g.use.requests++;
      g.use.rowsServed += r.rows;
      const p = g.use.purposes.find((x) => x.purpose === r.purpose);
      if (p) p.requests++;
      else g.use.purposes.push({ purpose: r.purpose, requests: 1 });
      for (const s of r.signals) addSignal(g.use.budgets, s);
      const col = (name: string): ColumnUse => {
        let c = g!.cols.get(name);
        if (!c) {
          const [table = '', column = ''] = name.split('.');
          c = { column: name, phiKinds: this.catalog.tagsOf(r.connection || undefined, table, column), access: [], allowedIn: 0, readIn: 0 };
          g!.cols.set(name, c);
        }
        return c;
      };
      if (r.action !== 'ACTION_ALLOW') continue;
      g.use.allowedRequests++;
      const allowed = new Map<string, string>();
      for (const [name, strategy] of r.plan) if (!name.startsWith('*.') && !name.endsWith('.*')) allowed.set(name, strategy);
      for (const table of r.tables)
        for (const column of this.catalog.columnsOf(r.connection || undefined, table)) {
          const name = `${table}.${column}`;
          if (!allowed.has(name)) allowed.set(name, 'STRATEGY_NONE');
        }
      for (const [name, strategy] of allowed) {
        const c = col(name);
        c.allowedIn++;
        if (!c.access.includes(strategy)) c.access.push(strategy);
      }
      if (!r.ran) continue;
      for (const name of r.columns) {
        if (!allowed.has(name) && !this.catalog.tagsOf(r.connection || undefined, ...(name.split('.') as [string, string])).length) continue;
        const c = col(name);
        c.readIn++;
        if (!c.lastRead || r.time > c.lastRead) c.lastRead = r.time;
        if ((allowed.get(name) ?? 'STRATEGY_NONE') === 'STRATEGY_NONE' && !g.use.readInClear.includes(name)) g.use.readInClear.push(name);
      }
    }
    const out = [...groups.values()].map(({ use, cols }) => {
      use.columns = [...cols.values()].sort((a, b) => a.column.localeCompare(b.column));
      for (const c of use.columns) c.access.sort();
      use.unused = use.columns.filter((c) => c.allowedIn > 0 && c.readIn === 0).map((c) => c.column);
      use.readInClear.sort();
      use.purposes.sort((a, b) => a.purpose.localeCompare(b.purpose));
      use.budgets.sort((a, b) => a.counter.localeCompare(b.counter));
      return use;
    });
    return out.sort((a, b) => a.identity.localeCompare(b.identity) || a.connection.localeCompare(b.connection));
  }
}

/** Adds one budget signal to its counter's row. */
function addSignal(budgets: BudgetUse[], s: Signal): void {
  const counter = str(s.detail.counter) || str(s.detail.budgetId);
  let b = budgets.find((x) => x.counter === counter);
  if (!b) {
    b = { budgetId: str(s.detail.budgetId), counter, onExceed: str(s.detail.onExceed), thresholdsReached: 0, exceeded: 0, metrics: [], lastSignal: '' };
    budgets.push(b);
  }
  if (s.type === 'budget.exceeded') b.exceeded++;
  else b.thresholdsReached++;
  if (s.time > b.lastSignal) b.lastSignal = s.time;
  for (const m of arr(s.detail.metrics).map(obj)) {
    const metric = str(m.metric);
    const peak = num(m.used) + num(m.requested);
    const row = b.metrics.find((x) => x.metric === metric);
    if (row) row.peak = Math.max(row.peak, peak);
    else b.metrics.push({ metric, limit: num(m.limit), peak });
  }
}
