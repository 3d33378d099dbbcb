import { AppError, isAppError, toAppError } from '@phigate/errors';
import { UNKNOWN_STATEMENT_RULE } from '@phigate/model';
import type { AnalysisOptions, Catalog } from '@phigate/sql';
import { type Binding, bindingName, purposeProblem, resolveBinding } from './bindings.js';
import { BudgetGate, BudgetHold, type BudgetPort } from './budgets.js';
import type {
  AuditPort,
  ClientEndpoint,
  ConnectionInfo,
  DomainEvent,
  MaskingPort,
  MaskSession,
  PolicyPort,
  RateLimitPort,
  RequestContext,
  UpstreamPort,
  UpstreamSession,
} from './ports.js';
import { bytesOf, type ClientColumn, clientColumns, failed, maskAll, openMasking, outcomeEvents } from './results.js';
import { invalidSql } from './scrub-error.js';
import { StreamingCursor } from './streaming-cursor.js';
import type { Analysis, Cell, Decision, Identity, ResultColumn } from './types.js';

export { effectiveCanary } from './results.js';

/** A NUL, or a UTF-16 surrogate without its pair (what no UTF-8 encoding can carry). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const invalidText = (s: string): boolean => s.includes('\u0000') || LONE_SURROGATE.test(s);

/** Rows handed to a RowRelease at a time when a buffered result is released. */
const RELEASE_BATCH = 1000;

export interface QueryRequest {
  requestId: string;
  sessionId: string;
  frontDoor: string;
  identity: Identity;
  connection: string;
  sql: string;
  params: unknown[];
  traceparent: string;
  /** The client's socket peer, recorded on every event of the request. */
  client?: ClientEndpoint;
  /** Run on this pinned upstream session (a client's transaction on the PostgreSQL wire door). */
  session?: UpstreamSession;
  /** Aborting cancels the statement upstream. */
  signal?: AbortSignal;
  /** The client's session settings the upstream applies (PostgreSQL wire door). */
  settings?: Readonly<Record<string, string>>;
  /**
   * What runs upstream when it is not `sql` itself: a narrowing of it (the Snowflake door's
   * INFORMATION_SCHEMA views kept to what policy lets the identity read). `sql` is what is
   * analysed, decided and recorded.
   */
  upstreamSql?: string;
  /** The client's label for the statement (the Snowflake door's QUERY_TAG), recorded on `query.received`. */
  queryTag?: string;
  /** The purpose of use the client stated; checked against its binding, given to policy, recorded on every event. */
  purpose?: string;
  /** How the client's session resolves names (the Snowflake door's QUOTED_IDENTIFIERS_IGNORE_CASE). */
  analysisOptions?: AnalysisOptions;
}

export interface QueryResult {
  requestId: string;
  columns: ClientColumn[];
  rows: Cell[][];
  rowCount: number;
  truncated: boolean;
  command: string;
  /** Rows written by an INSERT/UPDATE/DELETE. */
  affectedRows?: number;
  decision: Decision;
}

/** A statement decided and recorded, ready to execute now or, once approved, later. */
export interface Prepared {
  ctx: RequestContext;
  sql: string;
  params: unknown[];
  analysis: Analysis;
  decision: Decision;
  /** Runs in an upstream transaction committed only after its outcome is durable. */
  transaction: boolean;
  /** When the request arrived (ms since the epoch). */
  started: number;
  session?: UpstreamSession;
  signal?: AbortSignal;
  /** The client's session settings the upstream applies. */
  settings?: Readonly<Record<string, string>>;
  /**
   * A plain read allowed now, whose statement and decision are not yet recorded: they go into its
   * one record (query.served) with its outcome, or ahead of its first streamed row, or with its failure.
   */
  unrecorded?: Extract<DomainEvent, { type: 'query.received' }>;
  /** PHI budgets an approver let this statement past (a resumed budget hold): counted, never refusing. */
  budgetApproved?: readonly string[];
}

/** What execution needs of a prepared statement (a resumed one has no analysis at hand). */
export type Runnable = Omit<Prepared, 'analysis'>;

/** A statement held for approval: what the client is told. */
export interface HeldInfo {
  requestId: string;
  approvalId: string;
  expiresAt: string;
}

