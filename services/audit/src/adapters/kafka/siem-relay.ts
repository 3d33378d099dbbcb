import { type AuditEvent, EventConsumer, EventPublisher, type KafkaOptions, type Topic } from '@phigate/bus';
import type { Logger } from '@phigate/telemetry';
import type { StatementRedactor } from '../sql/literal-redactor.js';

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
}

/**
 * Copies every decodable event from the audit topic to the SIEM topic, with literals in statement
 * text replaced when redaction is on. Its own consumer group, independent of the store: offsets
 * are committed only after the SIEM topic acknowledged the batch (idempotent producer, acks=all),
 * so it is at-least-once like the audit topic, same ids, same key (requestId). Undecodable
 * messages are not relayed (the store keeps them in audit_rejects).
 */
export class SiemRelay {
  private readonly consumer: EventConsumer;
  private readonly publisher: EventPublisher;

  constructor(private readonly opts: SiemRelayOptions) {
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
        const events = messages.flatMap((m) => (m.event ? [this.transform(m.event)] : []));
        await this.publisher.publish(events);
        opts.onRelayed?.(events.length);
      },
    });
  }

  /** The event as the SIEM stream carries it. */
  transform(e: AuditEvent): AuditEvent {
    const redact = this.opts.redact;
    if (!redact || e.detail?.$case !== 'queryReceived') return e;
    const q = e.detail.value;
    const dialect = q.dialect || q.analysis?.dialect || '';
    return {
      ...e,
      detail: {
        $case: 'queryReceived',
        value: {
          ...q,
          statement: q.statement ? redact(q.statement, dialect) : q.statement,
          // The analyser's error message may quote the statement.
          analysis: q.analysis ? { ...q.analysis, error: q.analysis.error ? 'redacted' : '' } : q.analysis,
        },
      },
    };
  }

  get isRunning(): boolean {
    return this.consumer.isRunning;
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
