// Server-side cursors as the door serves them: DECLARE … CURSOR FOR <select> is analysed, decided
// and audited as that SELECT. In a transaction the cursor is declared upstream, on the client's
// pinned session, and each FETCH or MOVE reads on from it, its rows masked batch by batch as they
// come (domain/streaming-cursor.ts): a cursor over any number of rows holds a batch in memory. A
// cursor WITH HOLD outlives its transaction, and the pooled upstream session, so the door runs its
// SELECT at DECLARE and keeps its masked rows, bounded by the door's row limit as any result is.
// Only forward movement is served (what psycopg named cursors, SQLAlchemy stream_results and
// asyncpg cursors use); a cursor lives until its transaction ends, or, WITH HOLD, until it is
// closed or the transaction that declared it rolls back.

import type { StreamingCursor } from '../../domain/streaming-cursor.js';
import type { Cell } from '../../domain/types.js';

export type CursorCommand =
  | { kind: 'declare'; name: string; hold: boolean; binary: boolean; scroll: boolean; query: string }
  | { kind: 'fetch'; name: string; count: number; move: boolean; forward: boolean }
  | { kind: 'close'; name: string };

type Node = Record<string, unknown>;

const CURSOR_OPT_BINARY = 0x1;
const CURSOR_OPT_SCROLL = 0x2;
const CURSOR_OPT_HOLD = 0x20;
/** FETCH ALL as the parser reports it. */
const ALL = 2147483647;

/** `DECLARE name [options] CURSOR [WITH[OUT] HOLD] FOR` before the query (names as PostgreSQL reads them). */
const DECLARE_PREFIX =
  /^\s*declare\s+(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)\s+(?:(?:binary|asensitive|insensitive|no\s+scroll|scroll)\s+)*cursor\s+(?:(?:with|without)\s+hold\s+)?for\s+/i;

/** The cursor command a parsed statement is, if it is one. `sql`: the statement's text. */
export function cursorCommand(type: string, body: Node, sql: string): CursorCommand | undefined {
  if (type === 'DeclareCursorStmt') {
    const prefix = DECLARE_PREFIX.exec(sql);
    if (!prefix) return undefined;
    const options = Number(body.options ?? 0);
    return {
      kind: 'declare',
      name: String(body.portalname ?? ''),
      hold: (options & CURSOR_OPT_HOLD) !== 0,
      binary: (options & CURSOR_OPT_BINARY) !== 0,
      scroll: (options & CURSOR_OPT_SCROLL) !== 0,
      query: sql.slice(prefix[0].length),
    };
  }
  if (type === 'FetchStmt') {
    const forward = body.direction === 'FETCH_FORWARD';
    const many = Number(body.howMany ?? 1);
    return { kind: 'fetch', name: String(body.portalname ?? ''), count: many >= ALL ? Number.POSITIVE_INFINITY : many, move: body.ismove === true, forward };
  }
  if (type === 'ClosePortalStmt' && body.portalname !== undefined) return { kind: 'close', name: String(body.portalname) };
  return undefined;
}

/** An open cursor: the masked rows of its SELECT, read forward; or, `stream`, an upstream cursor read as it goes. */
export interface OpenCursor<F> {
  fields: F[];
  rows: Cell[][];
  stream?: StreamingCursor;
  offset: number;
  hold: boolean;
  /** Declared in the transaction still open (a rollback closes it even WITH HOLD). */
  declaredInTx: boolean;
}

/** A connection's open cursors, and what the end of a transaction does to them. */
export class CursorStore<F> {
  private readonly open = new Map<string, OpenCursor<F>>();

  get(name: string): OpenCursor<F> | undefined {
    return this.open.get(name);
  }

  has(name: string): boolean {
    return this.open.has(name);
  }

  declare(name: string, cursor: Omit<OpenCursor<F>, 'offset'>): void {
    this.open.set(name, { ...cursor, offset: 0 });
  }

  close(name: string): void {
    this.open.delete(name);
  }

  /** Forgets every cursor; returns the streaming ones, whose record the caller closes. */
  clear(): StreamingCursor[] {
    const streams = [...this.open.values()].flatMap((c) => (c.stream ? [c.stream] : []));
    this.open.clear();
    return streams;
  }

  /** The next `count` rows (fewer at the end), the cursor moved past them. */
  take(cursor: OpenCursor<F>, count: number): Cell[][] {
    const rows = cursor.rows.slice(cursor.offset, cursor.offset + Math.min(count, cursor.rows.length - cursor.offset));
    cursor.offset += rows.length;
    return rows;
  }

  /**
   * At the end of a transaction: cursors without HOLD close; a rollback also closes the held ones it
   * declared. Returns the streaming ones closed, whose record the caller closes.
   */
  endTransaction(how: 'COMMIT' | 'ROLLBACK'): StreamingCursor[] {
    const closed: StreamingCursor[] = [];
    for (const [name, c] of this.open) {
      if (!c.hold || (how === 'ROLLBACK' && c.declaredInTx)) {
        this.open.delete(name);
        if (c.stream) closed.push(c.stream);
      } else c.declaredInTx = false;
    }
    return closed;
  }
}
