import { AppError } from '@phigate/errors';
import { createMetrics, type Logger, registerOpsRoutes } from '@phigate/telemetry';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import type { ApprovalConfig } from './config.js';

export interface ApprovalApp {
  start(): Promise<{ httpPort: number }>;
  stop(): Promise<void>;
}

/**
 * The approval service. This first version serves its ops surface and holds its Redis connection;
 * Slack interactivity and the approvals API arrive with held queries (see docs/adr).
 */
export function buildApp(config: ApprovalConfig, log: Logger): ApprovalApp {
  const metrics = createMetrics('approval');
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 });
  redis.on('error', () => {});
  const app = Fastify({ logger: false });
  let stopping = false;
  registerOpsRoutes(app, {
    metrics,
    isShuttingDown: () => stopping,
    readiness: async () => ({
      redis: await redis.ping().then(
        () => true,
        () => false,
      ),
    }),
  });
  app.setNotFoundHandler((_req, reply) => void reply.code(404).send(new AppError('COMMON_NOT_FOUND').toHttpBody()));
  return {
    async start() {
      await redis.connect().catch(() => undefined);
      await app.listen({ host: config.APPROVAL_HOST, port: config.APPROVAL_HTTP_PORT });
      const addr = app.server.address();
      log.info('approval service listening');
      return { httpPort: typeof addr === 'object' && addr ? addr.port : 0 };
    },
    async stop() {
      stopping = true;
      await app.close();
      redis.disconnect();
    },
  };
}
