export { type ConsumedMessage, type ConsumerOptions, EventConsumer } from './consumer.js';
export { type AuditEvent, buildEvent, decodeEvent, EVENT_TYPES, type EventContext, type EventType, encodeEvent, SCHEMA_VERSION } from './events.js';
export {
  createKafka,
  KafkaLink,
  type KafkaOptions,
  type KafkaSecrets,
  kafkaFailureReason,
  kafkaRefused,
  kafkaSecrets,
  kafkaSecurityOptions,
} from './kafka.js';
export { lifecycleOf } from './lifecycle.js';
export {
  FileOutbox,
  MemorySpool,
  type MemorySpoolOptions,
  type OutboxOptions,
  type OutboxPosition,
  type OutboxRecord,
  type Spool,
  type SpoolBatch,
} from './outbox.js';
export { type Durability, EventPublisher, type PublisherOptions, type PublisherStatus } from './publisher.js';
export { TOPICS, type Topic } from './topics.js';
