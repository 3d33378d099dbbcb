import { type Durability, EventPublisher, kafkaRefused, type PublisherStatus, TOPICS } from '@phigate/bus';
import { type KafkaSecuritySettings, kafkaSecurity } from '@phigate/config';
import type { Logger } from '@phigate/telemetry';

/**
 * The gateway settings the audit publisher reads (a subset of GatewayConfig). The durability
 * fields are optional so that a config without them keeps today's behaviour: `before-release`,
 * no outbox (fail closed while Kafka does not acknowledge).
 */
export interface AuditPublisherConfig extends Readonly<KafkaSecuritySettings> {
  readonly KAFKA_BROKERS: string[];
  readonly GATEWAY_AUDIT_ACK_TIMEOUT_MS: number;
  readonly GATEWAY_AUDIT_DURABILITY?: Durability;
  /** Directory of the local durable outbox; empty or unset = no outbox. */
  readonly GATEWAY_AUDIT_OUTBOX_DIR?: string;
  readonly GATEWAY_AUDIT_OUTBOX_MAX_BYTES?: number;
  readonly GATEWAY_AUDIT_OUTBOX_MAX_EVENTS?: number;
  /** How long a send waits to gather more events; unset: 0 before release, 5 ms in async mode. */
  readonly GATEWAY_AUDIT_LINGER_MS?: number | undefined;
}

/** The gateway's audit event publisher, configured for the chosen durability mode (ADR 0008). */
export function createAuditPublisher(config: AuditPublisherConfig, log: Logger): EventPublisher {
  const dir = config.GATEWAY_AUDIT_OUTBOX_DIR?.trim();
  return new EventPublisher({
    brokers: config.KAFKA_BROKERS,
    security: kafkaSecurity(config),
    clientId: 'phigate-gateway',
    log,
    topic: TOPICS.AUDIT,
    ackTimeoutMs: config.GATEWAY_AUDIT_ACK_TIMEOUT_MS,
    durability: config.GATEWAY_AUDIT_DURABILITY ?? 'before-release',
    // Nobody waits for an async send, so gathering a few milliseconds of events into one request
    // costs no latency and saves a Kafka round trip (and its socket writes) per statement.
    lingerMs: config.GATEWAY_AUDIT_LINGER_MS ?? (config.GATEWAY_AUDIT_DURABILITY === 'async' ? 5 : 0),
    ...(dir
      ? {
          outbox: {
            dir,
            ...(config.GATEWAY_AUDIT_OUTBOX_MAX_BYTES ? { maxBytes: config.GATEWAY_AUDIT_OUTBOX_MAX_BYTES } : {}),
            ...(config.GATEWAY_AUDIT_OUTBOX_MAX_EVENTS ? { maxEvents: config.GATEWAY_AUDIT_OUTBOX_MAX_EVENTS } : {}),
          },
        }
      : {}),
  });
}

/**
 * The gateway's Kafka readiness, with the reason when the link is down. Ready while Kafka
 * acknowledges, or while it is unreachable and the outbox has room (the outbox exists for outages).
 * Refused credentials, a certificate either side does not trust or a missing ACL fail readiness
 * whatever the outbox holds: they do not heal by themselves, and every event would wait in the
 * outbox until someone fixed them.
 */
export function kafkaReadiness(s: PublisherStatus): { ok: boolean; reason?: string } {
  if (s.link.up) return { ok: s.accepting };
  const reason = s.link.reason ?? 'down';
  const refused = kafkaRefused(reason);
  return { ok: s.accepting && !refused, reason: s.spool?.kind === 'file' ? `${reason}; events wait in the outbox` : reason };
}
