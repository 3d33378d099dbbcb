import { createHash } from 'node:crypto';
import { AppError, toAppError } from '@phigate/errors';
import type { AuditPort, DomainEvent, RequestContext } from './ports.js';
import type { HeldInfo, HoldPort, Prepared, QueryResult, Runnable } from './query-service.js';
import { type Decision, globMatch } from './types.js';

// Held statements: a require_approval decision becomes a continuation in a shared store; the
// approval workflow decides it; whichever gateway replica claims it first resumes it, exactly
// once; the outcome is kept, sealed, for the requester to fetch from any replica.

/** Everything needed to resume a held statement on any replica. Sealed at rest (it holds the statement). */
export interface Continuation {
  ctx: RequestContext;
  sql: string;
  params: unknown[];
  /** The approval is bound to this statement and these parameters. */
  fingerprint: string;
  paramsHash: string;
  decision: Decision;
  transaction: boolean;
  /** Filled once the approval service has opened the approval. */
  approvalId: string;
  /** A PHI budget hold: the budgets the approval lets the statement past (QueryService.submit). */
  budgetApproved?: readonly string[];
  createdAt: string;
  expiresAt: string;
}

export type HeldStatus = 'pending' | 'running' | 'completed' | 'failed';

export type HeldOutcome = { kind: 'result'; result: QueryResult } | { kind: 'error'; code: string; message: string; details: Record<string, unknown> };

export interface HeldState {
  status: HeldStatus;
  continuation: Continuation;
  outcome?: HeldOutcome;
  /** Replica that claimed it, and when. */
  claimedBy?: string;
  claimedAt?: number;
}

/** The shared store of continuations (Redis). Every method rejects when the store is unreachable. */
export interface HeldStorePort {
  /** Stores a new pending continuation until `retainUntil` (ms). */
  put(c: Continuation, retainUntil: number): Promise<void>;
  /** Sets the approval id once the approval is open. */
  setApproval(requestId: string, approvalId: string): Promise<void>;
  get(requestId: string): Promise<HeldState | undefined>;
  /** pending → running for exactly one caller across all replicas. */
  claim(requestId: string, replica: string, now: number): Promise<boolean>;
  /** running (or pending, for failures before a claim) → completed/failed; announces the outcome. */
  finish(requestId: string, outcome: HeldOutcome): Promise<void>;
  /** Pending continuations, and running ones claimed before `runningBefore`. */
  open(runningBefore: number): Promise<Array<{ requestId: string; status: HeldStatus; approvalId: string; expiresAt: number }>>;
}

export type ApprovalStatus = 'pending' | 'granted' | 'denied' | 'expired';

export interface ApprovalView {
  status: ApprovalStatus;
  votes: Array<{ approver: string; decision: 'approve' | 'deny'; at: string }>;
  notified: boolean;
}

/** The approval service, as the gateway uses it. */
export interface ApprovalsPort {
  /** Opens (idempotently, by request id) the approval and asks for its message to be delivered. */
  open(c: Continuation, facts: { tables: string[]; phiColumns: string[] }): Promise<{ approvalId: string; notified: boolean }>;
  status(approvalId: string): Promise<ApprovalView | undefined>;
}

export interface HeldQueriesDeps {
  store: HeldStorePort;
  approvals: ApprovalsPort;
  audit: AuditPort;
  /** Executes a prepared statement (QueryService.execute). */
  execute(p: Runnable): Promise<QueryResult>;
  /** Re-checks, at resume time, that the identity is still bound to that connection and role. */
  rebind(ctx: RequestContext): void;
  replicaId: string;
  /** How long an outcome stays readable after the approval's expiry. */
  retainMs: number;
  /** A claimed run older than this without an outcome is declared unknown (never re-run). */
  runTimeoutMs: number;
  /** No statement waits longer than this for approval, whatever the policy asks. */
  maxExpiryMs: number;
  /** Resolves when an outcome for this request is announced, or after `ms` (whichever is first). */
  waitSignal(requestId: string, ms: number): Promise<void>;
  now?: () => number;
  onError?: (err: unknown, requestId: string) => void;
}

/** A stable hash of bound parameters, so an approval names exactly what it approved. */
export function paramsHash(params: unknown[]): string {
  return createHash('sha256')
    .update(JSON.stringify(params ?? []))
    .digest('hex');
}

