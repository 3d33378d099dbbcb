import type { createKafka } from '@phigate/bus';
import type { PartitionPosition } from '../../domain/chains.js';

/** Each partition's retained start and the consumer group's committed offset, from the brokers. */
export async function topicPositions(kafka: ReturnType<typeof createKafka>, topic: string, groupId: string): Promise<PartitionPosition[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
    const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, p.offset]));
    return ends.map((p) => ({ partition: p.partition, low: p.low, committed: done.get(p.partition) ?? '-1' }));
  } finally {
    await admin.disconnect();
  }
}
