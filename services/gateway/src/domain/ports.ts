import type { Catalog } from '@phigate/sql';
import type { Analysis, Cell, Decision, Identity, MaskReportColumn, ResultColumn, ResultColumnMask } from './types.js';

/** A registered upstream connection (credentials stay in the adapter). */
export interface ConnectionInfo {
  name: string;
  type: 'postgresql' | 'snowflake';
  dialect: 'postgresql' | 'snowflake';
  database: string;
  defaultSchema: string;
}

export interface PolicyPort {
  evaluate(req: {
    requestId: string;
    identity: Identity;
    connection: string;
    role: string;
    frontDoor: string;
    purpose?: string;
    analysis: Analysis;
  }): Promise<Decision>;
}

/** Streams a result: columns first, then batches of text rows; returns when the cursor is done. */
export interface UpstreamPort {
  catalog(connection: string, refresh?: boolean): Promise<Catalog>;
  execute(
    connection: string,
    role: string,
    sql: string,
    params: unknown[],
    sink: { columns(cols: ResultColumn[]): Promise<void> | void; rows(batch: Cell[][]): Promise<boolean> },
    opts: ExecuteOptions,
  ): Promise<{
    command: string;
    rowCount: number;
    upstreamMs: number;
    /** With `transaction`: commit (true) or roll back (false), then release the session. */
    finish(commit: boolean): Promise<void>;
  }>;
  /**
   * The upstream's own compilation error for a statement, without running it (Snowflake's
   * describe-only), or undefined when it compiles. For statements the analysis could not read:
   * the client then gets the database's answer to its typo, not a policy denial.
   */
  compileError?(connection: string, role: string, sql: string, params: unknown[]): Promise<Error | undefined>;
}

/**
 * The session settings a client may change that the upstream applies, per client, to the session
 * running its statement (the PostgreSQL door's SET; adapters/pgwire/session.ts). A session whose
 * settings are not known is brought back to the server's defaults for each of these.
 */
export const UPSTREAM_SESSION_SETTINGS: readonly string[] = [
  'TimeZone',
  'DateStyle',
  'IntervalStyle',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'bytea_output',
];

export interface ExecuteOptions {
  transaction: boolean;
  /** Run on this pinned session, inside the client's own transaction (no BEGIN/COMMIT of ours). */
  session?: UpstreamSession;
  /** Aborting cancels the statement upstream. */
  signal?: AbortSignal;
  /**
   * The caller never wants more rows than this: the upstream may stop reading there (and, for a
   * bounded read, fetch the whole result in one round trip).
   */
  maxRows?: number;
  /** The client's session settings the upstream applies (TimeZone, DateStyle, …; pgwire/session.ts). */
  settings?: Readonly<Record<string, string>>;
  /** Who the caller is (its client id): what the statement's CURRENT_USER answers where the upstream lets us say. */
  caller?: string;
}

/**
 * One upstream session pinned to a client connection for the length of the client's transaction,
 * already switched to the identity's role.
 */
export interface UpstreamSession {
  readonly connection: string;
  readonly role: string;
  /** Runs transaction control the door has checked (BEGIN …, COMMIT, ROLLBACK, SAVEPOINT …). */
  control(sql: string): Promise<void>;
  /** Gives the session back to its pool (the transaction must be over), or closes it (`discard`). */
  release(discard?: boolean): void;
}

/** What the upstream says a statement takes and returns, before it runs. */
export interface StatementDescription {
  /** Parameter type OIDs. */
  params: number[];
  /** Result columns; null when the statement returns no rows. */
  columns: ResultColumn[] | null;
}

/** An upstream the PostgreSQL wire door can use: pinned sessions, statement descriptions, settings. */
export interface SessionUpstreamPort extends UpstreamPort {
  /** Takes a session from the (connection, role) pool, with the client's settings, and keeps it until released. */
  session(connection: string, role: string, settings?: Readonly<Record<string, string>>): Promise<UpstreamSession>;
  /** Checks and applies a client's session settings (on its pinned session when it has one); the server's error when it refuses a value. */
  applySettings(connection: string, role: string, settings: Readonly<Record<string, string>>, session?: UpstreamSession): Promise<void>;
  /** Describes a statement as `role` would run it, without running it (on `session` when given). */
  describe(connection: string, role: string, sql: string, paramTypes: number[], session?: UpstreamSession): Promise<StatementDescription>;
  /** Server settings clients are told about at login and SHOW reads: server_version, TimeZone, DateStyle, IntervalStyle, … */
  settings(connection: string): Promise<Record<string, string>>;
}

