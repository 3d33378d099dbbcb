import { Kafka, type KafkaConfig, type LogEntry, logLevel } from 'kafkajs';
import type { Logger } from 'pino';

/** Options shared by producers and consumers. */
export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  log: Logger;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** A kafkajs client whose logs go through our pino logger (constant message, no payloads). */
export function createKafka(opts: KafkaOptions, extra: Partial<KafkaConfig> = {}): Kafka {
  const log = opts.log.child({ component: 'kafka' });
  return new Kafka({
    clientId: opts.clientId,
    brokers: opts.brokers,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { initialRetryTime: 100, retries: 5, maxRetryTime: 2000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, broker, error, groupId, topic } = entry as Record<string, unknown>;
        log[LEVELS[level] ?? 'info']({ kafka: String(message), broker, error, groupId, topic }, 'kafka client');
      },
    ...extra,
  });
}
