import { EventEmitter } from 'node:events';
import type pg from 'pg';
// node-postgres's own parameter encoding (arrays, dates, buffers, JSON), so a statement binds here
// exactly as it would through client.query. The package exports lib/*; it ships no types for it.
// @ts-expect-error no declaration file for pg/lib/utils
import pgUtils from 'pg/lib/utils.js';

const prepareValue = (pgUtils as { prepareValue: (v: unknown) => unknown }).prepareValue;

import type { Cell } from '../../domain/types.js';

/** What node-postgres hands a submittable (the parts this one uses). */
interface Connection {
  stream: { cork(): void; uncork(): void };
  parse(q: { text: string; name?: string; types?: number[] }): void;
  bind(c: { portal?: string; statement?: string; values: unknown[]; valueMapper: (v: unknown) => unknown }): void;
  describe(m: { type: 'P' | 'S'; name: string }): void;
  execute(c: { portal: string; rows: number }): void;
  sync(): void;
  sendCopyFail(msg: string): void;
}

export interface OneShotResult {
  fields: pg.FieldDef[];
  rows: Cell[][];
  /** The command tag's verb (SELECT, INSERT, UPDATE, ...). */
  command: string;
  /** The command tag's count, when it has one. */
  rowCount: number | null;
  /** The row limit was reached: more rows existed (the portal was closed at Sync). */
  suspended: boolean;
}

/**
 * A statement in one round trip and one socket write: Parse, Bind, Describe, Execute (at most
 * `maxRows` rows) and Sync go out together, and the result (or the error) is complete at
 * ReadyForQuery. The row limit keeps memory bounded without a cursor's second round trip (a
 * cursor needs one more for Close and Sync). Cells stay text, as the server sent them.
 */
export class OneShot extends EventEmitter {
  private fields: pg.FieldDef[] = [];
  private readonly rows: Cell[][] = [];
  private command = '';
  private rowCount: number | null = null;
  private suspended = false;
  readonly done: Promise<OneShotResult>;
  private settle!: { resolve(r: OneShotResult): void; reject(e: Error): void };

  constructor(
    private readonly text: string,
    private readonly values: unknown[],
    private readonly maxRows: number,
  ) {
    super();
    this.done = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // Nobody may be awaiting yet when an error arrives; the caller awaits `done`.
    this.done.catch(() => undefined);
  }

  submit(connection: Connection): void {
    connection.stream.cork();
    try {
      connection.parse({ text: this.text, types: [] });
      connection.bind({ values: this.values, valueMapper: prepareValue });
      connection.describe({ type: 'P', name: '' });
      connection.execute({ portal: '', rows: this.maxRows });
      connection.sync();
    } finally {
      connection.stream.uncork();
    }
  }

  handleRowDescription(msg: { fields: pg.FieldDef[] }): void {
    this.fields = msg.fields;
  }

  handleDataRow(msg: { fields: Cell[] }): void {
    this.rows.push(msg.fields);
  }

  handlePortalSuspended(): void {
    // The limit was reached; the Sync already sent closes the portal.
    this.suspended = true;
  }

  handleCommandComplete(msg: { text: string }): void {
    const parts = msg.text.split(' ');
    this.command = parts[0] ?? '';
    const n = Number(parts.at(-1));
    this.rowCount = parts.length > 1 && Number.isInteger(n) ? n : null;
  }

  handleEmptyQuery(): void {}

  handleError(err: Error): void {
    // node-postgres drops the active query on an error and never tells it about the ReadyForQuery
    // that follows (the Sync is already sent, and the client queues anything new until then).
    this.settle.reject(err);
  }

  handleReadyForQuery(): void {
    this.settle.resolve({ fields: this.fields, rows: this.rows, command: this.command, rowCount: this.rowCount, suspended: this.suspended });
  }

  handleCopyInResponse(connection: Connection): void {
    connection.sendCopyFail('COPY is not supported through the gateway');
  }

  handleCopyData(): void {}
}
