export { type ConsumedMessage, type ConsumerOptions, EventConsumer } from './consumer.js';
export { type AuditEvent, buildEvent, decodeEvent, EVENT_TYPES, type EventContext, type EventType, encodeEvent, SCHEMA_VERSION } from './events.js';
export { createKafka, type KafkaOptions } from './kafka.js';
export { EventPublisher, type PublisherOptions } from './publisher.js';
export { TOPICS, type Topic } from './topics.js';
