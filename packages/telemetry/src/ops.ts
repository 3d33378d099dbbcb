import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

/** Readiness: each named dependency reports whether it is reachable. */
export type ReadinessCheck = () => Promise<Record<string, boolean>>;

/** Options for {@link registerOpsRoutes}. */
export interface OpsOptions {
  metrics: Registry;
  readiness: ReadinessCheck;
  /** Set while shutting down, so load balancers stop sending traffic. */
  isShuttingDown?: () => boolean;
}

/** Adds `/healthz` (alive), `/readyz` (dependencies reachable) and `/metrics` (Prometheus). */
export function registerOpsRoutes(app: FastifyInstance, opts: OpsOptions): void {
  app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }));
  app.get('/readyz', { logLevel: 'warn' }, async (_req, reply) => {
    if (opts.isShuttingDown?.()) return reply.code(503).send({ status: 'shutting_down', checks: {} });
    let checks: Record<string, boolean>;
    try {
      checks = await opts.readiness();
    } catch {
      checks = { readiness: false };
    }
    const ok = Object.values(checks).every(Boolean);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not_ready', checks });
  });
  app.get('/metrics', { logLevel: 'warn' }, async (_req, reply) => {
    reply.header('content-type', opts.metrics.contentType);
    return opts.metrics.metrics();
  });
}

/** A stand-alone ops HTTP server, for services whose main port speaks gRPC. */
export async function startOpsServer(opts: OpsOptions & { host: string; port: number }): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  registerOpsRoutes(app, opts);
  await app.listen({ host: opts.host, port: opts.port });
  return app;
}

/** The port a started fastify instance listens on (useful with port 0). */
export function listeningPort(app: FastifyInstance): number {
  const addr = app.server.address();
  if (addr && typeof addr === 'object') return addr.port;
  throw new Error('server is not listening');
}
