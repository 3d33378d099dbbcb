import { AppError, isAppError } from '@phigate/errors';
import { CompressionTypes, Partitioners, type Producer } from 'kafkajs';
import type { AuditEvent } from './events.js';
import { encodeEvent } from './events.js';
import { createKafka, KafkaLink, type KafkaOptions, type KafkaSecrets, kafkaSecrets } from './kafka.js';
import { FileOutbox, MemorySpool, type OutboxOptions, type OutboxRecord, type Spool } from './outbox.js';
import type { Topic } from './topics.js';

/**
 * When {@link EventPublisher.publish} resolves.
 * - `before-release`: once the events are durable: acknowledged by Kafka (idempotent producer,
 *   acks=all) or appended and fsynced to the local outbox.
 * - `async`: once they are queued in order. They are still delivered (or spooled) and never
 *   dropped silently while the process lives, but a crash can lose what was only in memory.
 */
export type Durability = 'before-release' | 'async';

/** Options for {@link EventPublisher}. */
export interface PublisherOptions extends KafkaOptions {
  topic: Topic | string;
  /**
   * Longest a produce request may wait for Kafka's acknowledgement. Past it, the events go to the
   * outbox when there is one; without one, `before-release` callers fail with BUS_PUBLISH_FAILED.
   */
  ackTimeoutMs?: number;
  /** Extra wait before a batch is sent, to gather more events per request; 0 = next tick. */
  lingerMs?: number;
  /** Largest number of events in one produce request. */
  maxBatch?: number;
  /** Largest payload of one produce request, in bytes (stays under the broker's message.max.bytes). */
  maxBatchBytes?: number;
  /** Default `before-release`. */
  durability?: Durability;
  /**
   * The local durable outbox (recommended; needs persistent storage). Without it, `before-release`
   * fails closed while Kafka is down, and `async` holds events in a bounded in-memory spool.
   */
  outbox?: Omit<OutboxOptions, 'log'>;
  /** `async` without an outbox: most events held in memory before publish() is refused. */
  maxQueuedEvents?: number;
}

/** What the publisher is doing, for readiness and metrics. */
export interface PublisherStatus {
  durability: Durability;
  /** `direct`: events go to Kafka; `spool`: Kafka did not acknowledge, events go to the spool until it drains. */
  mode: 'direct' | 'spool';
  kafkaConnected: boolean;
  /** The link to Kafka: up, or down with the last failure's reason (safe to show: no secret, no broker text). */
  link: { up: boolean; reason?: string };
  /** True when publish() would currently accept events. */
  accepting: boolean;
  spool?: { kind: 'file' | 'memory'; pendingEvents: number; pendingBytes: number; maxEvents: number; maxBytes: number };
  /** Events that reached Kafka from the spool since start. */
  drainedEvents: number;
}

interface Pending {
  records: OutboxRecord[];
  bytes: number;
  resolve: () => void;
  reject: (err: AppError) => void;
}

const toRecord = (e: AuditEvent): OutboxRecord => ({ key: e.requestId, value: encodeEvent(e), traceparent: e.trace?.traceparent || undefined });

/**
 * Publishes audit events with group commit: callers await durability (idempotent producer,
 * acks=all), and every event queued while a produce request is in flight rides in the next one,
 * so many requests share one acknowledgement. Order per key (requestId) is preserved.
 *
 * With an outbox, a produce request that Kafka does not acknowledge in time (or refuses) is
 * appended to the outbox instead, and so is everything after it until the outbox has drained to
 * Kafka, in order: events never overtake the outbox. Only one produce request is outstanding at a
 * time, and after a failure the producer is replaced (new producer id), because re-sending
 * different batches under an old idempotent sequence would be refused; the copies this can create
 * carry the same event ids, which the audit store deduplicates.
 */
export class EventPublisher {
  private readonly opts: Required<Pick<PublisherOptions, 'ackTimeoutMs' | 'lingerMs' | 'maxBatch' | 'maxBatchBytes' | 'durability' | 'maxQueuedEvents'>> &
    PublisherOptions;
  private readonly kafka: ReturnType<typeof createKafka>;
  private readonly secrets: KafkaSecrets;
  private readonly link = new KafkaLink();
  /** The link's files changed: the next produce request goes through a fresh producer. */
  private rotated = false;
  private started = false;
  private producer: Producer | undefined;
  private connected = false;
  private spool: Spool | undefined;
  private spoolKind: 'file' | 'memory' | undefined;
  private mode: 'direct' | 'spool' = 'direct';
  private queue: Pending[] = [];
  private queuedEvents = 0;
  private sending = false;
  private scheduled = false;
  private draining: Promise<void> | undefined;
  private lastSend: Promise<unknown> = Promise.resolve();
  private closed = false;
  private stopDrain = false;
  private drained = 0;
  private lastWarn = 0;

