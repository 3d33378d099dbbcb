/** Kafka topic registry: every topic phigate produces to or consumes from, in one place. */
export const TOPICS = {
  /** Every step of every request, JSON AuditEvent, key = requestId. Public SIEM contract. */
  AUDIT: 'phigate.audit.v1',
} as const;

/** One of {@link TOPICS}. */
export type Topic = (typeof TOPICS)[keyof typeof TOPICS];
