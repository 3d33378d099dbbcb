// Shared by the bus's tests against the real local Kafka (`npm run stack:up`).
import { Writable } from 'node:stream';
import { kafkaConnection, uniqueName } from '@phigate/testkit';
import { pino } from 'pino';
import { createKafka } from '../src/index.js';

/** A logger whose JSON lines the test can read. */
export function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines, text: () => lines.map((l) => JSON.stringify(l)).join('\n') };
}

/** A topic of its own (3 partitions) for one test, deleted after it. */
export async function makeTopic(t: { after(fn: () => Promise<void>): void }, prefix = 'test.publisher'): Promise<string> {
  const topic = uniqueName(prefix);
  const admin = createKafka({ ...kafkaConnection(), clientId: 'publisher-test', log: capture().log }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();
  t.after(async () => {
    const a = createKafka({ ...kafkaConnection(), clientId: 'publisher-test', log: capture().log }).admin();
    await a.connect();
    await a.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await a.disconnect();
  });
  return topic;
}
