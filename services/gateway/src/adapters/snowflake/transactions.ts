// Open transactions of Snowflake door sessions: each holds one upstream session pinned from the
// (connection, role) pool for its length, on which the session's statements run until COMMIT or
// ROLLBACK. A transaction lives in the replica that opened it (its upstream connection is a socket
// here); a door session that logs out, expires or disappears has its transaction rolled back, and
// so does every open one when the door closes.
import type { Logger } from '@phigate/telemetry';
import type { UpstreamSession } from '../../domain/ports.js';
import type { Identity } from '../../domain/types.js';

export interface TransactionDeps {
  /** Pins an upstream session for a client's transaction, as the role the identity's binding gives it. */
  pin(connection: string, identity: Identity): Promise<UpstreamSession>;
  /** Whether the door session still exists (not logged out, not past its master token). */
  alive(sessionId: number): Promise<boolean>;
  log: Logger;
  /** How often open transactions are checked against their door sessions (ms). */
  sweepMs: number;
  /** A transaction with no statement running for this long is rolled back (ms): a client gone without logging out must not hold a pooled upstream session until its session expires. */
  idleMs: number;
  now?: () => number;
}

interface Open {
  session: UpstreamSession;
  /** Statements running on it now. */
  running: number;
  /** When it was last used (ms since the epoch). */
  usedAt: number;
}

export class SfTransactions {
  private readonly open = new Map<number, Open>();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly d: TransactionDeps) {
    this.now = d.now ?? Date.now;
  }

  /** The upstream session of the door session's open transaction, if it has one here. */
  current(sessionId: number): UpstreamSession | undefined {
    return this.open.get(sessionId)?.session;
  }

  /** The open transaction's session for a statement about to run on it (`done` when it ends). */
  use(sessionId: number): UpstreamSession | undefined {
    const tx = this.open.get(sessionId);
    if (!tx) return undefined;
    tx.running++;
    tx.usedAt = this.now();
    return tx.session;
  }

  /** A statement that ran on `session` (use) ended. */
  done(sessionId: number, session: UpstreamSession): void {
    const tx = this.open.get(sessionId);
    if (tx?.session !== session) return;
    tx.running = Math.max(0, tx.running - 1);
    tx.usedAt = this.now();
  }

  /** Opens a transaction (BEGIN on a pinned session); inside one, BEGIN changes nothing, as Snowflake ignores it. */
  async begin(s: { id: number; connection: string; identity: Identity }): Promise<UpstreamSession> {
    const have = this.open.get(s.id);
    if (have) return have.session;
    const session = await this.d.pin(s.connection, s.identity);
    try {
      await session.control('BEGIN');
    } catch (err) {
      session.release(true);
      throw err;
    }
    // Two statements racing to open the session's transaction: the first one wins, the other gives its session back.
    const raced = this.open.get(s.id);
    if (raced) {
      void session.control('ROLLBACK').finally(() => session.release());
      return raced.session;
    }
    this.open.set(s.id, { session, running: 0, usedAt: this.now() });
    this.startSweeping();
    this.d.log.info({ sessionId: s.id }, 'snowflake transaction opened');
    return session;
  }

  /** COMMIT or ROLLBACK of the open transaction; without one, nothing (as Snowflake answers). */
  async end(sessionId: number, how: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    const tx = this.open.get(sessionId);
    if (!tx) return;
    this.open.delete(sessionId);
    try {
      await tx.session.control(how);
      tx.session.release();
    } catch (err) {
      // A session whose COMMIT failed holds nothing we can trust: it is closed (the upstream rolls back).
      tx.session.release(true);
      throw err;
    } finally {
      this.d.log.info({ sessionId, how }, 'snowflake transaction ended');
    }
  }

  /** The door session is gone: its open transaction is rolled back and its upstream session released. */
  abandon(sessionId: number, reason: string): Promise<void> {
    if (!this.open.has(sessionId)) return Promise.resolve();
    this.d.log.info({ sessionId, reason }, 'snowflake transaction rolled back: its session ended');
    return this.end(sessionId, 'ROLLBACK').catch(() => undefined);
  }

  /** Rolls back every open transaction (the door is closing). */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    await Promise.all([...this.open.keys()].map((id) => this.abandon(id, 'gateway stopping')));
  }

  /** Transactions of sessions that expired or logged out elsewhere are rolled back on the next sweep. */
  private startSweeping(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => void this.sweep(), this.d.sweepMs);
    this.sweeper.unref();
  }

  async sweep(): Promise<void> {
    for (const [id, tx] of [...this.open]) {
      if (tx.running === 0 && this.now() - tx.usedAt > this.d.idleMs) {
        // The session's record still names this replica: its next statement learns the transaction is gone.
        await this.abandon(id, 'idle');
        continue;
      }
      const alive = await this.d.alive(id).catch(() => true);
      if (!alive) await this.abandon(id, 'session expired or closed');
    }
    if (!this.open.size) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
