import { Readable } from 'node:stream';
import { bearerToken, requireGroup, type TokenVerifier } from '@phigate/auth';
import { z } from '@phigate/config';
import { AppError, isAppError, toAppError } from '@phigate/errors';
import { type OpsOptions, registerOpsRoutes } from '@phigate/telemetry';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { VerifyReport } from '../../domain/chain.js';
import { MinimumNecessary } from '../../domain/minimum-necessary.js';
import type { PhiCatalog } from '../../domain/phi-catalog.js';
import { buildRecording } from '../../domain/recording.js';
import type { PgAuditStore, SearchFilter } from '../store/pg-store.js';

export interface AuditHttpDeps {
  verify: TokenVerifier;
  store: PgAuditStore;
  auditorGroups: readonly string[];
  catalog: PhiCatalog;
  verifyStore: () => Promise<VerifyReport>;
  publicKey: { keyId: string; pem: string; jwk: Record<string, unknown> };
  ops: OpsOptions;
}

const DECISIONS: Record<string, string> = {
  allow: 'ACTION_ALLOW',
  deny: 'ACTION_DENY',
  require_approval: 'ACTION_REQUIRE_APPROVAL',
  ACTION_ALLOW: 'ACTION_ALLOW',
  ACTION_DENY: 'ACTION_DENY',
  ACTION_REQUIRE_APPROVAL: 'ACTION_REQUIRE_APPROVAL',
};

const time = z.iso.datetime({ offset: true }).transform((s) => new Date(s));
const searchQuery = z
  .object({
    identity: z.string().min(1).optional(),
    connection: z.string().min(1).optional(),
    type: z.string().min(1).optional(),
    table: z.string().min(1).optional(),
    phiTag: z.string().min(1).optional(),
    decision: z.enum(Object.keys(DECISIONS) as [string, ...string[]]).optional(),
    sessionId: z.string().min(1).optional(),
    purpose: z.string().min(1).max(64).optional(),
    from: time.optional(),
    to: time.optional(),
    after: z.coerce.number().int().min(0).default(0),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();
const reportQuery = z.object({ from: time, to: time }).strict();
const SESSION_MAX_EVENTS = 10_000;
const EXPORT_PAGE = 1000;

function parse<T extends z.ZodType>(schema: T, query: unknown): z.infer<T> {
  const r = schema.safeParse(query);
  if (!r.success)
    throw new AppError('AUDIT_QUERY_INVALID', { details: { problems: r.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`) } });
  return r.data;
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
  const filterOf = (q: z.infer<typeof searchQuery>): SearchFilter => {
    const f: SearchFilter = {
      identity: q.identity,
      connection: q.connection,
      type: q.type,
      table: q.table,
      sessionId: q.sessionId,
      purpose: q.purpose,
      from: q.from,
      to: q.to,
    };
    if (q.decision) f.decision = DECISIONS[q.decision];
    if (q.phiTag) {
      const keys = deps.catalog.searchKeys(q.phiTag);
      if (!keys.length)
        throw new AppError('AUDIT_QUERY_INVALID', {
          details: {
            problems: [`phiTag: no catalog column carries "${q.phiTag}" (known: ${deps.catalog.tags.join(', ') || 'none; set AUDIT_PHI_CATALOG_FILE'})`],
          },
        });
      f.columns = keys;
    }
    return f;
  };

  app.get<{ Params: { id: string } }>('/v1/requests/:id', async (req) => {
    await auditor(req);
    const events = await deps.store.timeline(req.params.id);
    if (!events.length) throw new AppError('AUDIT_REQUEST_NOT_FOUND', { details: { requestId: req.params.id } });
    return { requestId: req.params.id, recording: buildRecording(req.params.id, events), events };
  });

  app.get<{ Params: { id: string } }>('/v1/sessions/:id', async (req) => {
    await auditor(req);
    const events = await deps.store.sessionEvents(req.params.id, SESSION_MAX_EVENTS);
    if (!events.length) throw new AppError('AUDIT_SESSION_NOT_FOUND', { details: { sessionId: req.params.id } });
    const byRequest = new Map<string, unknown[]>();
    for (const e of events) {
      const id = String((e as { requestId?: unknown }).requestId ?? '');
      byRequest.set(id, [...(byRequest.get(id) ?? []), e]);
    }
    return { sessionId: req.params.id, truncated: events.length === SESSION_MAX_EVENTS, requests: [...byRequest].map(([id, evs]) => buildRecording(id, evs)) };
  });

  app.get('/v1/events', async (req) => {
    await auditor(req);
    const q = parse(searchQuery, req.query);
    const rows = await deps.store.search(filterOf(q), q.after, q.limit + 1);
    const page = rows.slice(0, q.limit);
    return { events: page.map((r) => JSON.parse(r.payload) as unknown), next: rows.length > q.limit ? String(page.at(-1)!.seq) : undefined };
  });

  // JSON Lines: every matching event, exactly as stored (the text the hash chain covers), one per line.
  app.get('/v1/export', async (req, reply) => {
    await auditor(req);
    const q = parse(searchQuery.omit({ limit: true }), req.query);
    const filter = filterOf({ ...q, limit: EXPORT_PAGE });
    const store = deps.store;
    // The first page is read before answering, so a database error is a clean error, not a cut stream.
    const first = await store.search(filter, q.after, EXPORT_PAGE);
    async function* lines() {
      let rows = first;
      for (;;) {
        for (const r of rows) yield `${r.payload}\n`;
        if (rows.length < EXPORT_PAGE) return;
        rows = await store.search(filter, rows.at(-1)!.seq, EXPORT_PAGE);
      }
    }
    return reply
      .type('application/x-ndjson; charset=utf-8')
      .header('content-disposition', 'attachment; filename="phigate-audit.jsonl"')
      .send(Readable.from(lines()));
  });

  app.get('/v1/verify', async (req) => {
    await auditor(req);
    return deps.verifyStore();
  });

  app.get('/v1/checkpoints', async (req) => {
    await auditor(req);
    return { publicKey: { keyId: deps.publicKey.keyId }, checkpoints: await deps.store.listCheckpoints(100) };
  });

  // Public on purpose: verifying checkpoints needs only this key, obtained out of band and pinned.
  app.get('/v1/checkpoints/public-key', async (req, reply) => {
    if ((req.headers.accept ?? '').includes('application/x-pem-file')) return reply.type('application/x-pem-file').send(deps.publicKey.pem);
    return { algorithm: 'Ed25519', keyId: deps.publicKey.keyId, pem: deps.publicKey.pem, jwk: deps.publicKey.jwk };
  });

  app.get('/v1/reports/minimum-necessary', async (req) => {
    await auditor(req);
    const q = parse(reportQuery, req.query);
    if (q.to <= q.from) throw new AppError('AUDIT_QUERY_INVALID', { details: { problems: ['to: must be after from'] } });
    const report = new MinimumNecessary(deps.catalog);
    for await (const e of deps.store.eventsBetween(q.from, q.to, [
      'query.received',
      'policy.decided',
      'query.executed',
      'query.completed',
      'query.served',
      'budget.threshold_reached',
      'budget.exceeded',
    ]))
      report.add(e);
    return { from: q.from.toISOString(), to: q.to.toISOString(), catalog: deps.catalog.columns.length > 0, identities: report.result() };
  });
  return app;
}
