import { AppError } from '@phigate/errors';
import type { Consumer, KafkaMessage } from 'kafkajs';
import { type AuditEvent, decodeEvent } from './events.js';
import { createKafka, KafkaLink, type KafkaOptions, type KafkaSecrets, kafkaSecrets } from './kafka.js';
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
 * coordinator error and never rejoin (tulios/kafkajs#1630). A consumer whose crash kafkajs will
 * not restart is therefore replaced at once, and one that has crashed and not rejoined its group
 * within `recoveryMs` of its last crash is replaced too; the replay this may cause is harmless
 * for idempotent handlers. While kafkajs keeps restarting (a broker still down, a coordinator
 * still loading), it is left to: each replacement is a new member the group must rebalance for.
 *
 * When the link's TLS or SASL files change, the consumer is replaced the same way: the old one
 * finishes its batch in flight (and commits it) before it leaves the group, then a fresh one joins
 * with the new material and resumes from the committed offsets.
 */
export class EventConsumer {
  private consumer: Consumer;
  private running = false;
  private stopped = false;
  private joinedAt = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private readonly recoveryMs: number;
  private readonly secrets: KafkaSecrets;
  private readonly kafkaLink = new KafkaLink();
  private replacing: Promise<void> | undefined;

  constructor(private readonly opts: ConsumerOptions & { recoveryMs?: number }) {
    // Longer than a restarted member's wait for its predecessor's session to expire (10 s).
    this.recoveryMs = opts.recoveryMs ?? 25_000;
    this.secrets = opts.secrets ?? kafkaSecrets(opts.security);
    this.secrets.onChange(() => {
      if (this.stopped) return;
      this.opts.log.info({ groupId: this.opts.groupId, generation: this.secrets.generation }, 'Kafka TLS or SASL files changed; rejoining with them');
      void this.replace();
    });
    this.consumer = this.create();
  }

  private create(): Consumer {
    const consumer = createKafka({ ...this.opts, secrets: this.secrets }).consumer({
      groupId: this.opts.groupId,
      allowAutoTopicCreation: false,
      // A kafkajs consumer that crashed and restarts joins as a new member, and the coordinator
      // first waits for the old member's session to expire: after a broker restart nothing is
      // stored for up to this long (30 s: 35-70 s to recover; 10 s: measured below in
      // docs/operations.md). Heartbeats go out between batches and in each, well inside it.
      sessionTimeout: 10_000,
      heartbeatInterval: 2000,
      // Endless: a consumer that keeps its session through a broker restart resumes within seconds.
      // Finite retries (tried: 8) made the stack broker's restart a crash, a replacement and a
      // 30 s wait for the old member's eviction, during which nothing was stored. The cost: an
      // offset commit to a group coordinator that died is retried on it without end (open, see
      // docs/operations.md, "A Kafka broker killed under load").
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 5000 },
    });
    consumer.on('consumer.crash', (e) => {
      if (consumer !== this.consumer) return;
      this.running = false;
      this.kafkaLink.down(e.payload.error);
      this.watch(consumer, Date.now(), e.payload.restart ? this.recoveryMs : 1000);
    });
    consumer.on('consumer.group_join', () => {
      if (consumer !== this.consumer) return;
      this.running = true;
      this.joinedAt = Date.now();
      this.kafkaLink.up();
    });
    return consumer;
  }

  /** After a crash: if the consumer has not rejoined within `ms` (of its last crash), replace it with a fresh one. */
  private watch(consumer: Consumer, crashedAt: number, ms = this.recoveryMs): void {
    if (this.stopped) return;
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      this.watchdog = undefined;
      if (this.stopped || consumer !== this.consumer || this.joinedAt > crashedAt) return;
      this.opts.log.warn({ groupId: this.opts.groupId, reason: this.kafkaLink.status.reason }, 'kafka consumer did not recover after a crash; replacing it');
      void this.replace();
    }, ms);
    this.watchdog.unref();
  }

  /**
   * A fresh consumer in place of the current one: the old one first stops (kafkajs waits for the
   * batch in flight, whose offsets it commits) and leaves the group, then the new one joins. One
   * replacement at a time; a change during one is taken by a second after it.
   */
  private replace(): Promise<void> {
    const next = (this.replacing ?? Promise.resolve()).then(async () => {
      if (this.stopped) return;
      const old = this.consumer;
      const fresh = this.create();
      this.consumer = fresh;
      await old.disconnect().catch(() => undefined);
      try {
        await this.run(fresh);
        if (this.stopped) await fresh.disconnect().catch(() => undefined);
      } catch (err) {
        const reason = this.kafkaLink.down(err);
        if (fresh === this.consumer) this.running = false;
        this.opts.log.warn({ groupId: this.opts.groupId, reason }, 'kafka consumer restart failed; will retry');
        if (fresh === this.consumer) this.watch(fresh, Date.now(), 5000);
      }
    });
    const tracked: Promise<void> = next.finally(() => {
      if (this.replacing === tracked) this.replacing = undefined;
    });
    this.replacing = tracked;
    return next;
  }

  /** The link to Kafka: up once the group was joined, down with the last failure's reason (no secrets). */
  get link(): { up: boolean; reason?: string } {
    return this.kafkaLink.status;
  }

  /** True after the consumer joined its group and until it crashes or stops. */
  get isRunning(): boolean {
    return this.running;
  }

  async start(): Promise<void> {
    try {
      await this.run(this.consumer);
    } catch (err) {
      this.kafkaLink.down(err);
      throw err;
    }
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
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
        if (!isRunning() || isStale()) return;
        const messages = batch.messages.map((m) => toConsumed(batch.topic, batch.partition, m));
        await this.opts.handleBatch(messages);
        const last = batch.messages.at(-1);
        if (last) {
          resolveOffset(last.offset);
          // Commit only now that the handler has made the batch durable, and once: given offsets,
          // commitOffsetsIfNecessary commits them without kafkajs's endless commit retries, so a
          // failure reaches the runner, which rejoins the group (see toRejoin).
          const offset = (BigInt(last.offset) + 1n).toString();
          await toRejoin(commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset }] }] }));
        }
        await toRejoin(heartbeat());
      },
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.running = false;
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    if (!this.opts.secrets) this.secrets.close();
    await this.consumer.disconnect();
  }
}

/** kafkajs errors that mean the group coordinator this member knows cannot be reached. */
const COORDINATOR_LOST = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSBrokerNotFound',
  'KafkaJSRequestTimeoutError',
  'KafkaJSLockTimeout',
]);

/**
 * A commit or heartbeat whose group coordinator is gone, turned into the error by which the
 * kafkajs runner rejoins: NOT_COORDINATOR_FOR_GROUP makes it find the coordinator again and rejoin
 * with the same member id (the new coordinator knows it, so no member has to be evicted first).
 * kafkajs itself keeps the coordinator it joined with for commits and heartbeats, and retries it
 * without end while its broker is dead, which stopped the store (tulios/kafkajs#1630 and the
 * broker-kill drill). The batch whose commit failed is fetched again; handlers are idempotent.
 */
async function toRejoin(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (err) {
    const e = err as { name?: string; type?: string };
    if (e?.type === 'NOT_COORDINATOR_FOR_GROUP' || !COORDINATOR_LOST.has(String(e?.name))) throw err;
    throw Object.assign(new Error('group coordinator unreachable; finding it again', { cause: err }), {
      name: 'KafkaJSCoordinatorLost',
      type: 'NOT_COORDINATOR_FOR_GROUP',
      retriable: true,
    });
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
