import { Server } from '@grpc/grpc-js';
import { grpcServerCredentials } from '@phigate/proto';
import { Counter, createMetrics, type Logger, startOpsServer } from '@phigate/telemetry';
import type { FastifyInstance } from 'fastify';
import { Draining, MASKING_SERVICE_DEFINITION, maskingService } from './adapters/grpc/mask-server.js';
import type { MaskingConfig } from './config.js';
import { Scanner } from './domain/detectors.js';

export interface MaskingApp {
  start(): Promise<{ grpcPort: number }>;
  stop(): Promise<void>;
}

/** Builds the masking service; nothing listens until start(). */
export function buildApp(config: MaskingConfig, log: Logger): MaskingApp {
  const metrics = createMetrics('masking');
  const rowsMasked = new Counter({ name: 'phigate_masking_rows_total', help: 'Rows passed through masking', registers: [metrics] });
  const streams = new Counter({
    name: 'phigate_masking_streams_total',
    help: 'Mask streams by outcome',
    labelNames: ['outcome'] as const,
    registers: [metrics],
  });
  const leaks = new Counter({
    name: 'phigate_masking_leak_suspicions_total',
    help: 'Leak-canary detector hits in columns the plan left unmasked, by detector and canary mode',
    labelNames: ['detector', 'mode'] as const,
    registers: [metrics],
  });
  const key = config.MASKING_TOKEN_KEY ? { id: config.MASKING_TOKEN_KEY_ID, secret: Buffer.from(config.MASKING_TOKEN_KEY, 'utf8') } : undefined;
  const scanner = new Scanner({ mrnPatterns: config.MASKING_MRN_PATTERNS, healthPlanPatterns: config.MASKING_HEALTH_PLAN_PATTERNS });
  const canarySampling = { firstRows: config.MASKING_CANARY_FIRST_ROWS, every: config.MASKING_CANARY_EVERY };
  const server = new Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  const draining = new Draining();
  server.addService(MASKING_SERVICE_DEFINITION, maskingService({ key, log, rowsMasked, streams, leaks, scanner, canarySampling }, draining));
  let ops: FastifyInstance | undefined;
  let stopping = false;
  return {
    async start() {
      const grpcPort = await new Promise<number>((resolve, reject) =>
        server.bindAsync(`${config.MASKING_HOST}:${config.MASKING_GRPC_PORT}`, grpcServerCredentials(config), (err, port) =>
          err ? reject(err) : resolve(port),
        ),
      );
      ops = await startOpsServer({
        host: config.MASKING_HOST,
        port: config.MASKING_OPS_PORT,
        metrics,
        readiness: async () => ({ tokenKey: Boolean(key) }),
        isShuttingDown: () => stopping,
      });
      log.info({ grpcPort, tokenKeyId: key?.id }, 'masking service listening');
      return { grpcPort };
    },
    async stop() {
      stopping = true;
      // Multiplexed streams never end by themselves: each ends once its open sessions have.
      draining.start();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await ops?.close();
    },
  };
}