/**
 * Where a streamed result goes (COPY … TO STDOUT): its columns once, then masked batches; each
 * resolves when the consumer can take more, which is what holds memory to a batch or two.
 */
export interface RowRelease {
  columns(columns: QueryResult['columns']): Promise<void> | void;
  rows(batch: Cell[][]): Promise<void>;
}

export type QueryOutcome = { kind: 'result'; result: QueryResult } | { kind: 'held'; held: HeldInfo };

/** Where held statements go: the approval workflow (see held-queries.ts). */
export interface HoldPort {
  hold(prepared: Prepared): Promise<HeldInfo>;
}

export interface QueryServiceDeps {
  connections: () => ReadonlyMap<string, ConnectionInfo>;
  bindings: () => readonly Binding[];
  /** Analyses SQL in the connection's dialect against its catalog. */
  analyse: (sql: string, connection: ConnectionInfo, catalog: Catalog, options?: AnalysisOptions) => Analysis;
  policy: PolicyPort;
  upstream: UpstreamPort;
  masking: MaskingPort;
  audit: AuditPort;
  rateLimit: RateLimitPort;
  /** PHI budgets (budgets.ts); without it, bindings' budgets are not enforced (unit tests, tools). */
  budgets?: BudgetPort;
  /** maxRows: most rows of a result; maxStreamRows: of a streamed one (default maxRows). */
  limits: { maxSqlBytes: number; maxRows: number; maxStreamRows?: number };
  /** Holds require_approval statements; without it they fail closed. */
  held?: HoldPort;
  /** Share of statements with nothing to mask that a `report` canary samples (default 1: every one). */
  canaryReportSample?: number;
  now?: () => number;
  /** Uniform in [0, 1): the canary's sampling draw. */
  random?: () => number;
}

/**
 * The request lifecycle of one statement: resolve the upstream role, analyse, decide, record the
 * decision durably, execute as the mapped role, mask every row, record the outcome durably, and
 * only then return rows. Every failure after the decision is recorded as query.failed.
 */
