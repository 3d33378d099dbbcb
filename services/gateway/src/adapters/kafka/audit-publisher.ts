import { type Durability, EventPublisher, TOPICS } from '@phigate/bus';
import type { Logger } from '@phigate/telemetry';

/**
 * The gateway settings the audit publisher reads (a subset of GatewayConfig). The durability
 * fields are optional so that a config without them keeps today's behaviour: `before-release`,
 * no outbox (fail closed while Kafka does not acknowledge).
 */
export interface AuditPublisherConfig {
  readonly KAFKA_BROKERS: string[];
  readonly GATEWAY_AUDIT_ACK_TIMEOUT_MS: number;
  readonly GATEWAY_AUDIT_DURABILITY?: Durability;
  /** Directory of the local durable outbox; empty or unset = no outbox. */
  readonly GATEWAY_AUDIT_OUTBOX_DIR?: string;
  readonly GATEWAY_AUDIT_OUTBOX_MAX_BYTES?: number;
  readonly GATEWAY_AUDIT_OUTBOX_MAX_EVENTS?: number;
}

/** The gateway's audit event publisher, configured for the chosen durability mode (ADR 0008). */
export function createAuditPublisher(config: AuditPublisherConfig, log: Logger): EventPublisher {
  const dir = config.GATEWAY_AUDIT_OUTBOX_DIR?.trim();
  return new EventPublisher({
    brokers: config.KAFKA_BROKERS,
    clientId: 'phigate-gateway',
    log,
    topic: TOPICS.AUDIT,
    ackTimeoutMs: config.GATEWAY_AUDIT_ACK_TIMEOUT_MS,
    durability: config.GATEWAY_AUDIT_DURABILITY ?? 'before-release',
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
