import type { RedisClient } from '@phigate/redis';
import type { Logger } from '@phigate/telemetry';

export interface HeldSignalsOptions {
  /** A connection of its own (lazyConnect, retrying): a subscribed connection runs no other command. */
  subscriber: RedisClient;
  /** The approval service's channel of final decisions: JSON {approvalId, requestId, status}. */
  decisionsChannel: string;
  /** The gateway's channel of finished held requests: the request id. */
  outcomesChannel: string;
  onDecision(requestId: string): void;
  log: Logger;
}

/**
 * Both signal channels on one subscriber connection, and in-process waiters for outcomes.
 * Signals only wake things up: the store is the truth, and a periodic reconcile catches anything
 * a disconnected subscriber missed.
 */
export class HeldSignals {
  private readonly sub: RedisClient;
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(private readonly opts: HeldSignalsOptions) {
    this.sub = opts.subscriber;
    this.sub.on('error', () => {}); // ioredis reconnects and resubscribes by itself
    this.sub.on('message', (channel: string, message: string) => {
      if (channel === opts.outcomesChannel) this.wake(message);
      else if (channel === opts.decisionsChannel) {
        try {
          const signal = JSON.parse(message) as { requestId?: unknown };
          if (typeof signal.requestId === 'string') opts.onDecision(signal.requestId);
        } catch {
          opts.log.warn({ channel }, 'undecodable approval decision signal ignored');
        }
      }
    });
  }

  async start(): Promise<void> {
    await this.sub.connect().catch(() => undefined);
    await this.sub.subscribe(this.opts.decisionsChannel, this.opts.outcomesChannel).catch(() => undefined);
  }

  get isSubscribed(): boolean {
    return this.sub.status === 'ready';
  }

  /** Resolves when `requestId`'s outcome is announced, or after `ms`. */
  wait(requestId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(requestId);
      if (!set) {
        set = new Set();
        this.waiters.set(requestId, set);
      }
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(requestId) === set) this.waiters.delete(requestId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  private wake(requestId: string): void {
    for (const done of [...(this.waiters.get(requestId) ?? [])]) done();
  }

  stop(): void {
    for (const set of this.waiters.values()) for (const done of [...set]) done();
    this.sub.disconnect();
  }
}