export interface MaskSession {
  /** Masks one batch; resolves with the masked rows in the same order. */
  mask(rows: Cell[][]): Promise<Cell[][]>;
  /** Ends the stream; resolves with the per-column report and any suspected leaks. */
  finish(): Promise<{ columns: MaskReportColumn[]; leaks: LeakSuspicion[] }>;
  abort(): void;
}

/** A column the plan left untouched in which a detector found identifiers (never the values). */
export interface LeakSuspicion {
  column: string;
  detector: string;
  count: number;
}

export interface MaskingPort {
  /** `visiblePhiKinds`: the PHI kinds the plan leaves in clear, which the canary does not flag. */
  open(requestId: string, columns: ResultColumnMask[], canary: 'off' | 'report' | 'block', visiblePhiKinds?: readonly string[]): MaskSession;
}

/** Domain-level audit events; the Kafka adapter turns them into the public envelope. */
export type DomainEvent = StepEvent | ServedEvent;

/** A step of a statement's lifecycle on its own (schema version 1's events), an approval or a session. */
export type StepEvent =
  | { type: 'query.received'; statement: string; analysis: Analysis; queryTag?: string }
  | { type: 'policy.decided'; decision: Decision }
  | { type: 'query.executed'; upstreamMs: number; columns: string[] }
  | { type: 'query.failed'; code: string; message: string; stage: string }
  | { type: 'masking.applied'; columns: MaskReportColumn[] }
  | { type: 'phi.leak_suspected'; column: string; detector: string; count: number }
  | { type: 'query.completed'; rows: number; bytes: number; durationMs: number }
  | {
      type: 'approval.requested';
      approvalId: string;
      expiresAt: string;
      approverGroups: string[];
      quorum: number;
      fingerprint: string;
      paramsHash: string;
    }
  | { type: 'approval.granted'; approvalId: string; approver: string; approvers: string[] }
  | { type: 'approval.denied'; approvalId: string; approver: string; reason: string }
  | { type: 'approval.expired'; approvalId: string; reason: string }
  | ({ type: 'budget.threshold_reached' } & BudgetEventDetail)
  | ({ type: 'budget.exceeded' } & BudgetEventDetail)
  | { type: 'session.opened'; clientAddress: string }
  | { type: 'session.closed'; reason: string; durationMs: number };

/**
 * A PHI budget's state on `budget.threshold_reached` (a statement crossed `alertAt` of a limit) and
 * `budget.exceeded` (a statement would pass a limit: refused under `deny`, held under `require_approval`,
 * served under `alert`).
 * Per metric: the limit, what the window had used before the statement, and what the statement brings.
 */
export interface BudgetEventDetail {
  budgetId: string;
  /** The counter: the budget id, and the purpose and/or connection it is kept per. */
  counter: string;
  windowSec: number;
  onExceed: 'deny' | 'require_approval' | 'alert';
  alertAt: number;
  metrics: { metric: 'rows' | 'patients' | 'bytes'; limit: number; used: number; requested: number }[];
}

type Step<T extends StepEvent['type']> = Omit<Extract<StepEvent, { type: T }>, 'type'>;

/** A read that ran without waiting, in one record: its statement, decision, execution, masking, suspected leaks and completion. */
export interface ServedEvent {
  type: 'query.served';
  received: Step<'query.received'>;
  decision: Decision;
  executed: Step<'query.executed'>;
  masking: Step<'masking.applied'>;
  leaks: Step<'phi.leak_suspected'>[];
  completed: Step<'query.completed'>;
}

/** A client's socket peer: address (no brackets for IPv6) and port. */
export interface ClientEndpoint {
  ip: string;
  port: number;
}

export interface RequestContext {
  requestId: string;
  sessionId: string;
  frontDoor: string;
  identity: Identity;
  connection: string;
  role: string;
  traceparent: string;
  /** Where the client connected from; recorded on every event of the request. */
  client?: ClientEndpoint;
  /** The purpose of use the client stated (validated against its binding); recorded on every event. */
  purpose?: string;
}

export interface AuditPort {
  /** Resolves once the events are durable; rejects otherwise (the caller fails closed). */
  record(ctx: RequestContext, events: DomainEvent[]): Promise<void>;
}

/**
 * Per-identity statement budget. `perMinute`: the limit of the identity's binding, else the
 * gateway's default. `resetsAt`: when the window in force ends (ISO 8601).
 */
export interface RateLimitPort {
  take(subject: string, perMinute?: number): Promise<{ allowed: boolean; retryAfterSec: number; resetsAt: string; perMinute: number }>;
}
