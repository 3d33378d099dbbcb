import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

/**
 * One dependency's readiness: whether it lets the service do its work, and, when it is failing (or
 * degraded but still coped with, e.g. Kafka down behind the gateway's outbox), why. A reason is
 * shown to anyone who can reach `/readyz`: never a secret, a credential or a broker's own message.
 */
export type ReadinessState = boolean | { ok: boolean; reason?: string | undefined };

/** Readiness: each named dependency reports whether it is reachable (and why not). */
export type ReadinessCheck = () => Promise<Record<string, ReadinessState>>;

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
    let states: Record<string, ReadinessState>;
    try {
      states = await opts.readiness();
    } catch {
      states = { readiness: false };
    }
    // `checks` stays name → boolean; `reasons` names why a link is failing or degraded.
    const checks: Record<string, boolean> = {};
    const reasons: Record<string, string> = {};
    for (const [name, s] of Object.entries(states)) {
      checks[name] = typeof s === 'boolean' ? s : s.ok;
      if (typeof s === 'object' && s.reason) reasons[name] = s.reason;
    }
    const ok = Object.values(checks).every(Boolean);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not_ready', checks, ...(Object.keys(reasons).length > 0 ? { reasons } : {}) });
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
