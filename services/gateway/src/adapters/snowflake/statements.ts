// The Snowflake door's statements: `POST /queries/v1/query-request` runs the statement through the
// same lifecycle as the HTTP API (decided, masked, audited; its queryId is the audit requestId), with
// the driver's requestId as an idempotency key so a re-sent request attaches to the statement it
// started; `describeOnly` (JDBC's prepare) answers the shape without running anything; the abort
// requests cancel a running or held statement.
import { randomUUID } from 'node:crypto';
import { AppError, toAppError } from '@phigate/errors';
import { dmlCounters, type Envelope, inProgress, ok, resultData, statementTypeId } from '@phigate/snowflake-wire';
import type { Logger } from '@phigate/telemetry';
import type { HeldQueries } from '../../domain/held-queries.js';
import type { UpstreamSession } from '../../domain/ports.js';
import type { QueryService } from '../../domain/query-service.js';
import { withScrubbedUpstream } from '../../domain/scrub-error.js';
import { bindStatement, takesArrayBinds } from './binds.js';
import { statementError } from './errors.js';
import { sessionInfo } from './login.js';
import { classify, Metadata, type MetadataQueries } from './metadata.js';
import type { Results } from './results.js';
import type { SessionControl } from './session-control.js';
import { analysisOptions, purposeOfQueryTag, withSessionParameters } from './session-statements.js';
import type { QueryRecord, SfSession, SfStore } from './store.js';

export interface StatementDeps {
  queries: Pick<QueryService, 'submit'> & MetadataQueries;
  held: Pick<HeldQueries, 'cancel'>;
  store: SfStore;
  log: Logger;
  /** Longest a query-request is held open before "in progress" (ms). */
  holdMs: number;
  /** How long a held statement's record is kept past its approval's expiry. */
  heldRetainMs: number;
  /** Transaction control, ALTER SESSION and USE, answered by the door (session-control.ts). */
  control?: SessionControl;
}

/** The statement's first keyword, for describe-only answers. */
function firstKeyword(sql: string): string {
  const m = /^\s*(?:(?:--[^\n]*\n|\/\*[\s\S]*?\*\/)\s*)*([A-Za-z]+)/.exec(sql);
  const k = (m?.[1] ?? '').toUpperCase();
  return k === 'WITH' || k === 'SHOW' || k === 'DESCRIBE' || k === 'DESC' ? 'SELECT' : k;
}

/**
 * `SELECT * FROM TABLE(RESULT_SCAN('<query id>'))`, exactly: how snowflake-jdbc reads the rows of a
 * statement it ran with executeAsyncQuery. The query id it names, else undefined (any other use of
 * RESULT_SCAN takes the ordinary path, where the analyser does not understand it and policy denies).
 */
export function resultScanOf(sql: string): string | undefined {
  return /^\s*SELECT\s+\*\s+FROM\s+TABLE\s*\(\s*RESULT_SCAN\s*\(\s*'([0-9a-fA-F-]{36})'\s*\)\s*\)\s*;?\s*$/i.exec(sql)?.[1]?.toLowerCase();
}

export class Statements {
  /** SHOW, DESCRIBE and INFORMATION_SCHEMA statements, answered filtered by policy (metadata.ts). */
  private readonly metadata: Metadata;

  constructor(
    private readonly d: StatementDeps,
    private readonly results: Results,
  ) {
    this.metadata = new Metadata(d.queries);
  }

  /**
   * A query-request: its answer (rows, error, or "in progress" after the hold), or 333334 at once
   * for `asyncExec`. `requestId`: the driver's (a fresh one when it sends none).
   */
  async request(s: SfSession, body: Record<string, unknown>, requestId: string, traceparent: string, base: string): Promise<Envelope> {
    const sql = typeof body.sqlText === 'string' ? body.sqlText : '';
    const deadline = Date.now() + this.d.holdMs;
    if (body.describeOnly === true) return describeOnly(s, sql);
    const answered = await this.d.control?.answer(s, sql);
    if (answered) return answered;
    // The caller's own statement's result, as it was masked and recorded when it ran (its chunks
    // are served the same way); another identity's statement is not found.
    const scanned = resultScanOf(sql);
    if (scanned) return this.results.answer(s, scanned, deadline, base);
    const claim = await this.d.store.claimRequest(s.id, requestId, randomUUID());
    if (claim.fresh) {
      let bound: { sql: string; params: unknown[] };
      try {
        bound = bindStatement(sql, body.bindings);
      } catch (err) {
        return statementError(err, claim.queryId);
      }
      const q: QueryRecord = {
        queryId: claim.queryId,
        sessionId: s.id,
        subject: s.identity.subject,
        issuer: s.identity.issuer,
        asyncExec: body.asyncExec === true,
        status: 'running',
        startTime: Date.now(),
        endTime: 0,
      };
      await this.d.store.putQuery(q);
      this.results.track(q.queryId, this.run(s, q, bound.sql, bound.params, traceparent));
      if (q.asyncExec) return inProgress(q.queryId, true);
    }
    return this.results.answer(s, claim.queryId, deadline, base);
  }