export class QueryService {
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly deps: QueryServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
  }

  /**
   * Runs a statement if policy allows it now; a statement policy holds for approval is handed to
   * the held-query port and the caller gets `held` (its door decides how to wait or answer).
   */
  async submit(req: QueryRequest, release?: RowRelease): Promise<QueryOutcome> {
    const prepared = await this.prepare(req, true);
    if (prepared.decision.action === 'require_approval') {
      if (!this.deps.held) throw new AppError('GATEWAY_APPROVAL_UNAVAILABLE', { message: 'approvals are not configured on this gateway' });
      if (req.session) await this.refuseHeldInTransaction(prepared);
      return { kind: 'held', held: await this.deps.held.hold(prepared) };
    }
    try {
      return { kind: 'result', result: await this.execute(prepared, release, true) };
    } catch (err) {
      if (!(err instanceof BudgetHold) || !this.deps.held) throw err;
      // Only require_approval budgets refused the result: held like a policy hold, the approvers
      // shown each budget's state; once approved it runs again, counted past those budgets.
      const decision: Decision = {
        ...prepared.decision,
        action: 'require_approval',
        ruleIds: [...prepared.decision.ruleIds, ...err.budgetIds.map((id) => `budget:${id}`)],
        reasons: [...prepared.decision.reasons, ...err.reasons],
        approverGroups: err.approval.groups,
        approval: err.approval,
      };
      return { kind: 'held', held: await this.deps.held.hold({ ...prepared, decision, budgetApproved: err.budgetIds }) };
    }
  }

  /**
   * A server-side cursor for a SELECT, on the client's transaction session: decided and recorded as
   * the SELECT, declared upstream, then read FETCH by FETCH (streaming-cursor.ts).
   */
  async declareCursor(req: QueryRequest & { session: UpstreamSession }, name: string): Promise<StreamingCursor> {
    const prepared = await this.prepare(req);
    if (prepared.decision.action === 'require_approval') await this.refuseHeldInTransaction(prepared);
    if (prepared.transaction) {
      // A cursor's rows leave before its outcome is recorded: only plain reads may stream.
      const e = new AppError('GATEWAY_PG_UNSUPPORTED', {
        message: 'a cursor over a statement that writes is not supported; run the statement on its own',
        details: { requestId: prepared.ctx.requestId },
      });
      await this.recordOrFail(prepared.ctx, [failed(e, 'upstream')]);
      throw e;
    }
    const cursor = new StreamingCursor(
      {
        upstream: this.deps.upstream,
        openMasking: (requestId, cols, decision) => this.openMasking(requestId, cols, decision),
        record: (ctx, events) => this.recordOrFail(ctx, events),
        now: this.now,
        maxRows: this.deps.limits.maxStreamRows ?? this.deps.limits.maxRows,
        budget: BudgetGate.for(this.deps.budgets, this.deps.bindings(), prepared.ctx),
      },
      prepared.ctx,
      prepared.decision,
      req.session,
      name,
      prepared.started,
    );
    await cursor.declare(req.sql, req.params, req.signal);
    return cursor;
  }

  /** A held statement resumes on whichever replica claims it, never on a client's pinned session: it cannot be part of the client's transaction. */
  private async refuseHeldInTransaction(prepared: Prepared): Promise<never> {
    const e = new AppError('GATEWAY_PG_APPROVAL_IN_TRANSACTION', { details: { requestId: prepared.ctx.requestId } });
    await this.recordOrFail(prepared.ctx, [failed(e, 'approval')]);
    throw e;
  }

  /** Runs a statement that must not wait: a held statement is an error (used by tools and tests). */
  async run(req: QueryRequest): Promise<QueryResult> {
    const outcome = await this.submit(req);
    if (outcome.kind === 'result') return outcome.result;
    throw new AppError('GATEWAY_APPROVAL_UNAVAILABLE', {
      message: 'the statement requires approval; use a door that can wait for it',
      details: { requestId: req.requestId },
    });
  }

  /**
   * Everything up to the decision: limits, rate, connection and role, analysis, policy, and the
   * write-ahead record of the statement and its decision. A denial is thrown here, recorded. With
   * `oneRecord`, a plain read that policy allows now is not recorded ahead: execute() records it
   * once, with its outcome (query.served), before its rows leave.
   */
  async prepare(req: QueryRequest, oneRecord = false): Promise<Prepared> {
    const started = this.now();
    if (!req.sql.trim()) throw new AppError('GATEWAY_SQL_EMPTY');
    if (Buffer.byteLength(req.sql) > this.deps.limits.maxSqlBytes)
      throw new AppError('GATEWAY_SQL_TOO_LARGE', { details: { maxBytes: this.deps.limits.maxSqlBytes } });
    // Text no database stores as text and no JSON consumer reads back (the audit store, SIEMs) is
    // refused before anything is recorded: it could only be recorded altered, or not at all.
    const bad = invalidText(req.sql) ? 'statement' : req.params.findIndex((p) => typeof p === 'string' && invalidText(p));
    if (bad !== -1) throw new AppError('GATEWAY_SQL_INVALID_TEXT', { details: { where: bad === 'statement' ? bad : `parameter ${bad + 1}` } });
    // The budget is taken before access is checked, so an identity probing connections it is not
    // bound to is throttled too: the limit of its binding there, else the gateway's default.
    const bound = resolveBinding(this.deps.bindings(), req.identity, req.connection);
    const perMinute = bound?.statementsPerMinute;
    const budget = await this.deps.rateLimit.take(req.identity.subject, perMinute);
    if (!budget.allowed) {
      const limit = bound && perMinute ? bindingName(bound) : 'the gateway default (GATEWAY_RATE_LIMIT_PER_MINUTE)';
      throw new AppError('GATEWAY_RATE_LIMITED', {
        message: `rate limit reached: ${budget.perMinute} statements per minute for this identity, set by ${limit}; it resets at ${budget.resetsAt} (in ${budget.retryAfterSec} s)`,
        details: { retryAfterSec: budget.retryAfterSec, resetsAt: budget.resetsAt, perMinute: budget.perMinute, limit: perMinute ? 'binding' : 'default' },
      });
    }
    const { conn, role, binding } = this.bind(req.identity, req.connection);
    this.checkPurpose(binding, req.purpose);

    const ctx: RequestContext = {
      requestId: req.requestId,
      sessionId: req.sessionId,
      frontDoor: req.frontDoor,
      identity: req.identity,
      connection: conn.name,
      role,
      traceparent: req.traceparent,
      ...(req.client ? { client: req.client } : {}),
      ...(req.purpose ? { purpose: req.purpose } : {}),
    };
    const catalog = await this.deps.upstream.catalog(conn.name).catch((err) => {
      throw isAppError(err) ? err : new AppError('GATEWAY_UPSTREAM_UNAVAILABLE', { cause: err });
    });
    const analysis = this.deps.analyse(req.sql, conn, catalog, req.analysisOptions);
    const received: Extract<DomainEvent, { type: 'query.received' }> = {
      type: 'query.received',
      statement: req.sql,
      analysis,
      ...(req.queryTag ? { queryTag: req.queryTag } : {}),
    };

    let decision: Decision;
    try {
      decision = await this.evaluate(req, conn.name, role, analysis);
    } catch (err) {
      const e = toAppError(err, 'GATEWAY_POLICY_UNAVAILABLE');
      await this.recordOrFail(ctx, [received, failed(e, 'policy')]);
      throw e;
    }
    // Anything but a plain read runs in an upstream transaction that commits only once the
    // outcome is durable in the audit log, so a write never happens without its record and a
    // client retrying after an audit failure cannot apply it twice.
    const transaction = analysis.statements.some((s) => s.kind !== 'select' || s.tablesWritten.length > 0);
    // Write-ahead: the statement and the decision are durable before anything runs upstream, but
    // for a plain read allowed now (it changes nothing): its one record is durable before its rows leave.
    const deferred = oneRecord && decision.action === 'allow' && !transaction;
    if (!deferred) await this.recordOrFail(ctx, [received, { type: 'policy.decided', decision }]);
    // A statement the database would reject (a syntax error, an unknown relation) and that policy
    // denies only for not being understood is answered as the database would answer it.
    if (decision.action === 'deny' && !analysis.understood && decision.ruleIds.length === 1 && decision.ruleIds[0] === UNKNOWN_STATEMENT_RULE) {
      if (analysis.failure) throw invalidSql(analysis.failure, req.sql);
      // No grammar of ours is the database's (Snowflake): its compiler, run without executing
      // anything, says whether the statement is a mistake, and which. One it accepts stays denied.
      const rejected = await this.deps.upstream.compileError?.(conn.name, role, req.sql, req.params).catch(() => undefined);
      if (rejected) throw rejected;
    }
    if (decision.action === 'deny') {
      throw new AppError('GATEWAY_POLICY_DENIED', {
        message: `denied by policy: ${decision.reasons.join('; ')}`,
        details: {
          requestId: req.requestId,
          ruleId: decision.ruleIds[0] ?? '',
          ruleIds: decision.ruleIds,
          reason: decision.reasons.join('; '),
          policyRevision: decision.policyRevision,
        },
      });
    }
    return {
      ctx,
      sql: req.upstreamSql ?? req.sql,
      params: req.params,
      analysis,
      decision,
      transaction,
      started,
      session: req.session,
      signal: req.signal,
      ...(req.settings ? { settings: req.settings } : {}),
      ...(deferred ? { unrecorded: received } : {}),
    };
  }

  /** What of a prepared statement is not recorded yet (its statement and decision), once: the caller records it. */
  private static unrecorded(p: Runnable): DomainEvent[] {
    const r = p.unrecorded;
    if (!r) return [];
    p.unrecorded = undefined;
    return [r, { type: 'policy.decided', decision: p.decision }];
  }

  /**
   * The decision a statement would get now, without recording or running anything: what a door
   * needs to describe a statement's result (which columns will be masked) before it executes.
   */
  async decide(req: Pick<QueryRequest, 'requestId' | 'frontDoor' | 'identity' | 'connection' | 'sql' | 'analysisOptions' | 'purpose'>): Promise<Decision> {
    const { conn, role, binding } = this.bind(req.identity, req.connection);
    this.checkPurpose(binding, req.purpose);
    const catalog = await this.deps.upstream.catalog(conn.name).catch((err) => {
      throw isAppError(err) ? err : new AppError('GATEWAY_UPSTREAM_UNAVAILABLE', { cause: err });
    });
    const analysis = this.deps.analyse(req.sql, conn, catalog, req.analysisOptions);
    return this.evaluate(req, conn.name, role, analysis).catch((err) => {
      throw toAppError(err, 'GATEWAY_POLICY_UNAVAILABLE');
    });
  }

  /** Policy's decision on a statement of this request, as the bound role on the connection. */
  private evaluate(
    req: Pick<QueryRequest, 'requestId' | 'frontDoor' | 'identity' | 'purpose'>,
    connection: string,
    role: string,
    analysis: Analysis,
  ): Promise<Decision> {
    const { requestId, identity, frontDoor, purpose } = req;
    return this.deps.policy.evaluate({ requestId, identity, connection, role, frontDoor, ...(purpose ? { purpose } : {}), analysis });
  }

  /** The connection's catalog, as statements are analysed against it. */
  catalog(connection: string): Promise<Catalog> {
    return this.deps.upstream.catalog(connection);
  }

  /**
   * The connection and the one upstream role a binding gives this identity there. The same answer
   * whether the connection does not exist or is not bound: never reveal which exist.
   */
  bind(identity: Identity, connection: string): { conn: ConnectionInfo; role: string; binding: Binding } {
    const conn = this.deps.connections().get(connection);
    const binding = conn ? resolveBinding(this.deps.bindings(), identity, connection) : undefined;
    const role = binding?.connections[connection];
    if (!conn || !binding || !role) throw new AppError('GATEWAY_CONNECTION_UNKNOWN', { details: { connection } });
    return { conn, role, binding };
  }

  /**
   * Refuses a purpose of use the identity's binding on this connection does not allow, or a
   * missing one it requires: what a door checks when a client states one (a PostgreSQL login or
   * SET, a Snowflake login or ALTER SESSION), and every statement again.
   */
  checkPurpose(binding: Binding | { identity: Identity; connection: string }, purpose: string | undefined): void {
    const b = 'identity' in binding ? this.bind(binding.identity, binding.connection).binding : binding;
    const problem = purposeProblem(b, purpose);
    if (problem === 'required')
      throw new AppError('GATEWAY_PURPOSE_REQUIRED', {
        message: `${bindingName(b)} requires a purpose of use${b.purposes ? ` (one of ${b.purposes.join(', ')})` : ''}: state it with the HTTP header X-Phigate-Purpose, the PostgreSQL option phigate.purpose or the Snowflake QUERY_TAG purpose=…; the statement was not run`,
        details: { ...(b.purposes ? { allowedPurposes: b.purposes } : {}) },
      });
    if (problem === 'not_allowed')
      throw new AppError('GATEWAY_PURPOSE_NOT_ALLOWED', {
        message: `the purpose of use '${(purpose ?? '').slice(0, 64)}' is not one ${bindingName(b)} allows${b.purposes ? ` (${b.purposes.join(', ')})` : ' (lower-case words joined by dashes)'}; the statement was not run`,
        details: { purpose: (purpose ?? '').slice(0, 64), ...(b.purposes ? { allowedPurposes: b.purposes } : {}) },
      });
  }

  /**
   * Executes a decided statement as its role, masks every row, records the outcome, then returns
   * it. With `release`, a plain read streams instead (see executeStreaming); a statement that runs
   * in a transaction is still complete before its rows go to `release`.
   */
  async execute(p: Runnable, release?: RowRelease, canHold = false): Promise<QueryResult> {
    if (release && !p.transaction) return this.executeStreaming(p, release);
    const result = await this.executeBuffered(p, canHold && !p.session);
    if (release) {
      await release.columns(result.columns);
      for (let i = 0; i < result.rows.length; i += RELEASE_BATCH) await release.rows(result.rows.slice(i, i + RELEASE_BATCH));
      return { ...result, rows: [] };
    }
    return result;
  }

  /** `canHold`: a require_approval budget may hold the statement (BudgetHold) rather than refuse it. */
  private async executeBuffered(p: Runnable, canHold = false): Promise<QueryResult> {
    const { ctx, decision, transaction, started } = p;
    const req = { requestId: ctx.requestId, sql: p.sql, params: p.params };
    // Read one row past the limit to know whether the result was cut. A policy row cap truncates
    // (and says so); the door's own maximum is an error, so a client never mistakes a cut for all.
    const policyCap = decision.rowLimit > 0 && decision.rowLimit <= this.deps.limits.maxRows ? decision.rowLimit : 0;
    const limit = policyCap || this.deps.limits.maxRows;
    let columns: ResultColumn[] = [];
    let session: MaskSession | undefined;
    let rows: Cell[][] = [];
    let truncated = false;
    let stage = 'upstream';
    let exec: Awaited<ReturnType<UpstreamPort['execute']>> | undefined;
    // PHI budgets count what leaves, after masking and the row cap, before the record that releases it.
    const gate = BudgetGate.for(this.deps.budgets, this.deps.bindings(), ctx, {
      canHold: canHold && this.deps.held !== undefined,
      ...(p.budgetApproved ? { approved: p.budgetApproved } : {}),
    });
    try {
      exec = await this.deps.upstream.execute(
        ctx.connection,
        ctx.role,
        req.sql,
        req.params,
        {
          columns: (cols) => {
            columns = cols;
            session = this.openMasking(req.requestId, cols, decision);
            gate?.columns(cols, decision);
          },
          rows: async (batch) => {
            stage = 'masking';
            const kept = batch.slice(0, limit + 1 - rows.length);
            const masked = await maskAll(session!, kept);
            // The row past the limit never leaves: it is not counted.
            const counted = Math.max(0, Math.min(masked.length, limit - rows.length));
            gate?.add(kept.slice(0, counted), masked.slice(0, counted));
            // Appended in place: concat copied every row so far for each upstream batch (quadratic;
            // seconds for a 100,000-row result).
            for (const r of masked) rows.push(r);
            stage = 'upstream';
            return rows.length <= limit;
          },
        },
        {
          transaction,
          session: p.session,
          signal: p.signal,
          maxRows: limit + 1,
          caller: ctx.identity.clientId,
          ...(p.settings ? { settings: p.settings } : {}),
        },
      );
      stage = 'masking';
      const report = session ? await session.finish() : { columns: [], leaks: [] };
      if (rows.length > limit) {
        if (!policyCap) throw new AppError('GATEWAY_RESULT_TOO_LARGE', { details: { maxRows: this.deps.limits.maxRows } });
        rows = rows.slice(0, limit);
        truncated = true;
      }
      stage = 'budget';
      const budgetEvents = gate ? await gate.check() : [];
      stage = 'audit';
      const affectedRows = exec.command === 'SELECT' ? undefined : exec.rowCount;
      const executed = { upstreamMs: exec.upstreamMs, columns: columns.map((c) => c.name) };
      const completed = { rows: affectedRows ?? rows.length, bytes: bytesOf(rows), durationMs: this.now() - started };
      const received = p.unrecorded;
      p.unrecorded = undefined;
      await this.recordOrFail(
        ctx,
        received
          ? [{ type: 'query.served', received, decision, executed, masking: { columns: report.columns }, leaks: report.leaks, completed }, ...budgetEvents]
          : [{ type: 'query.executed', ...executed }, ...outcomeEvents(report, completed.rows, completed.bytes, completed.durationMs), ...budgetEvents],
      );
      stage = 'commit';
      await exec.finish(true);
      return {
        requestId: req.requestId,
        columns: clientColumns(columns, decision),
        rows,
        rowCount: rows.length,
        truncated,
        command: exec.command,
        ...(affectedRows === undefined ? {} : { affectedRows }),
        decision,
      };
    } catch (err) {
      session?.abort();
      // Nothing was committed unless the commit itself was the last thing to fail.
      if (stage !== 'commit') await exec?.finish(false).catch(() => undefined);
      if (err instanceof BudgetHold) {
        // The statement and its decision, then why it waits; approval.requested follows (submit).
        await this.recordOrFail(ctx, [...QueryService.unrecorded(p), ...(gate?.takeRefusal() ?? [])]);
        throw err;
      }
      const e = toAppError(err, stage === 'masking' ? 'GATEWAY_MASKING_FAILED' : 'GATEWAY_UPSTREAM_ERROR');
      if (stage !== 'audit') await this.recordOrFail(ctx, [...QueryService.unrecorded(p), ...(gate?.takeRefusal() ?? []), failed(e, stage)]);
      throw e;
    }
  }

  /**
   * A plain read whose masked rows leave in batches while upstream still sends them (COPY … TO
   * STDOUT): memory stays at a batch or two whatever the size of the result. What is durable
   * before the first row leaves is the statement, its decision and `query.executed` (the rows are
   * about to be released); masking, leaks and `query.completed` follow the last row, so a stream
   * cut short (a crash, a dropped client) shows as executed without completion. A policy row cap
   * ends the stream there (truncated); past the door's streaming maximum the stream fails, after
   * the rows already released.
   */
  private async executeStreaming(p: Runnable, release: RowRelease): Promise<QueryResult> {
    const { ctx, decision, started } = p;
    const maxRows = this.deps.limits.maxStreamRows ?? this.deps.limits.maxRows;
    const policyCap = decision.rowLimit > 0 && decision.rowLimit <= maxRows ? decision.rowLimit : 0;
    const limit = policyCap || maxRows;
    const firstRowAt = this.now();
    let columns: ResultColumn[] = [];
    let session: MaskSession | undefined;
    let released = 0;
    let bytes = 0;
    let truncated = false;
    let opened = false;
    let stage = 'upstream';
    // A stream is counted batch by batch before each batch leaves; a refused batch ends it there.
    const gate = BudgetGate.for(this.deps.budgets, this.deps.bindings(), ctx);
    // Before the first row (or the end of an empty result): the record that rows are leaving.
    const open = async () => {
      if (opened) return;
      opened = true;
      stage = 'audit';
      await this.recordOrFail(ctx, [
        ...QueryService.unrecorded(p),
        { type: 'query.executed', upstreamMs: this.now() - firstRowAt, columns: columns.map((c) => c.name) },
      ]);
      stage = 'release';
      await release.columns(clientColumns(columns, decision));
    };
    try {
      const exec = await this.deps.upstream.execute(
        ctx.connection,
        ctx.role,
        p.sql,
        p.params,
        {
          columns: (cols) => {
            columns = cols;
            session = this.openMasking(ctx.requestId, cols, decision);
            gate?.columns(cols, decision);
          },
          rows: async (batch) => {
            if (released + batch.length > limit) {
              if (!policyCap) throw new AppError('GATEWAY_RESULT_TOO_LARGE', { details: { maxRows: limit } });
              batch = batch.slice(0, limit - released);
              truncated = true;
            }
            stage = 'masking';
            const masked = await maskAll(session!, batch);
            if (gate) {
              stage = 'budget';
              gate.add(batch, masked);
              const events = await gate.check();
              if (events.length) await this.recordOrFail(ctx, [...QueryService.unrecorded(p), ...events]);
            }
            await open();
            stage = 'release';
            await release.rows(masked);
            released += masked.length;
            bytes += bytesOf(masked);
            stage = 'upstream';
            return !truncated;
          },
        },
        { transaction: false, session: p.session, signal: p.signal, caller: ctx.identity.clientId, ...(p.settings ? { settings: p.settings } : {}) },
      );
      await open();
      stage = 'masking';
      const report = session ? await session.finish() : { columns: [], leaks: [] };
      stage = 'audit';
      await this.recordOrFail(ctx, outcomeEvents(report, released, bytes, this.now() - started));
      return {
        requestId: ctx.requestId,
        columns: clientColumns(columns, decision),
        rows: [],
        rowCount: released,
        truncated,
        command: exec.command,
        decision,
      };
    } catch (err) {
      session?.abort();
      const e = toAppError(err, stage === 'masking' ? 'GATEWAY_MASKING_FAILED' : 'GATEWAY_UPSTREAM_ERROR');
      if (stage !== 'audit') await this.recordOrFail(ctx, [...QueryService.unrecorded(p), ...(gate?.takeRefusal() ?? []), failed(e, stage)]);
      throw e;
    }
  }

  private openMasking(requestId: string, cols: ResultColumn[], decision: Decision): MaskSession {
    return openMasking(this.deps, requestId, cols, decision, this.random);
  }

  async recordOrFail(ctx: RequestContext, events: DomainEvent[]): Promise<void> {
    try {
      await this.deps.audit.record(ctx, events);
    } catch (cause) {
      throw new AppError('GATEWAY_AUDIT_UNAVAILABLE', { cause, details: { requestId: ctx.requestId } });
    }
  }
}
