import { Server } from '@grpc/grpc-js';
import { grpcServerCredentials, policyV1 } from '@phigate/proto';
import { Counter, createMetrics, Histogram, type Logger, startOpsServer } from '@phigate/telemetry';
import type { FastifyInstance } from 'fastify';
import { PolicyStore } from './adapters/files/policy-store.js';
import { policyService } from './adapters/grpc/policy-server.js';
import type { PolicyConfig } from './config.js';

export interface PolicyApp {
  start(): Promise<{ grpcPort: number; opsPort: number }>;
  stop(): Promise<void>;
  store: PolicyStore;
}

/** Builds the policy service; nothing listens until start(). */
export function buildApp(config: PolicyConfig, log: Logger): PolicyApp {
  const metrics = createMetrics('policy');
  const decisions = new Counter({
    name: 'phigate_policy_decisions_total',
    help: 'Policy decisions by action',
    labelNames: ['action'] as const,
    registers: [metrics],
  });
  const latency = new Histogram({
    name: 'phigate_policy_evaluate_seconds',
    help: 'Policy evaluation time',
    buckets: [0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01],
    registers: [metrics],
  });
  const store = new PolicyStore(config.POLICY_DIR, log);
  const server = new Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  const watchers = new Set<{ end(): void }>();
  server.addService(policyV1.PolicyServiceService, policyService({ store, log, decisions, latency, watchers }));
  let ops: FastifyInstance | undefined;
  let stopping = false;
  return {
    store,
    async start() {
      const grpcPort = await new Promise<number>((resolve, reject) =>
        server.bindAsync(`${config.POLICY_HOST}:${config.POLICY_GRPC_PORT}`, grpcServerCredentials(config), (err, port) => (err ? reject(err) : resolve(port))),
      );
      if (config.POLICY_WATCH) store.watch();
      ops = await startOpsServer({
        host: config.POLICY_HOST,
        port: config.POLICY_OPS_PORT,
        metrics,
        readiness: async () => ({ policy: Boolean(store.policy.revision) }),
        isShuttingDown: () => stopping,
      });
      const addr = ops.server.address();
      log.info({ grpcPort, revision: store.policy.revision }, 'policy service listening');
      return { grpcPort, opsPort: typeof addr === 'object' && addr ? addr.port : 0 };
    },
    async stop() {
      stopping = true;
      store.close();
      for (const w of watchers) w.end();
      // Watch streams never end by themselves: tryShutdown would wait for them forever.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await ops?.close();
    },
  };
}