  /** Cancels the caller's running or held statement; a held one's continuation is cancelled too, so a later approval does not run it. */
  async abort(s: SfSession, queryId: string | undefined): Promise<null> {
    const q = queryId ? await this.d.store.getQuery(queryId) : undefined;
    if (!q || q.sessionId !== s.id || (q.status !== 'running' && q.status !== 'held'))
      throw new AppError('GATEWAY_SF_NOT_EXECUTING', { message: 'Identified SQL statement is not currently executing.' });
    const held = q.status === 'held';
    if (held) await this.d.held.cancel(q.queryId, s.identity.subject, s.identity.issuer);
    q.status = 'aborted';
    q.endTime = Date.now();
    // A held statement reads as its continuation was finished (the audit trail's code), a running one as canceled.
    q.error = statementError(held ? new AppError('GATEWAY_APPROVAL_CANCELLED') : new AppError('GATEWAY_SF_QUERY_CANCELED'), q.queryId);
    await this.d.store.putQuery(q);
    this.d.log.info({ requestId: q.queryId, sessionId: s.id }, 'snowflake statement aborted by the client');
    return null;
  }

  /** The statement of the session that a driver's requestId started, if any. */
  byRequest(s: SfSession, requestId: string): Promise<string | undefined> {
    return this.d.store.queryByRequest(s.id, requestId);
  }

  /** A metadata statement goes to metadata.ts, any other to the query lifecycle. */
  private submit(s: SfSession, req: Parameters<QueryService['submit']>[0]) {
    const meta = classify(req.sql);
    return meta ? this.metadata.submit(req, meta, { database: s.database, schema: s.schema }) : this.d.queries.submit(req);
  }

  private async run(s: SfSession, q: QueryRecord, sql: string, params: unknown[], traceparent: string): Promise<void> {
    let session: UpstreamSession | undefined;
    try {
      // Inside the client's transaction (or AUTOCOMMIT off) the statement runs on its pinned upstream session.
      session = await this.d.control?.statementSession(s);
      const resolution = analysisOptions(s.settings);
      const outcome = await this.submit(s, {
        requestId: q.queryId,
        sessionId: String(s.id),
        frontDoor: 'snowflake',
        identity: s.identity,
        ...(s.peer ? { client: s.peer } : {}),
        connection: s.connection,
        sql,
        params,
        traceparent,
        ...(session ? { session } : {}),
        ...(this.d.control ? { settings: this.d.control.settings(s) } : {}),
        ...(s.settings?.QUERY_TAG ? { queryTag: s.settings.QUERY_TAG } : {}),
        ...(purposeOfQueryTag(s.settings?.QUERY_TAG) !== undefined ? { purpose: purposeOfQueryTag(s.settings?.QUERY_TAG) } : {}),
        ...(resolution ? { analysisOptions: resolution } : {}),
      });
      if (outcome.kind === 'held') {
        q.status = 'held';
        this.d.log.info({ requestId: q.queryId, sessionId: s.id, approvalId: outcome.held.approvalId }, 'snowflake statement held for approval');
        const keep = Date.parse(outcome.held.expiresAt) - Date.now() + this.d.heldRetainMs;
        const now = await this.d.store.getQuery(q.queryId);
        if (now?.status !== 'aborted') await this.d.store.putQuery(q, Math.max(keep, 60_000));
        return;
      }
      await this.results.complete(q, s, outcome.result);
      if (q.data) q.data.parameters = withSessionParameters(q.data.parameters, s.settings);
      this.d.log.info({ requestId: q.queryId, sessionId: s.id, rows: outcome.result.rowCount, chunks: q.chunks?.length ?? 0 }, 'snowflake statement completed');
    } catch (err) {
      const e = withScrubbedUpstream(toAppError(err), sql);
      this.d.log.info({ requestId: q.queryId, sessionId: s.id, code: e.code }, 'snowflake statement refused');
      q.status = 'failed';
      q.error = statementError(e, q.queryId);
      q.endTime = Date.now();
    } finally {
      if (session) this.d.control?.statementDone(s, session);
    }
    await this.results.settle(q);
  }
}

/** Describe-only (JDBC prepares this way) must not execute: the shape it can know without running. */
function describeOnly(s: SfSession, sql: string): Envelope {
  const command = firstKeyword(sql);
  return ok(
    resultData({
      queryId: randomUUID(),
      // A DML statement's result is its counters (Python's executemany reads them before binding).
      columns: dmlCounters(command, 0)?.columns ?? [],
      rowset: [],
      total: 0,
      statementTypeId: statementTypeId(command),
      session: sessionInfo(s),
      numberOfBinds: (sql.match(/\?/g) ?? []).length,
      arrayBindSupported: takesArrayBinds(sql),
    }),
  );
}
