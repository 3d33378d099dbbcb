// Gateway load leaves the stack's audit service a backlog (every query is several events), and
// draining it takes CPU from whatever runs next on these two cores. Before each measured run the
// bench waits (bounded) until that backlog is small, so baselines and gateway runs start alike.
import { createKafka } from '@phigate/bus';
import { createLogger } from '@phigate/telemetry';
import { kafkaConnection } from '@phigate/testkit';
import { track } from './processes.js';

const TOPIC = 'phigate.audit.v1';
const GROUP = 'phigate-audit';

export interface SettleStats {
  waits: number;
  waitedSec: number;
  /** Largest backlog (events) found before a run. */
  maxBacklog: number;
  /** Runs that started with a backlog over the threshold because the wait hit its bound. */
  startedUnsettled: number;
}

export interface Settler {
  /** Waits until the stack's audit consumer is within `threshold` events of the topic's end (at most `maxWaitSec`). */
  wait(): Promise<void>;
  stats: SettleStats;
}

/**
 * `maxWaitSec` bounds one wait; `budgetSec` bounds all of them together, so the whole bench stays
 * within its time even when a faster gateway leaves bigger backlogs (runs then start unsettled,
 * and the stats say how many).
 */
export async function auditSettler(
  threshold = 2000,
  maxWaitSec = Number(process.env.BENCH_SETTLE_MAX_SEC ?? 20),
  budgetSec = Number(process.env.BENCH_SETTLE_BUDGET_SEC ?? 90),
): Promise<Settler> {
  const admin = createKafka({
    ...kafkaConnection(),
    clientId: 'bench-settle',
    log: createLogger({ service: 'bench', level: 'silent' }),
  }).admin();
  await admin.connect();
  track('Kafka admin (settle)', () => admin.disconnect());
  const backlog = async () => {
    const ends = await admin.fetchTopicOffsets(TOPIC);
    const [committed] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
    let lag = 0;
    for (const p of committed?.partitions ?? []) {
      const end = Number(ends.find((e) => e.partition === p.partition)?.offset ?? 0);
      lag += Number(p.offset) < 0 ? 0 : end - Number(p.offset);
    }
    return lag;
  };
  const stats: SettleStats = { waits: 0, waitedSec: 0, maxBacklog: 0, startedUnsettled: 0 };
  return {
    stats,
    async wait() {
      const t0 = Date.now();
      let lag = await backlog();
      stats.waits++;
      stats.maxBacklog = Math.max(stats.maxBacklog, lag);
      const limitMs = Math.max(0, Math.min(maxWaitSec, budgetSec - stats.waitedSec) * 1000);
      while (lag > threshold && Date.now() - t0 < limitMs) {
        await new Promise((r) => setTimeout(r, 250));
        lag = await backlog();
      }
      if (lag > threshold) stats.startedUnsettled++;
      stats.waitedSec = Math.round((stats.waitedSec + (Date.now() - t0) / 1000) * 10) / 10;
    },
  };
}
