import { readFileSync } from 'node:fs';
import { type AuditEvent, EventConsumer, EventPublisher, type KafkaOptions, type OutboxRecord, type Topic } from '@phigate/bus';
import { eventsV1 } from '@phigate/proto';
import type { Logger } from '@phigate/telemetry';
import { type AuditEventJson, type OcsfContext, type StatementActivity, statementActivity, toOcsf } from '../../domain/ocsf.js';
import type { StatementRedactor } from '../sql/literal-redactor.js';

/** Requests whose statement activity the relay remembers (their later events name it too). */
const REMEMBERED_REQUESTS = 50_000;

let version: string | undefined;
/** The audit service's version (its package.json; empty when unreadable), for the records' metadata.product.version. */
export function productVersion(): string {
  if (version === undefined) {
    try {
      version = (JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '';
    } catch {
      version = '';
    }
  }
  return version;
}

/** Bytes of records per produce request, well under Kafka's default message.max.bytes (1 MiB). */
const SLICE_BYTES = 256 * 1024;

/** Consecutive runs of records of at most `max` bytes each (a larger record alone). */
function slices(records: OutboxRecord[], max: number): OutboxRecord[][] {
  const out: OutboxRecord[][] = [];
  let bytes = max;
  for (const r of records) {
    const size = r.key.length + r.value.length;
    if (bytes + size > max) {
      out.push([]);
      bytes = 0;
    }
    out.at(-1)!.push(r);
    bytes += size;
  }
  return out;
}

/** The Kafka message the SIEM topic carries for an event: its OCSF record, keyed by request id. */
export function siemMessage(e: AuditEvent, ctx: OcsfContext): OutboxRecord {
  const record = toOcsf(eventsV1.AuditEvent.toJSON(e) as AuditEventJson, ctx);
  return { key: e.requestId, value: Buffer.from(JSON.stringify(record)), traceparent: e.trace?.traceparent || undefined };
}

/** Options for {@link SiemRelay}. */
export interface SiemRelayOptions {
  brokers: string[];
  /** TLS and SASL, as for every Kafka client of the service. */
  security?: KafkaOptions['security'];
  log: Logger;
  /** The audit topic to read. */
  from: string;
  /** The SIEM topic to write (must exist; phigate never auto-creates topics). */
  to: string;
  groupId: string;
  /** Replaces literals in statement text; undefined = republish unchanged. */
  redact?: StatementRedactor;
  onRelayed?: (n: number) => void;
  /** phigate's version in the records' metadata; default: this service's package version. */
  productVersion?: string;
}

/**
 * Copies every decodable event from the audit topic to the SIEM topic as one OCSF 1.4.0 record
 * (domain/ocsf.ts), with literals in statement text replaced first when redaction is on. Its own
 * consumer group, independent of the store: offsets
 * are committed only after the SIEM topic acknowledged the batch (idempotent producer, acks=all),
 * so it is at-least-once like the audit topic, same ids, same key (requestId). Undecodable
 * messages are not relayed (the store keeps them in audit_rejects).
 */
export class SiemRelay {
  private readonly consumer: EventConsumer;
  private readonly publisher: EventPublisher;
  private readonly productVersion: string;
  // A request's events share a partition and arrive in order: its query.received names the
  // statement's activity for the policy.decided, query.* and masking.applied that follow.
  private readonly activities = new Map<string, StatementActivity>();

  constructor(private readonly opts: SiemRelayOptions) {
    this.productVersion = opts.productVersion ?? productVersion();
    // The topic registry in @phigate/bus names only the audit topic so far; the SIEM topic is configured.
    this.publisher = new EventPublisher({
      brokers: opts.brokers,
      security: opts.security,
      clientId: 'phigate-audit-siem',
      log: opts.log,
      topic: opts.to as Topic,
      ackTimeoutMs: 10_000,
    });
    this.consumer = new EventConsumer({
      brokers: opts.brokers,
      security: opts.security,
      clientId: 'phigate-audit-siem',
      log: opts.log,
      topic: opts.from,
      groupId: opts.groupId,
      fromBeginning: true,
      handleBatch: async (messages) => {
        const records = messages.flatMap((m) => (m.event ? this.records(m.event) : []));
        // A consumed batch can near the broker's message size, and its OCSF records are larger than
        // the events: published in slices (queued in order, so the order holds).
        await Promise.all(slices(records, SLICE_BYTES).map((slice) => this.publisher.publishRecords(slice)));
        opts.onRelayed?.(records.length);
      },
    });
  }

  /**
   * The SIEM topic's messages for an event: its OCSF record, literals redacted. A query.served
   * record's suspected leaks are each also a Data Security Finding, as phi.leak_suspected events are.
   */
  records(e: AuditEvent): OutboxRecord[] {
    if (e.detail?.$case === 'queryReceived') {
      if (this.activities.size >= REMEMBERED_REQUESTS) this.activities.delete(this.activities.keys().next().value as string);
      this.activities.set(e.requestId, statementActivity(e.detail.value.analysis));
    }
    const ctx = { productVersion: this.productVersion, statement: this.activities.get(e.requestId) };
    const out = [siemMessage(this.transform(e), ctx)];
    if (e.detail?.$case === 'queryServed')
      for (const [i, leak] of e.detail.value.leaks.entries())
        out.push(siemMessage({ ...e, id: `${e.id}.leak${i + 1}`, type: 'phi.leak_suspected', detail: { $case: 'phiLeakSuspected', value: leak } }, ctx));
    return out;
  }

  /** The event with literals in its statement text redacted (when redaction is on). */
  transform(e: AuditEvent): AuditEvent {
    const redact = this.opts.redact;
    if (!redact) return e;
    const redacted = (q: eventsV1.QueryReceived): eventsV1.QueryReceived => {
      const dialect = q.dialect || q.analysis?.dialect || '';
      return {
        ...q,
        statement: q.statement ? redact(q.statement, dialect) : q.statement,
        // The analyser's error message may quote the statement.
        analysis: q.analysis ? { ...q.analysis, error: q.analysis.error ? 'redacted' : '' } : q.analysis,
      };
    };
    if (e.detail?.$case === 'queryReceived') return { ...e, detail: { $case: 'queryReceived', value: redacted(e.detail.value) } };
    const served = e.detail?.$case === 'queryServed' ? e.detail.value : undefined;
    if (served?.received) return { ...e, detail: { $case: 'queryServed', value: { ...served, received: redacted(served.received) } } };
    return e;
  }

  get isRunning(): boolean {
    return this.consumer.isRunning;
  }

  /**
   * Both of the relay's links: its consumer's and its producer's (which has no outbox: a refused
   * send fails the batch, which is consumed again). Down with the reason of the one that is down.
   */
  get link(): { up: boolean; reason?: string } {
    const consumer = this.consumer.link;
    if (!consumer.up) return consumer;
    const producer = this.publisher.status().link;
    // Up until the producer's first failure: it connects at start, and only sends when there is something to relay.
    return producer.up || producer.reason === 'not connected yet' ? { up: true } : producer;
  }

  async start(): Promise<void> {
    await this.publisher.start();
    await this.consumer.start();
  }

  async stop(): Promise<void> {
    await this.consumer.stop();
    await this.publisher.stop();
  }
}
