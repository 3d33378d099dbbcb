import { AppError } from '@phigate/errors';
import type { Consumer, KafkaMessage } from 'kafkajs';
import { type AuditEvent, decodeEvent } from './events.js';
import { createKafka, type KafkaOptions } from './kafka.js';
import type { Topic } from './topics.js';

/** One consumed message: the decoded event, or why it could not be decoded (never dropped). */
export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  raw: Buffer;
  event?: AuditEvent;
  error?: AppError;
}

/** Options for {@link EventConsumer}. */
export interface ConsumerOptions extends KafkaOptions {
  topic: Topic | string;
  groupId: string;
  fromBeginning?: boolean;
  /** Persists a batch durably; offsets are committed only after it resolves. */
  handleBatch: (messages: ConsumedMessage[]) => Promise<void>;
  /** Partitions whose batches may be in flight at once (default 3); each partition stays in order. */
  partitionsConcurrently?: number;
}

/**
 * At-least-once consumer: each batch is handed to `handleBatch`, and its offsets are committed
 * only after the handler resolves, so a crash at any point replays rather than loses. Handlers
 * must be idempotent (events carry a unique id).
 *
 * kafkajs restarts a crashed consumer itself, but after a broker restart it can crash with a
 * coordinator error and never rejoin (tulios/kafkajs#1630). A watchdog therefore replaces a
 * consumer that has not rejoined its group within `recoveryMs` of a crash; the replay this may
 * cause is harmless for idempotent handlers.
 */
export class EventConsumer {
  private consumer: Consumer;
  private running = false;
  private stopped = false;
  private joinedAt = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private readonly recoveryMs: number;

  constructor(private readonly opts: ConsumerOptions & { recoveryMs?: number }) {
    this.recoveryMs = opts.recoveryMs ?? 15_000;
    this.consumer = this.create();
  }

  private create(): Consumer {
    const consumer = createKafka(this.opts).consumer({
      groupId: this.opts.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: 30_000,
      heartbeatInterval: 3000,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 5000 },
    });
    consumer.on('consumer.crash', () => {
      if (consumer !== this.consumer) return;
      this.running = false;
      this.watch(consumer, Date.now());
    });
    consumer.on('consumer.group_join', () => {
      if (consumer !== this.consumer) return;
      this.running = true;
      this.joinedAt = Date.now();
    });
    return consumer;
  }

  /** After a crash: if the consumer has not rejoined in time, replace it with a fresh one. */
  private watch(consumer: Consumer, crashedAt: number): void {
    if (this.stopped || this.watchdog) return;
    this.watchdog = setTimeout(() => {
      this.watchdog = undefined;
      if (this.stopped || consumer !== this.consumer || this.joinedAt > crashedAt) return;
      this.opts.log.warn({ groupId: this.opts.groupId }, 'kafka consumer did not recover after a crash; replacing it');
      const fresh = this.create();
      this.consumer = fresh;
      void (async () => {
        await consumer.disconnect().catch(() => undefined);
        try {
          await this.run(fresh);
        } catch (err) {
          this.opts.log.warn(
            { groupId: this.opts.groupId, err: { name: (err as Error)?.name, message: (err as Error)?.message } },
            'kafka consumer restart failed; will retry',
          );
          if (fresh === this.consumer) this.watch(fresh, Date.now());
        }
      })();
    }, this.recoveryMs);
    this.watchdog.unref();
  }

  /** True after the consumer joined its group and until it crashes or stops. */
  get isRunning(): boolean {
    return this.running;
  }

  async start(): Promise<void> {
    await this.run(this.consumer);
  }

  private async run(consumer: Consumer): Promise<void> {
    await consumer.connect();
    await consumer.subscribe({ topic: this.opts.topic, fromBeginning: this.opts.fromBeginning ?? true });
    await consumer.run({
      autoCommit: false,
      // Decoding one partition's batch and committing its offsets overlap with another's store
      // write; the store still serialises appends (one chain), and each partition stays in order.
      partitionsConsumedConcurrently: this.opts.partitionsConcurrently ?? 3,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale()) return;
        const messages = batch.messages.map((m) => toConsumed(batch.topic, batch.partition, m));
        await this.opts.handleBatch(messages);
        const last = batch.messages.at(-1);
        if (last) {
          resolveOffset(last.offset);
          // With autoCommit off, commitOffsetsIfNecessary() never commits: commit explicitly, and
          // only now that the handler has made the batch durable.
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
        }
        await heartbeat();
      },
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.running = false;
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    await this.consumer.disconnect();
  }
}

function toConsumed(topic: string, partition: number, m: KafkaMessage): ConsumedMessage {
  const raw = m.value ?? Buffer.alloc(0);
  const base = { topic, partition, offset: m.offset, key: m.key ? m.key.toString('utf8') : null, raw };
  try {
    return { ...base, event: decodeEvent(raw) };
  } catch (err) {
    return { ...base, error: err instanceof AppError ? err : new AppError('BUS_EVENT_INVALID', { cause: err }) };
  }
}