  constructor(opts: PublisherOptions) {
    this.opts = {
      ackTimeoutMs: 5000,
      lingerMs: 0,
      maxBatch: 5000,
      maxBatchBytes: 512 * 1024,
      durability: 'before-release',
      maxQueuedEvents: 100_000,
      ...opts,
    };
    this.secrets = opts.secrets ?? kafkaSecrets(opts.security);
    this.kafka = createKafka({ ...opts, secrets: this.secrets });
    this.secrets.onChange(() => this.rotate());
  }

  /**
   * The TLS or SASL files changed: new connections already use them; the producer is replaced at
   * the next point where no produce request is outstanding (now, when idle), the same swap as after
   * a failure. Every event before it was acknowledged or spooled, so nothing is lost, and the new
   * producer id re-sends nothing.
   */
  private rotate(): void {
    this.rotated = true;
    this.opts.log.info({ generation: this.secrets.generation }, 'Kafka TLS or SASL files changed; reconnecting with them');
    // Idle in direct mode: reconnect now, so the link (and readiness) reflects the new files
    // before the next event needs it; otherwise the next produce request swaps.
    if (!this.started || this.closed || this.sending || this.mode !== 'direct') return;
    this.sending = true;
    void this.swapProducer()
      .catch((err) => this.warn(err, 0, 'Kafka reconnect after a rotation failed'))
      .finally(() => {
        this.sending = false;
        this.schedule();
      });
  }

  private async swapProducer(): Promise<void> {
    if (this.rotated && this.producer) {
      this.rotated = false;
      this.dropProducer(this.producer);
    }
    if (!this.producer || !this.connected) await this.connect();
  }

  /**
   * Opens the outbox (recovering it; rejects with BUS_OUTBOX_CORRUPT when it is damaged) and
   * connects. With a spool, Kafka being down is not fatal: events are spooled and drained when it
   * returns, and anything left from a previous run drains first.
   */
  async start(): Promise<void> {
    this.started = true;
    if (this.opts.outbox) {
      this.spool = await FileOutbox.open({ ...this.opts.outbox, log: this.opts.log });
      this.spoolKind = 'file';
    } else if (this.opts.durability === 'async') {
      this.spool = new MemorySpool({ maxEvents: this.opts.maxQueuedEvents });
      this.spoolKind = 'memory';
    }
    if (this.spool && this.spool.pendingEvents > 0) {
      this.mode = 'spool';
      this.kickDrain();
      return;
    }
    try {
      await this.connect();
    } catch (err) {
      if (!this.spool) throw err;
      this.opts.log.warn({ err: errInfo(err) }, 'Kafka unavailable at start; audit events go to the outbox until it returns');
      this.mode = 'spool';
      this.kickDrain();
    }
  }

  /** True when the producer believes it is connected. */
  get isConnected(): boolean {
    return this.connected && !this.closed;
  }

  /** True when publish() would accept events now: Kafka is up, or the spool has room (for readiness). */
  get isAccepting(): boolean {
    if (this.closed) return false;
    if (this.mode === 'direct' && this.connected) return true;
    return this.spool?.fits(1, 4096) ?? false;
  }

  status(): PublisherStatus {
    const s = this.spool;
    const limits = s ? s.limits : { maxEvents: 0, maxBytes: 0 };
    return {
      durability: this.opts.durability,
      mode: this.mode,
      kafkaConnected: this.isConnected,
      link: this.link.status,
      accepting: this.isAccepting,
      ...(s && this.spoolKind ? { spool: { kind: this.spoolKind, pendingEvents: s.pendingEvents, pendingBytes: s.pendingBytes, ...limits } } : {}),
      drainedEvents: this.drained,
    };
  }

