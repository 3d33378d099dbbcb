// The Snowflake door's results: a finished statement's masked rows shaped as Snowflake's result data
// (rows past the first chunk sealed in Redis as gzip'd chunks), the answer to a query-request or a
// result poll (`GET /queries/<id>/result`, from any replica), held open until there is an outcome or
// the hold ends, and the chunks themselves, served to whoever has the signed URL and the chunk key.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { AppError, isErrorCode } from '@phigate/errors';
import {
  chunkBody,
  chunkSlices,
  dmlCounters,
  type Envelope,
  inProgress,
  ok,
  type RowType,
  resultData,
  rowType,
  statementTypeId,
} from '@phigate/snowflake-wire';
import type { HeldQueries } from '../../domain/held-queries.js';
import type { QueryResult } from '../../domain/query-service.js';
import { ArrowEncodingError, arrowChunk, type EncodedCell } from './arrow.js';
import { encodeResult } from './encoding.js';
import { statementError } from './errors.js';
import { sessionInfo } from './login.js';
import { type FormatOf, resultFormat } from './result-format.js';
import type { ChunkMeta, QueryRecord, SfSession, SfStore } from './store.js';

/** How often a poll re-reads the state of a statement another replica is running. */
const REMOTE_POLL_MS = 250;
/** How long a minted chunk URL stays valid. */
const CHUNK_URL_MS = 10 * 60_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export interface ResultDeps {
  store: SfStore;
  held: Pick<HeldQueries, 'view' | 'settle'>;
  /** Rows inline in an answer, and per chunk once a result is chunked. */
  chunkRows: number;
}

