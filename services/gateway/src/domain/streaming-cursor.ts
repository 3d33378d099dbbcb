// A server-side cursor read as it goes: DECLARE runs upstream, on the client's transaction session,
// for a SELECT decided like any other; each FETCH reads the next rows from the upstream cursor and
// releases them masked, batch by batch, so a cursor over millions of rows holds no more than a batch
// in memory. One masking stream serves the cursor's life. On the record: the statement and its
// decision before DECLARE runs (as for any statement), `query.executed` before the first row leaves,
// masking and completion when the cursor closes (CLOSE, or the end of its transaction or session).
import { AppError, toAppError } from '@phigate/errors';
import type { BudgetGate } from './budgets.js';
import type { DomainEvent, MaskSession, RequestContext, UpstreamPort, UpstreamSession } from './ports.js';
import { bytesOf, type ClientColumn, clientColumns, failed, maskAll, outcomeEvents } from './results.js';
import type { Cell, Decision, ResultColumn } from './types.js';

/** Where FETCH's rows go: the columns once per FETCH, then masked batches (resolve when the client can take more). */
export interface CursorRelease {
  columns(columns: ClientColumn[]): Promise<void> | void;
  rows(batch: Cell[][]): Promise<void>;
}

export interface StreamingCursorDeps {
  upstream: UpstreamPort;
  openMasking: (requestId: string, cols: ResultColumn[], decision: Decision) => MaskSession;
  record: (ctx: RequestContext, events: DomainEvent[]) => Promise<void>;
  now: () => number;
  /** The most rows a cursor may release (beyond: the FETCH fails); a policy row_limit ends it sooner. */
  maxRows: number;
  /** The statement's PHI budgets: each batch is counted before it leaves; a refusal ends the cursor. */
  budget?: BudgetGate;
}

/** An identifier as PostgreSQL needs it quoted. */
const quoted = (name: string) => `"${name.replace(/"/g, '""')}"`;

export class StreamingCursor {
  private session: MaskSession | undefined;
  private released = 0;
  private bytes = 0;
  private executedRecorded = false;
  private done = false;
  private readonly limit: number;
  private readonly policyCap: number;
  /** The policy row cap ended the cursor (the client is told once). */
  truncated = false;

  constructor(
    private readonly deps: StreamingCursorDeps,
    readonly ctx: RequestContext,
    readonly decision: Decision,
    private readonly upstreamSession: UpstreamSession,
    readonly name: string,
    private readonly started: number,
  ) {
    this.policyCap = decision.rowLimit > 0 && decision.rowLimit <= deps.maxRows ? decision.rowLimit : 0;
    this.limit = this.policyCap || deps.maxRows;
  }

  /** Declares the cursor upstream for `sql` (the decided SELECT). */
  async declare(sql: string, params: unknown[], signal?: AbortSignal): Promise<void> {
    await this.run(`DECLARE ${quoted(this.name)} NO SCROLL CURSOR FOR ${sql}`, params, undefined, signal);
  }

  /**
   * FETCH FORWARD `count` (Infinity: ALL), or MOVE when `release` is absent. Returns how many rows it
   * read. Past the policy cap nothing more is read; past the door's maximum the FETCH fails.
   */
  async fetch(count: number, release?: CursorRelease, signal?: AbortSignal): Promise<number> {
    if (this.done) throw new AppError('GATEWAY_PG_CURSOR_UNKNOWN', { message: `cursor "${this.name}" is closed` });
    // One row past the door's maximum tells a cut from the end; the policy cap is never passed.
    const room = this.policyCap ? this.limit - this.released : this.limit - this.released + 1;
    const want = Math.min(count, room);
    const capped = this.policyCap > 0 && count > room;
    if (want <= 0) {
      this.truncated = capped;
      await release?.columns([]);
      return 0;
    }
    const sql = `${release ? 'FETCH' : 'MOVE'} FORWARD ${Number.isFinite(want) ? want : 'ALL'} FROM ${quoted(this.name)}`;
    let n = 0;
    const exec = await this.run(
      sql,
      [],
      release && {
        columns: async (cols) => {
          if (!this.session) this.deps.budget?.columns(cols, this.decision);
          this.session ??= this.deps.openMasking(this.ctx.requestId, cols, this.decision);
          if (!this.executedRecorded) {
            this.executedRecorded = true;
            await this.deps.record(this.ctx, [{ type: 'query.executed', upstreamMs: this.deps.now() - this.started, columns: cols.map((c) => c.name) }]);
          }
          await release.columns(clientColumns(cols, this.decision));
        },
        rows: async (batch) => {
          if (this.released + batch.length > this.limit) throw new AppError('GATEWAY_RESULT_TOO_LARGE', { details: { maxRows: this.limit } });
          const masked = await maskAll(this.session!, batch);
          if (this.deps.budget) {
            this.deps.budget.add(batch, masked);
            const events = await this.deps.budget.check();
            if (events.length) await this.deps.record(this.ctx, events);
          }
          await release.rows(masked);
          this.released += masked.length;
          this.bytes += bytesOf(masked);
          n += masked.length;
          return true;
        },
      },
      signal,
    );
    if (!release) n = exec.rowCount;
    if (capped && n === want) this.truncated = true;
    return n;
  }

  /**
   * Ends the cursor: CLOSE upstream when its transaction is still open (`upstreamOpen`), then the
   * record of what it released. Never throws for the record's sake when the session is already gone.
   */
  async close(upstreamOpen: boolean): Promise<void> {
    if (this.done) return;
    this.done = true;
    if (upstreamOpen) await this.run(`CLOSE ${quoted(this.name)}`, []);
    const report = this.session ? await this.session.finish() : { columns: [], leaks: [] };
    const events: DomainEvent[] = this.executedRecorded ? [] : [{ type: 'query.executed', upstreamMs: this.deps.now() - this.started, columns: [] }];
    await this.deps.record(this.ctx, [...events, ...outcomeEvents(report, this.released, this.bytes, this.deps.now() - this.started)]);
  }

  /** The cursor failed: recorded as the statement's failure; its masking stream ends. */
  async fail(err: unknown, stage: string): Promise<AppError> {
    const e = toAppError(err, 'GATEWAY_UPSTREAM_ERROR');
    if (this.done) return e;
    this.done = true;
    this.session?.abort();
    await this.deps.record(this.ctx, [...(this.deps.budget?.takeRefusal() ?? []), failed(e, stage)]).catch(() => undefined);
    return e;
  }

  private async run(sql: string, params: unknown[], sink?: Parameters<UpstreamPort['execute']>[4], signal?: AbortSignal) {
    try {
      return await this.deps.upstream.execute(this.ctx.connection, this.ctx.role, sql, params, sink ?? { columns: () => {}, rows: async () => true }, {
        transaction: false,
        session: this.upstreamSession,
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      throw await this.fail(err, 'upstream');
    }
  }
}
