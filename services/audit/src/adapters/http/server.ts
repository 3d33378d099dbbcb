import { bearerToken, requireGroup, type TokenVerifier } from '@phigate/auth';
import { AppError, isAppError, toAppError } from '@phigate/errors';
import { type OpsOptions, registerOpsRoutes } from '@phigate/telemetry';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { PgAuditStore } from '../store/pg-store.js';

export interface AuditHttpDeps {
  verify: TokenVerifier;
  store: PgAuditStore;
  auditorGroups: readonly string[];
  ops: OpsOptions;
}

/** The auditor API (bearer token of an auditor group) and the ops routes. */
export function buildHttp(deps: AuditHttpDeps): FastifyInstance {
  const app = Fastify({ logger: false });
  registerOpsRoutes(app, deps.ops);
  app.setErrorHandler((err, _req, reply) => {
    const e = isAppError(err) ? err : toAppError(err);
    void reply.code(e.httpStatus).send(e.toHttpBody());
  });
  app.setNotFoundHandler((_req, reply) => void reply.code(404).send(new AppError('COMMON_NOT_FOUND').toHttpBody()));
  const auditor = async (req: FastifyRequest) => {
    const identity = await deps.verify(bearerToken(req.headers.authorization));
    requireGroup(identity, deps.auditorGroups);
    return identity;
  };
  app.get<{ Params: { id: string } }>('/v1/requests/:id', async (req) => {
    await auditor(req);
    const events = await deps.store.timeline(req.params.id);
    if (!events.length) throw new AppError('AUDIT_REQUEST_NOT_FOUND', { details: { requestId: req.params.id } });
    return { requestId: req.params.id, events };
  });
  app.get('/v1/verify', async (req) => {
    await auditor(req);
    return deps.store.verify();
  });
  return app;
}