  /**
   * `before-release`: resolves once every event is durable (Kafka acks=all, or fsynced to the
   * outbox); rejects with BUS_PUBLISH_FAILED, BUS_OUTBOX_FULL or BUS_OUTBOX_IO otherwise.
   * `async`: resolves once queued in order; rejects only when the queue or spool is full.
   */
  publish(events: AuditEvent[]): Promise<void> {
    let records: OutboxRecord[];
    try {
      records = events.map(toRecord);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.publishRecords(records);
  }

  /**
   * Publishes messages already encoded (another representation of events, such as the SIEM
   * topic's OCSF records), with the same ordering and durability as {@link publish}.
   */
  publishRecords(records: OutboxRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new AppError('COMMON_SHUTTING_DOWN'));
    if (records.length === 0) return Promise.resolve();
    const bytes = records.reduce((n, r) => n + r.value.length + r.key.length, 0);
    const isAsync = this.opts.durability === 'async';
    if (this.mode === 'spool' && this.spool) {
      let appended: Promise<void>;
      try {
        appended = this.spool.append(records);
      } catch (err) {
        return Promise.reject(err);
      }
      this.kickDrain();
      if (!isAsync) return appended;
      appended.catch((err) => this.lost(records.length, err));
      return Promise.resolve();
    }
    if (isAsync && this.spool && !this.spool.fits(this.queuedEvents + records.length, bytes)) {
      // The in-memory queue must fit the spool it may be diverted to, or events could be lost.
      return Promise.reject(new AppError('BUS_OUTBOX_FULL', { details: { queuedEvents: this.queuedEvents, pendingEvents: this.spool.pendingEvents } }));
    }
    return new Promise<void>((resolve, reject) => {
      const pending: Pending = { records, bytes, resolve, reject };
      if (isAsync) {
        pending.resolve = () => {};
        pending.reject = (err) => this.lost(records.length, err);
        resolve();
      } else if (!this.spool) {
        // No outbox: fail closed when Kafka does not acknowledge in time.
        const timer = setTimeout(() => {
          pending.resolve = () => {};
          pending.reject = () => {};
          reject(new AppError('BUS_PUBLISH_FAILED', { message: 'Kafka did not acknowledge the events in time' }));
        }, this.opts.ackTimeoutMs);
        timer.unref();
        pending.resolve = () => {
          clearTimeout(timer);
          resolve();
        };
        pending.reject = (err) => {
          clearTimeout(timer);
          reject(err);
        };
      }
      this.queue.push(pending);
      this.queuedEvents += records.length;
      this.schedule();
    });
  }

  private lost(count: number, err: unknown): void {
    // Only reachable in async mode when the spool itself fails: say so loudly, with the count.
    this.opts.log.error({ events: count, err: errInfo(err) }, 'audit events could not be delivered or spooled');
  }

