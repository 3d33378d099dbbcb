// The transaction unit of a PostgreSQL door connection: the client's transaction status (idle, in a
// transaction, failed), the upstream session pinned for the transaction's length, and transaction
// control (BEGIN/START, COMMIT/END, ROLLBACK/ABORT, savepoints) as PostgreSQL answers it: warnings
// for a BEGIN inside a transaction or a COMMIT outside one, a failed transaction that ignores
// statements until it ends and rolls back on COMMIT.
import { AppError } from '@phigate/errors';
import type { UpstreamSession } from '../../domain/ports.js';
import type { TxControl } from './split.js';

/** ReadyForQuery's status: idle, in a transaction block, in a failed one. */
export type TxStatus = 'I' | 'T' | 'E';

export interface TransactionHooks {
  /** An upstream session for a new transaction (as the identity's role, with the client's settings). */
  pin(): Promise<UpstreamSession>;
  /** The transaction is open on its session. */
  began(): void;
  /** The transaction ended: what lives only as long as it (portals, cursors, settings) follows. */
  ended(how: 'COMMIT' | 'ROLLBACK'): Promise<void>;
  warn(code: string, message: string): void;
}

export class TransactionUnit {
  private state: TxStatus = 'I';
  private pinned: UpstreamSession | undefined;

  constructor(private readonly hooks: TransactionHooks) {}

  get status(): TxStatus {
    return this.state;
  }

  /** The pinned upstream session while a transaction is open. */
  get session(): UpstreamSession | undefined {
    return this.pinned;
  }

  /** An error inside a transaction block fails it (statements are ignored until it ends). */
  fail(): void {
    if (this.state === 'T') this.state = 'E';
  }

  /** Refuses a statement in a failed transaction. */
  assertNotFailed(): void {
    if (this.state === 'E') throw new AppError('GATEWAY_PG_TRANSACTION_ABORTED');
  }

  /** Transaction control on the pinned upstream session. Returns the command tag. */
  async control(kind: TxControl, sql: string): Promise<string> {
    const tag = (/^\s*(start|end|abort)/i.exec(sql)?.[1] ?? '').toLowerCase();
    switch (kind) {
      case 'begin':
        this.assertNotFailed();
        if (this.state === 'T') this.hooks.warn('25001', 'there is already a transaction in progress');
        else await this.begin(sql);
        return tag === 'start' ? 'START TRANSACTION' : 'BEGIN';
      case 'commit':
        if (this.state === 'I') {
          this.hooks.warn('25P01', 'there is no transaction in progress');
          return 'COMMIT';
        }
        // COMMIT of a failed transaction rolls it back, as PostgreSQL does.
        return this.end(this.state === 'E' ? 'ROLLBACK' : 'COMMIT');
      case 'rollback':
        if (this.state === 'I') {
          this.hooks.warn('25P01', 'there is no transaction in progress');
          return 'ROLLBACK';
        }
        return this.end('ROLLBACK');
      case 'savepoint':
      case 'release':
      case 'rollback_to':
        if (this.state === 'I') throw new AppError('GATEWAY_PG_NO_TRANSACTION');
        if (kind !== 'rollback_to') this.assertNotFailed();
        await this.pinned!.control(sql);
        if (kind === 'rollback_to') this.state = 'T';
        return kind === 'savepoint' ? 'SAVEPOINT' : kind === 'release' ? 'RELEASE' : 'ROLLBACK';
      default:
        throw new AppError('GATEWAY_PG_UNSUPPORTED', { message: 'two-phase commit and transaction chaining are not supported by the PostgreSQL door' });
    }
  }

  /** Pins an upstream session and opens the transaction on it. */
  async begin(sql: string): Promise<void> {
    const session = await this.hooks.pin();
    try {
      await session.control(sql);
    } catch (err) {
      session.release(true);
      throw err;
    }
    this.pinned = session;
    this.state = 'T';
    this.hooks.began();
  }

  /** Ends the transaction upstream and releases its session. Returns the command tag. */
  async end(how: 'COMMIT' | 'ROLLBACK'): Promise<string> {
    const session = this.pinned;
    this.pinned = undefined;
    this.state = 'I';
    await this.hooks.ended(how);
    if (!session) return how;
    try {
      await session.control(how);
      session.release();
    } catch (err) {
      session.release(true);
      throw err;
    }
    return how;
  }

  /** The connection is gone: an open transaction is rolled back and its session released (or discarded). */
  abandon(): void {
    const session = this.pinned;
    this.pinned = undefined;
    if (session)
      void session.control('ROLLBACK').then(
        () => session.release(),
        () => session.release(true),
      );
  }
}