export class Results {
  /** Statements this replica is running: a poll here waits on the statement itself, not on Redis. */
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly d: ResultDeps) {}

  /** Notes a statement this replica runs, so polls wake when it ends (kept a minute after). */
  track(queryId: string, run: Promise<void>): void {
    this.running.set(
      queryId,
      run.finally(() => setTimeout(() => this.running.delete(queryId), 60_000).unref()),
    );
  }

  /** Shapes a masked result as Snowflake's result data; rows past the first chunk go to sealed chunks. */
  async complete(q: QueryRecord, s: Pick<SfSession, 'database' | 'schema' | 'warehouse' | 'role'> & FormatOf, r: QueryResult): Promise<void> {
    const counters = r.affectedRows !== undefined ? dmlCounters(r.command, r.affectedRows) : undefined;
    const { rowtype, rowset } = counters ? { rowtype: counters.columns, rowset: [counters.row] } : encodeResult(r.columns, r.rows);
    const total = rowset.length;
    const chunked = !counters && total > this.d.chunkRows;
    // Rows answer in the session's format; DML counters always in JSON (as Snowflake sends them).
    const arrow = !counters && resultFormat(s) === 'arrow' ? arrowParts(rowtype.map(rowType), rowset, this.d.chunkRows) : undefined;
    const chunks: ChunkMeta[] = [];
    if (chunked) {
      for (const c of chunkSlices(total, this.d.chunkRows)) {
        const { body, uncompressedSize, compressedSize } = arrow ? gzipped(arrow.chunk(c.start)) : chunkBody(rowset.slice(c.start, c.start + c.rowCount));
        await this.d.store.putChunk(q.queryId, c.index, body);
        chunks.push({ rowCount: c.rowCount, uncompressedSize, compressedSize });
      }
    }
    const data = resultData({
      queryId: q.queryId,
      columns: rowtype,
      rowset: chunked ? rowset.slice(0, this.d.chunkRows) : rowset,
      total,
      statementTypeId: statementTypeId(r.command),
      session: sessionInfo(s),
      arrayBindSupported: false,
    });
    if (arrow) {
      // The first chunk inline as base64 Arrow IPC; an empty result sends none (the drivers read the rowtype).
      data.queryResultFormat = 'arrow';
      data.rowsetBase64 = total === 0 ? '' : arrow.chunk(0).toString('base64');
      delete data.rowset;
    }
    q.data = data;
    q.chunks = chunks;
    q.status = 'done';
    q.endTime = Date.now();
  }

  /** Writes a final state unless the client aborted the statement meanwhile (an abort wins). */
  async settle(q: QueryRecord): Promise<void> {
    const now = await this.d.store.getQuery(q.queryId);
    if (now?.status === 'aborted') return;
    await this.d.store.putQuery(q);
  }

  /**
   * The answer for a statement of the caller's: its result or error as soon as there is one, else
   * "in progress" after holding the request open until `deadline` (drivers poll again at once, so
   * never spin). A statement submitted with `asyncExec` answers 333334 while it runs (gosnowflake's
   * async mode polls on that code only), any other 333333. `base`: where chunk URLs point.
   */
  async answer(s: SfSession, queryId: string, deadline: number, base: string): Promise<Envelope> {
    for (;;) {
      const q = await this.d.store.getQuery(queryId);
      if (!q || q.subject !== s.identity.subject || q.issuer !== s.identity.issuer)
        throw new AppError('GATEWAY_SF_QUERY_NOT_FOUND', { message: `Statement ${queryId.slice(0, 40)} not found` });
      if (q.status === 'done') return ok(this.withChunkUrls(q, base));
      if (q.status === 'failed' || q.status === 'aborted') return q.error ?? statementError(new AppError('COMMON_INTERNAL'), queryId);
      const left = deadline - Date.now();
      if (q.status === 'held') {
        if (await this.settleHeld(q, s, left > 0 ? deadline : undefined)) continue;
        if (Date.now() >= deadline) return inProgress(queryId, q.asyncExec);
        await sleep(Math.min(deadline - Date.now(), REMOTE_POLL_MS));
        continue;
      }
      if (left <= 0) return inProgress(queryId, q.asyncExec);
      const mine = this.running.get(queryId);
      await (mine ? Promise.race([mine, sleep(left)]) : sleep(Math.min(left, REMOTE_POLL_MS)));
    }
  }

  /**
   * The caller's statement as it stands now, for monitoring: a held statement whose approval has
   * been decided is recorded with its outcome first (monitoring is all an async client polls until
   * it asks for the result). Undefined for an unknown id or another identity's statement.
   */
  async current(s: SfSession, queryId: string): Promise<QueryRecord | undefined> {
    const q = await this.d.store.getQuery(queryId);
    if (!q || q.subject !== s.identity.subject || q.issuer !== s.identity.issuer) return undefined;
    if (q.status === 'held' && (await this.settleHeld(q, s, undefined).catch(() => false))) return (await this.d.store.getQuery(queryId)) ?? q;
    return q;
  }

  /**
   * Waits (until `deadline`, when given) for a held statement's outcome and records it; true when
   * the record now has a final state.
   */
  private async settleHeld(q: QueryRecord, s: SfSession, deadline: number | undefined): Promise<boolean> {
    const state = await this.d.held.view(q.queryId, s.identity.subject, s.identity.issuer);
    if (!state) throw new AppError('GATEWAY_SF_QUERY_NOT_FOUND', { message: 'the held statement is no longer known (expired)' });
    const settled =
      deadline !== undefined && (state.status === 'pending' || state.status === 'running') ? await this.d.held.settle(q.queryId, deadline) : state;
    const outcome = settled?.outcome;
    if (outcome?.kind === 'result') await this.complete(q, s, outcome.result);
    else if (outcome?.kind === 'error') {
      q.status = 'failed';
      q.error = statementError(
        new AppError(isErrorCode(outcome.code) ? outcome.code : 'COMMON_INTERNAL', { message: outcome.message, details: outcome.details }),
        q.queryId,
      );
      q.endTime = Date.now();
    } else return false;
    await this.settle(q);
    return true;
  }

  /** A finished result's `data`, with chunk URLs (signed, expiring) minted for this answer. */
  private withChunkUrls(q: QueryRecord, base: string): Record<string, unknown> {
    const data = { ...(q.data ?? {}) };
    if (q.chunks?.length) {
      const exp = Date.now() + CHUNK_URL_MS;
      data.chunks = q.chunks.map((c, i) => ({
        url: `${base}/sf/chunks/${q.queryId}/${i}?exp=${exp}&sig=${this.sign(`chunk\0${q.queryId}\0${i}\0${exp}`)}`,
        ...c,
      }));
      data.chunkHeaders = { 'x-phigate-chunk-key': this.chunkKey(q.queryId, q.sessionId) };
      data.qrmk = null;
    }
    return data;
  }

  /**
   * A result chunk's gzip'd body. Drivers fetch chunks without the session token (as presigned
   * cloud URLs), so each needs an unexpired signed URL and the per-result key from `chunkHeaders`.
   */
  async chunk(queryId: string, index: string, exp: number, sig: string, key: string | undefined): Promise<Buffer> {
    const forbidden = new AppError('GATEWAY_SF_CHUNK_FORBIDDEN');
    if (!/^\d{1,6}$/.test(index) || !Number.isFinite(exp) || exp < Date.now() || !same(sig, this.sign(`chunk\0${queryId}\0${index}\0${exp}`))) throw forbidden;
    const q = await this.d.store.getQuery(queryId);
    if (q?.status !== 'done' || key === undefined || !same(key, this.chunkKey(q.queryId, q.sessionId))) throw forbidden;
    const body = await this.d.store.getChunk(queryId, Number(index));
    if (!body) throw new AppError('GATEWAY_SF_QUERY_NOT_FOUND', { message: 'the result chunk has expired' });
    return body;
  }

  private sign(what: string): string {
    return createHmac('sha256', this.d.store.signingKey()).update(what).digest('base64url');
  }

  private chunkKey(queryId: string, sessionId: number): string {
    return this.sign(`chunk-key\0${queryId}\0${sessionId}`);
  }
}

/**
 * A result's chunks as Arrow IPC streams, or undefined when a cell does not read as its column's
 * type (the result then goes out in JSON: never a misread value). Every chunk is encoded up front,
 * so the choice is made once for the whole result.
 */
function arrowParts(rowtype: RowType[], rowset: EncodedCell[][], chunkRows: number): { chunk(start: number): Buffer } | undefined {
  const encoded = new Map<number, Buffer>();
  try {
    for (let start = 0; start < rowset.length; start += chunkRows) encoded.set(start, arrowChunk(rowtype, rowset.slice(start, start + chunkRows)));
  } catch (err) {
    if (err instanceof ArrowEncodingError) return undefined;
    throw err;
  }
  return { chunk: (start) => encoded.get(start) ?? arrowChunk(rowtype, []) };
}

function gzipped(plain: Buffer): { body: Buffer; uncompressedSize: number; compressedSize: number } {
  const body = gzipSync(plain);
  return { body, uncompressedSize: plain.length, compressedSize: body.length };
}

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
