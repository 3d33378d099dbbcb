import { AppError } from '@phigate/errors';
import { CompressionTypes, Partitioners, type Producer } from 'kafkajs';
import type { AuditEvent } from './events.js';
import { encodeEvent } from './events.js';
import { createKafka, type KafkaOptions } from './kafka.js';
import type { Topic } from './topics.js';

/** Options for {@link EventPublisher}. */
export interface PublisherOptions extends KafkaOptions {
  topic: Topic;
  /** Longest a publish may wait for Kafka's acknowledgement before it fails (fail closed). */
  ackTimeoutMs?: number;
  /** Extra wait before a batch is sent, to gather more events per request; 0 = next tick. */
  lingerMs?: number;
  /** Largest number of events in one produce request. */
  maxBatch?: number;
}

interface Pending {
  events: AuditEvent[];
  resolve: () => void;
  reject: (err: AppError) => void;
}

/**
 * Publishes audit events with group commit: callers await durability (idempotent producer,
 * acks=all), and every event queued while a produce request is in flight rides in the next
 * one, so many requests share one acknowledgement. Order per key (requestId) is preserved.
 */
export class EventPublisher {
  private readonly producer: Producer;
  private readonly opts: Required<Pick<PublisherOptions, 'ackTimeoutMs' | 'lingerMs' | 'maxBatch'>> & PublisherOptions;
  private queue: Pending[] = [];
  private sending = false;
  private connected = false;
  private closed = false;
  private scheduled = false;

  constructor(opts: PublisherOptions) {
    this.opts = { ackTimeoutMs: 5000, lingerMs: 0, maxBatch: 5000, ...opts };
    this.producer = createKafka(opts).producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    this.producer.on('producer.disconnect', () => {
      this.connected = false;
    });
  }

  async start(): Promise<void> {
    await this.producer.connect();
    this.connected = true;
  }

  /** True when the producer believes it is connected (for readiness). */
  get isConnected(): boolean {
    return this.connected && !this.closed;
  }

  /** Resolves once every event is acknowledged by Kafka (acks=all); rejects with BUS_PUBLISH_FAILED otherwise. */
  publish(events: AuditEvent[]): Promise<void> {
    if (this.closed) return Promise.reject(new AppError('COMMON_SHUTTING_DOWN'));
    if (events.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const pending: Pending = { events, resolve, reject };
      const timer = setTimeout(() => {
        pending.resolve = () => {};
        reject(new AppError('BUS_PUBLISH_FAILED', { message: 'Kafka did not acknowledge the events in time' }));
      }, this.opts.ackTimeoutMs);
      timer.unref();
      const done = pending.resolve;
      pending.resolve = () => {
        clearTimeout(timer);
        done();
      };
      const fail = pending.reject;
      pending.reject = (err) => {
        clearTimeout(timer);
        fail(err);
      };
      this.queue.push(pending);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.sending || this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      void this.flush();
    };
    if (this.opts.lingerMs > 0) setTimeout(run, this.opts.lingerMs);
    else setImmediate(run);
  }

  private async flush(): Promise<void> {
    if (this.sending || this.queue.length === 0) return;
    this.sending = true;
    const batch: Pending[] = [];
    let count = 0;
    while (this.queue.length > 0 && count < this.opts.maxBatch) {
      const p = this.queue.shift() as Pending;
      batch.push(p);
      count += p.events.length;
    }
    try {
      await this.producer.send({
        topic: this.opts.topic,
        acks: -1,
        timeout: this.opts.ackTimeoutMs,
        compression: CompressionTypes.None,
        messages: batch.flatMap((p) =>
          p.events.map((e) => ({
            key: e.requestId,
            value: encodeEvent(e),
            headers: e.trace?.traceparent ? { traceparent: e.trace.traceparent } : undefined,
          })),
        ),
      });
      for (const p of batch) p.resolve();
    } catch (cause) {
      const err = new AppError('BUS_PUBLISH_FAILED', { cause });
      this.opts.log.warn({ err: { name: (cause as Error)?.name, message: (cause as Error)?.message }, events: count }, 'audit publish failed');
      for (const p of batch) p.reject(err);
    } finally {
      this.sending = false;
      if (this.queue.length > 0) this.schedule();
    }
  }

  async stop(): Promise<void> {
    this.closed = true;
    while (this.sending || this.queue.length > 0) {
      await this.flush();
      await new Promise((r) => setTimeout(r, 5));
    }
    await this.producer.disconnect();
  }
}
