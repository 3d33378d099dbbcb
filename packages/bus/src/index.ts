export { type ConsumedMessage, EventConsumer, type ConsumerOptions } from './consumer.js';
export { type AuditEvent, buildEvent, decodeEvent, encodeEvent, EVENT_TYPES, type EventContext, type EventType, SCHEMA_VERSION } from './events.js';
export { createKafka, type KafkaOptions } from './kafka.js';
export { EventPublisher, type PublisherOptions } from './publisher.js';
export { type Topic, TOPICS } from './topics.js';