export class HeldQueries implements HoldPort {
  private readonly now: () => number;
  /** Resumes in progress on this replica, so a signal and a reconcile pass do not race locally. */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(private readonly deps: HeldQueriesDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Holds a decided statement: store the continuation, open the approval, record
   * approval.requested durably. Any failure fails closed: the statement will not run.
   */
  async hold(p: Prepared): Promise<HeldInfo> {
    const req = p.decision.approval;
    if (!req) throw new AppError('COMMON_INTERNAL', { message: 'a require_approval decision without its approval requirement' });
    const created = this.now();
    const expiresAt = created + Math.min(req.expiresInSec * 1000, this.deps.maxExpiryMs);
    const c: Continuation = {
      ctx: p.ctx,
      sql: p.sql,
      params: p.params,
      fingerprint: p.analysis.fingerprint,
      paramsHash: paramsHash(p.params),
      decision: p.decision,
      transaction: p.transaction,
      approvalId: '',
      ...(p.budgetApproved ? { budgetApproved: p.budgetApproved } : {}),
      createdAt: new Date(created).toISOString(),
      expiresAt: new Date(expiresAt).toISOString(),
    };
    const facts = {
      tables: [...new Set(p.analysis.statements.flatMap((s) => [...s.tablesRead, ...s.tablesWritten].map((t) => `${t.schema}.${t.name}`)))],
      // PHI columns are those the policy's masking plan names; show the ones the statement reads.
      phiColumns: [
        ...new Set(
          p.analysis.statements
            .flatMap((s) => s.columnsRead)
            .filter((r) =>
              p.decision.maskingPlan.columns.some(
                (m) => globMatch(m.schema, r.table.schema) && globMatch(m.table, r.table.name) && globMatch(m.column, r.column),
              ),
            )
            .map((r) => `${r.table.schema}.${r.table.name}.${r.column}`),
        ),
      ],
    };
    try {
      await this.deps.store.put(c, expiresAt + this.deps.retainMs);
    } catch (cause) {
      const e = new AppError('GATEWAY_APPROVAL_UNAVAILABLE', { cause, details: { requestId: p.ctx.requestId } });
      await this.record(p.ctx, [failed(e, 'approval')]).catch(() => undefined);
      throw e;
    }
    let opened: { approvalId: string; notified: boolean };
    try {
      opened = await this.deps.approvals.open(c, facts);
      c.approvalId = opened.approvalId;
      await this.deps.store.setApproval(p.ctx.requestId, opened.approvalId);
      await this.record(p.ctx, [
        {
          type: 'approval.requested',
          approvalId: opened.approvalId,
          expiresAt: c.expiresAt,
          approverGroups: req.groups,
          quorum: req.quorum,
          fingerprint: c.fingerprint,
          paramsHash: c.paramsHash,
        },
      ]);
    } catch (err) {
      const e = isAuditFailure(err) ? toAppError(err) : new AppError('GATEWAY_APPROVAL_UNAVAILABLE', { cause: err, details: { requestId: p.ctx.requestId } });
      await this.deps.store.finish(p.ctx.requestId, errorOutcome(e)).catch(() => undefined);
      await this.record(p.ctx, [failed(e, 'approval')]).catch(() => undefined);
      throw e;
    }
    return { requestId: p.ctx.requestId, approvalId: opened.approvalId, expiresAt: c.expiresAt };
  }

  /**
   * Brings one held request forward: if its approval is final (or it has expired), claim it and
   * resume it. Safe to call any number of times, from any replica: only the claimer acts.
   */
  resume(requestId: string): Promise<void> {
    const running = this.inFlight.get(requestId);
    if (running) return running;
    const work = this.resumeOnce(requestId)
      .catch((err) => this.deps.onError?.(err, requestId))
      .finally(() => this.inFlight.delete(requestId));
    this.inFlight.set(requestId, work);
    return work;
  }

  /** One pass over every open continuation: catches missed signals, expiries and lost runs. */
  async reconcile(): Promise<void> {
    const now = this.now();
    const open = await this.deps.store.open(now - this.deps.runTimeoutMs);
    for (const o of open) {
      if (o.status === 'running') await this.declareUnknown(o.requestId).catch((err) => this.deps.onError?.(err, o.requestId));
      else await this.resume(o.requestId);
    }
  }

  /** The state of a request for its requester; undefined for anyone else (ids of others are not confirmed). */
  async view(requestId: string, subject: string, issuer: string): Promise<HeldState | undefined> {
    const s = await this.deps.store.get(requestId);
    if (!s) return undefined;
    const who = s.continuation.ctx.identity;
    if (who.subject !== subject || who.issuer !== issuer) return undefined;
    return s;
  }

  /**
   * Waits until the request is completed or failed, or until `untilMs`; returns its latest state.
   * Signals wake it at once; a lost signal costs at most a second.
   */
  async settle(requestId: string, untilMs: number): Promise<HeldState | undefined> {
    for (;;) {
      const s = await this.deps.store.get(requestId);
      if (!s || s.status === 'completed' || s.status === 'failed') return s;
      const left = untilMs - this.now();
      if (left <= 0) return s;
      await this.deps.waitSignal(requestId, Math.min(left, 1000));
    }
  }

  /**
   * The requester gives up on a held statement (a Snowflake client's abort): claim it as a resume
   * would, so no replica can run it after a later approval, and finish it as cancelled. False when
   * it is not the requester's, or no longer waiting (already running or finished).
   */
  async cancel(requestId: string, subject: string, issuer: string): Promise<boolean> {
    const state = await this.view(requestId, subject, issuer);
    if (state?.status !== 'pending') return false;
    if (!(await this.deps.store.claim(requestId, this.deps.replicaId, this.now()))) return false;
    const e = new AppError('GATEWAY_APPROVAL_CANCELLED', { details: { requestId, approvalId: state.continuation.approvalId } });
    // The outcome is final either way; the record is best effort after the claim, as for a denial.
    await this.record(state.continuation.ctx, [failed(e, 'approval')]).catch((err) => this.deps.onError?.(err, requestId));
    await this.deps.store.finish(requestId, errorOutcome(e));
    return true;
  }

  private async resumeOnce(requestId: string): Promise<void> {
    const state = await this.deps.store.get(requestId);
    if (state?.status !== 'pending') return;
    const c = state.continuation;
    const now = this.now();
    const expired = now >= Date.parse(c.expiresAt);
    let view: ApprovalView | undefined;
    if (c.approvalId) {
      try {
        view = await this.deps.approvals.status(c.approvalId);
      } catch (err) {
        // The approval service is unreachable: nothing can be granted; an expiry still ends it.
        if (!expired) throw err;
      }
      if (view?.status === 'pending' && !view.notified && !expired) {
        // Slack was unreachable when the approval opened: deliver again (idempotent by request id).
        await this.deps.approvals.open(c, { tables: [], phiColumns: [] }).catch(() => undefined);
      }
    }
    const status: ApprovalStatus = view && view.status !== 'pending' ? view.status : expired ? 'expired' : 'pending';
    if (status === 'pending') return;
    if (!(await this.deps.store.claim(requestId, this.deps.replicaId, now))) return;

    const ctx = c.ctx;
    if (status === 'denied' || status === 'expired') {
      const denier = view?.votes.find((v) => v.decision === 'deny')?.approver ?? '';
      const e =
        status === 'denied'
          ? new AppError('GATEWAY_APPROVAL_DENIED', { details: { requestId, approvalId: c.approvalId, approver: denier } })
          : new AppError('GATEWAY_APPROVAL_EXPIRED', { details: { requestId, approvalId: c.approvalId, expiresAt: c.expiresAt } });
      const event: DomainEvent =
        status === 'denied'
          ? { type: 'approval.denied', approvalId: c.approvalId, approver: denier, reason: 'denied by an approver' }
          : {
              type: 'approval.expired',
              approvalId: c.approvalId,
              reason: view && !view.notified ? 'the approval message could not be delivered before expiry' : 'no approver answered in time',
            };
      // The outcome is final either way; the record is best effort after the claim (retried by no one).
      await this.record(ctx, [event, failed(e, 'approval')]).catch((err) => this.deps.onError?.(err, requestId));
      await this.deps.store.finish(requestId, errorOutcome(e));
      return;
    }

    // Granted: record who approved, check the binding still holds, then run it — once.
    const approvers = (view?.votes ?? []).filter((v) => v.decision === 'approve').map((v) => v.approver);
    let outcome: HeldOutcome;
    try {
      await this.record(ctx, [{ type: 'approval.granted', approvalId: c.approvalId, approver: approvers.at(-1) ?? '', approvers }]);
      this.deps.rebind(ctx);
      const result = await this.deps.execute({
        ctx,
        sql: c.sql,
        params: c.params,
        decision: c.decision,
        transaction: c.transaction,
        started: now,
        ...(c.budgetApproved ? { budgetApproved: c.budgetApproved } : {}),
      });
      outcome = { kind: 'result', result };
    } catch (err) {
      outcome = errorOutcome(toAppError(err));
    }
    await this.deps.store.finish(requestId, outcome);
  }

  private async declareUnknown(requestId: string): Promise<void> {
    const state = await this.deps.store.get(requestId);
    if (state?.status !== 'running') return;
    const e = new AppError('GATEWAY_APPROVAL_OUTCOME_UNKNOWN', { details: { requestId, replica: state.claimedBy ?? '' } });
    await this.record(state.continuation.ctx, [failed(e, 'approval')]).catch(() => undefined);
    await this.deps.store.finish(requestId, errorOutcome(e));
  }

  private async record(ctx: RequestContext, events: DomainEvent[]): Promise<void> {
    try {
      await this.deps.audit.record(ctx, events);
    } catch (cause) {
      throw new AppError('GATEWAY_AUDIT_UNAVAILABLE', { cause, details: { requestId: ctx.requestId } });
    }
  }
}

function isAuditFailure(err: unknown): boolean {
  return (err as AppError)?.code === 'GATEWAY_AUDIT_UNAVAILABLE';
}

export function errorOutcome(e: AppError): HeldOutcome {
  return { kind: 'error', code: e.code, message: e.message, details: e.details };
}

function failed(e: AppError, stage: string): DomainEvent {
  return { type: 'query.failed', code: e.code, message: e.message, stage };
}
