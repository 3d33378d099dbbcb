import { bearerToken, requireGroup, type TokenVerifier } from '@phigate/auth';
import { AppError } from '@phigate/errors';
import type { Logger } from '@phigate/telemetry';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { pgTlsProblems, pgTlsShape } from '../postgres/tls.js';
import type { ConnectionRegistry } from '../store/connection-registry.js';

const common = {
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes'),
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535),
  database: z.string().min(1).max(255),
  user: z.string().min(1).max(255),
  /** The credential: a password, or for a Snowflake `keypair` connection a PKCS#8 PEM private key. */
  password: z.string().min(1).max(8192),
  poolMax: z.number().int().min(1).max(200).default(10),
  statementTimeoutMs: z.number().int().min(100).max(3_600_000).default(30_000),
};

const definition = z.discriminatedUnion('type', [
  z
    .object({ ...common, type: z.literal('postgresql'), defaultSchema: z.string().min(1).max(63).default('public'), ...pgTlsShape })
    .strict()
    .superRefine((c, ctx) => {
      for (const message of pgTlsProblems(c)) ctx.addIssue({ code: 'custom', message });
    }),
  z
    .object({
      ...common,
      type: z.literal('snowflake'),
      port: z.number().int().min(1).max(65535).default(443),
      defaultSchema: z.string().min(1).max(255).default('PUBLIC'),
      account: z.string().regex(/^\w+([.-]\w+)*$/, 'a Snowflake account identifier'),
      warehouse: z.string().min(1).max(255).optional(),
      protocol: z.enum(['http', 'https']).default('https'),
      authMethod: z.enum(['keypair', 'password']).default('keypair'),
    })
    .strict(),
]);

export interface AdminDeps {
  verify: TokenVerifier;
  registry: ConnectionRegistry;
  adminGroups: readonly string[];
  log: Logger;
}

/**
 * The admin API: register, list, read, remove connections and re-seal credentials. Only callers in
 * an admin group; credentials go in and never come out (responses show which key sealed them).
 */
export function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const admin = async (req: FastifyRequest) => {
    const identity = await deps.verify(bearerToken(req.headers.authorization));
    requireGroup(identity, deps.adminGroups);
    return identity;
  };
  app.get('/v1/admin/connections', async (req) => {
    await admin(req);
    return { connections: await deps.registry.list() };
  });
  app.get<{ Params: { name: string } }>('/v1/admin/connections/:name', async (req) => {
    await admin(req);
    return deps.registry.get(req.params.name);
  });
  app.put<{ Params: { name: string }; Body: unknown }>('/v1/admin/connections/:name', async (req, reply) => {
    const who = await admin(req);
    const body = { ...(req.body as object), name: req.params.name } as Record<string, unknown>;
    const parsed = definition.safeParse(body);
    if (!parsed.success) {
      // Zod's messages name fields and rules, never the submitted values. An unknown type would
      // hide every other problem behind it: check the rest as if it were PostgreSQL, and say both.
      const issues =
        body.type === 'postgresql' || body.type === 'snowflake'
          ? parsed.error.issues
          : [...parsed.error.issues, ...(definition.safeParse({ ...body, type: 'postgresql' }).error?.issues ?? [])];
      throw new AppError('GATEWAY_ADMIN_CONNECTION_INVALID', { details: { problems: issues.map((i) => `${i.path.join('.') || 'type'}: ${i.message}`) } });
    }
    const { password, ...def } = parsed.data;
    const view = await deps.registry.upsert(def, password, 'api');
    deps.log.info({ connection: def.name, version: view.version, admin: who.subject }, 'connection registered');
    return reply.code(view.version === 1 ? 201 : 200).send(view);
  });
  app.delete<{ Params: { name: string } }>('/v1/admin/connections/:name', async (req, reply) => {
    const who = await admin(req);
    await deps.registry.remove(req.params.name);
    deps.log.info({ connection: req.params.name, admin: who.subject }, 'connection removed');
    return reply.code(204).send();
  });
  app.post('/v1/admin/credentials/reseal', async (req) => {
    const who = await admin(req);
    const r = await deps.registry.reseal();
    deps.log.info({ keyId: r.keyId, resealed: r.resealed, admin: who.subject }, 'reseal requested');
    return r;
  });
}
