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
}

/**
 * At-least-once consumer: each batch is handed to `handleBatch`, and its offsets are committed
 * only after the handler resolves, so a crash at any point replays rather than loses. Handlers
 * must be idempotent (events carry a unique id).
 */
export class EventConsumer {
  private readonly consumer: Consumer;
  private running = false;

  constructor(private readonly opts: ConsumerOptions) {
    this.consumer = createKafka(opts).consumer({
      groupId: opts.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: 30_000,
      heartbeatInterval: 3000,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 5000 },
    });
    this.consumer.on('consumer.crash', () => {
      this.running = false;
    });
    this.consumer.on('consumer.group_join', () => {
      this.running = true;
    });
  }

  /** True after the consumer joined its group and until it crashes or stops. */
  get isRunning(): boolean {
    return this.running;
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.opts.topic, fromBeginning: this.opts.fromBeginning ?? true });
    await this.consumer.run({
      autoCommit: false,
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
          await this.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
        }
        await heartbeat();
      },
    });
  }

  async stop(): Promise<void> {
    this.running = false;
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