  private schedule(): void {
    if (this.sending || this.scheduled || this.mode !== 'direct') return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      void this.flush();
    };
    if (this.opts.lingerMs > 0) setTimeout(run, this.opts.lingerMs);
    else setImmediate(run);
  }

  private async flush(): Promise<void> {
    if (this.sending || this.queue.length === 0 || this.mode !== 'direct') return;
    this.sending = true;
    const batch: Pending[] = [];
    let count = 0;
    let bytes = 0;
    while (this.queue.length > 0) {
      const p = this.queue[0] as Pending;
      if (batch.length > 0 && (count + p.records.length > this.opts.maxBatch || bytes + p.bytes > this.opts.maxBatchBytes)) break;
      this.queue.shift();
      batch.push(p);
      count += p.records.length;
      bytes += p.bytes;
    }
    this.queuedEvents -= count;
    try {
      await this.produce(batch.flatMap((p) => p.records));
      for (const p of batch) p.resolve();
    } catch (cause) {
      this.warn(cause, count, 'audit publish failed');
      if (this.spool) {
        // Everything from this batch on goes to the spool, in order, and stays behind it.
        this.mode = 'spool';
        const moving = batch.concat(this.queue.splice(0));
        this.queuedEvents = 0;
        // Admitted async events are never refused; before-release callers may be (fail closed).
        const force = this.opts.durability === 'async';
        for (const p of moving) {
          try {
            this.spool.append(p.records, force).then(p.resolve, p.reject);
          } catch (err) {
            p.reject(isAppError(err) ? err : new AppError('BUS_OUTBOX_IO', { cause: err }));
          }
        }
        this.kickDrain();
      } else {
        const err = new AppError('BUS_PUBLISH_FAILED', { cause });
        for (const p of batch) p.reject(err);
      }
    } finally {
      this.sending = false;
      if (this.queue.length > 0) this.schedule();
    }
  }

  /** One produce request, acknowledged by all in-sync replicas within the ack timeout, or an error. */
  private async produce(records: OutboxRecord[]): Promise<void> {
    // A request abandoned after its timeout may still land later: it can only duplicate events
    // that are re-sent from the outbox, never put a first copy out of order.
    const deadline = Date.now() + this.opts.ackTimeoutMs;
    await this.swapProducer();
    const producer = this.producer as Producer;
    const send = producer.send({
      topic: this.opts.topic,
      acks: -1,
      timeout: this.opts.ackTimeoutMs,
      compression: CompressionTypes.None,
      messages: records.map((r) => ({ key: r.key, value: r.value, headers: r.traceparent ? { traceparent: r.traceparent } : undefined })),
    });
    this.lastSend = send.catch(() => undefined);
    try {
      await withTimeout(send, Math.max(1, deadline - Date.now()), 'Kafka did not acknowledge the events in time');
      this.link.up();
    } catch (err) {
      this.link.down(err);
      this.dropProducer(producer);
      throw err;
    }
  }

  /** A fresh idempotent producer (new producer id), connected within the ack timeout. */
  private async connect(): Promise<void> {
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    producer.on('producer.disconnect', () => {
      if (this.producer === producer) this.connected = false;
    });
    const connecting = producer.connect();
    // Its own failure says why (refused credentials, a certificate) even when it comes after the timeout.
    connecting.catch((err) => {
      if (!this.connected) this.link.down(err);
    });
    try {
      await withTimeout(connecting, this.opts.ackTimeoutMs, 'Kafka did not accept a connection in time');
    } catch (err) {
      // A timeout says "no answer in time" until the attempt itself fails and says why.
      this.link.down(err);
      // kafkajs keeps retrying a connect that timed out here: disconnect once it has settled,
      // or a late success would leave an orphan connection behind.
      const drop = () => producer.disconnect().catch(() => undefined);
      void connecting.then(drop, drop);
      throw err;
    }
    this.producer = producer;
    this.connected = true;
    this.link.up();
  }

  private dropProducer(producer: Producer): void {
    if (this.producer === producer) {
      this.producer = undefined;
      this.connected = false;
    }
    // Disconnect once its last request has settled, so it cannot deliver out of turn later.
    void this.lastSend.then(() => producer.disconnect()).catch(() => undefined);
  }

  private kickDrain(): void {
    if (!this.draining && !this.stopDrain) {
      this.draining = this.drain().finally(() => {
        this.draining = undefined;
      });
    }
  }

  /** Sends the spool to Kafka in order, then switches back to direct sends. */
  private async drain(): Promise<void> {
    const spool = this.spool as Spool;
    let backoff = 100;
    let started = 0;
    while (this.mode === 'spool' && !this.stopDrain) {
      try {
        if (spool.pendingEvents === 0) {
          if (!this.connected) {
            await this.connect();
            continue; // events may have been spooled meanwhile: look again
          }
          this.mode = 'direct';
          if (started > 0) this.opts.log.info({ events: started }, 'audit outbox drained to Kafka');
          this.schedule();
          return;
        }
        const batch = await spool.read(this.opts.maxBatch, this.opts.maxBatchBytes);
        if (batch.records.length === 0) {
          await spool.settled();
          await sleep(1);
          continue;
        }
        await this.produce(batch.records);
        await spool.ack(batch);
        this.drained += batch.records.length;
        started += batch.records.length;
        backoff = 100;
      } catch (err) {
        if (isAppError(err) && err.code === 'BUS_OUTBOX_CORRUPT') this.opts.log.error({ err: errInfo(err) }, 'audit outbox cannot be drained');
        else this.warn(err, spool.pendingEvents, 'audit outbox drain waiting for Kafka');
        await sleep(backoff / 2 + Math.random() * (backoff / 2));
        backoff = Math.min(backoff * 2, 2000);
      }
    }
  }

  private warn(err: unknown, events: number, msg: string): void {
    const now = Date.now();
    if (now - this.lastWarn < 5000) return;
    this.lastWarn = now;
    this.opts.log.warn({ err: errInfo(err), events }, msg);
  }

  /**
   * Stops accepting, delivers what is queued (to Kafka, or the outbox), gives the outbox up to the
   * ack timeout to drain, and closes. What an outbox still holds is delivered on the next start.
   */
  async stop(): Promise<void> {
    this.closed = true;
    while (this.sending || (this.queue.length > 0 && this.mode === 'direct')) {
      await this.flush();
      await sleep(5);
    }
    if (this.spool && this.spool.pendingEvents > 0) {
      const deadline = Date.now() + this.opts.ackTimeoutMs;
      while (this.spool.pendingEvents > 0 && Date.now() < deadline) await sleep(20);
    }
    this.stopDrain = true;
    await this.draining;
    if (this.spool) {
      await this.spool.settled();
      const left = this.spool.pendingEvents;
      if (left > 0 && this.spoolKind === 'memory')
        this.opts.log.error({ events: left }, 'audit events still undelivered at shutdown (async mode without an outbox)');
      else if (left > 0) this.opts.log.warn({ events: left }, 'audit outbox not empty at shutdown; it drains on the next start');
      await this.spool.close();
    }
    const p = this.producer;
    this.producer = undefined;
    this.connected = false;
    await p?.disconnect().catch(() => undefined);
    if (!this.opts.secrets) this.secrets.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new AppError('BUS_PUBLISH_FAILED', { message })), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function errInfo(err: unknown): { name?: string; message?: string; code?: string } {
  const e = err as { name?: string; message?: string; code?: string };
  return { name: e?.name, message: e?.message, code: typeof e?.code === 'string' ? e.code : undefined };
}
