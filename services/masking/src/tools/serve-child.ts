// The masking gRPC server alone, in a child process on 127.0.0.1 and a free port, for tests and
// `npm run bench` (so they need neither the local stack nor the ops server). Start it with
// child_process.fork(); it sends {port} when listening and answers 'stats' with its memory and CPU
// (RSS sampled every 10 ms, so the peak is seen). 'stop' ends it. Optional env: MASKING_TOKEN_KEY.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { Counter, createLogger, createMetrics } from '@phigate/telemetry';
import { MASKING_SERVICE_DEFINITION, maskingService } from '../adapters/grpc/mask-server.js';

export interface ChildStats {
  rss: number;
  /** Highest RSS sampled since start or the last 'reset-peak'. */
  peakRss: number;
  /** process.cpuUsage() in microseconds. */
  cpuUserUs: number;
  cpuSystemUs: number;
}

const send = (m: unknown) => process.send?.(m);
const secret = process.env.MASKING_TOKEN_KEY;
const metrics = createMetrics('masking');
const server = new Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
server.addService(
  MASKING_SERVICE_DEFINITION,
  maskingService({
    key: secret ? { id: 'k1', secret: Buffer.from(secret, 'utf8') } : undefined,
    log: createLogger({ service: 'masking', level: process.env.LOG_LEVEL ?? 'silent' }),
    rowsMasked: new Counter({ name: 'rows', help: 'rows', registers: [metrics] }),
    streams: new Counter({ name: 'streams', help: 'streams', labelNames: ['outcome'] as const, registers: [metrics] }),
  }),
);

let peak = process.memoryUsage.rss();
setInterval(() => {
  const rss = process.memoryUsage.rss();
  if (rss > peak) peak = rss;
}, 10).unref();

process.on('message', (m) => {
  if (m === 'stats') {
    const rss = process.memoryUsage.rss();
    peak = Math.max(peak, rss);
    const cpu = process.cpuUsage();
    send({ stats: { rss, peakRss: peak, cpuUserUs: cpu.user, cpuSystemUs: cpu.system } satisfies ChildStats });
  } else if (m === 'reset-peak') {
    peak = process.memoryUsage.rss();
    send({ reset: true });
  } else if (m === 'stop') {
    server.forceShutdown();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));

server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  send({ port });
});
