import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Warehouse } from '../../service.js';

const MAX_BODY = 64 * 1024 * 1024;

/** Request bodies: Python and JDBC gzip them (Node may label plain JSON as gzip): sniff the magic bytes. */
function parseBody(raw: Buffer | undefined): unknown {
  if (!raw || raw.length === 0) return {};
  const bytes = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw, { maxOutputLength: MAX_BODY }) : raw;
  const text = bytes.toString('utf8');
  return text.trim() ? JSON.parse(text) : {};
}

/**
 * The Snowflake REST endpoints a driver uses (see README.md). Every application outcome is HTTP 200
 * with `{success, code, message, data}` and `Content-Type: application/json`, as Snowflake answers;
 * chunks are gzip'd octet-streams.
 */
export function buildHttp(wh: Warehouse, opts: { publicUrl?: string; ready: () => boolean }): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: MAX_BODY, return503OnClosing: true, forceCloseConnections: true });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const params = (req: FastifyRequest) => new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
  const base = (req: FastifyRequest) => opts.publicUrl ?? `${req.protocol}://${req.headers.host ?? '127.0.0.1'}`;
  const json = (reply: FastifyReply, body: unknown, status = 200) => reply.code(status).header('content-type', 'application/json').send(JSON.stringify(body));
  const body = (req: FastifyRequest, reply: FastifyReply): { ok: true; value: unknown } | { ok: false } => {
    try {
      return { ok: true, value: parseBody(req.body as Buffer | undefined) };
    } catch {
      void json(reply, { success: false, code: '390400', message: 'The request body is not valid JSON.', data: null }, 400);
      return { ok: false };
    }
  };

  app.get('/healthz', async (_req, reply) => json(reply, { status: 'ok' }));
  app.get('/readyz', async (_req, reply) => (opts.ready() ? json(reply, { status: 'ready' }) : json(reply, { status: 'starting' }, 503)));
  app.get('/metrics', async (_req, reply) => {
    const c = wh.counters;
    const lines = [
      '# HELP warehouse_logins_total Accepted logins.',
      '# TYPE warehouse_logins_total counter',
      `warehouse_logins_total ${c.logins}`,
      '# HELP warehouse_login_failures_total Refused logins.',
      '# TYPE warehouse_login_failures_total counter',
      `warehouse_login_failures_total ${c.loginFailures}`,
      '# HELP warehouse_queries_total Statements started.',
      '# TYPE warehouse_queries_total counter',
      `warehouse_queries_total ${c.queries}`,
      '# HELP warehouse_query_failures_total Statements that ended in an error.',
      '# TYPE warehouse_query_failures_total counter',
      `warehouse_query_failures_total ${c.queryFailures}`,
    ];
    return reply.header('content-type', 'text/plain; version=0.0.4').send(`${lines.join('\n')}\n`);
  });

  app.post('/session/v1/login-request', async (req, reply) => {
    const b = body(req, reply);
    if (!b.ok) return reply;
    return json(reply, await wh.login(b.value, params(req)));
  });

  app.post('/session/token-request', async (req, reply) => {
    const b = body(req, reply);
    if (!b.ok) return reply;
    return json(reply, wh.renew(req.headers.authorization, b.value));
  });

  app.post('/session/heartbeat', async (req, reply) => {
    const s = wh.session(req.headers.authorization);
    return json(reply, 'user' in s ? { success: true, code: null, message: null, data: null } : s);
  });

  app.post('/session', async (req, reply) => {
    const s = wh.session(req.headers.authorization);
    if (!('user' in s)) return json(reply, s);
    if (params(req).get('delete') !== 'true') return json(reply, { success: false, code: '390400', message: 'Unsupported request', data: null });
    return json(reply, wh.logout(s));
  });

  app.post('/telemetry/send', async (_req, reply) => json(reply, { success: true, code: null, message: null, data: 'Log Received' }));

  app.post('/queries/v1/query-request', async (req, reply) => {
    const s = wh.session(req.headers.authorization);
    if (!('user' in s)) return json(reply, s);
    const b = body(req, reply);
    if (!b.ok) return reply;
    return json(reply, await wh.queryRequest(s, b.value, params(req), base(req)));
  });

  app.get<{ Params: { id: string } }>('/queries/:id/result', async (req, reply) => {
    const s = wh.session(req.headers.authorization);
    if (!('user' in s)) return json(reply, s);
    return json(reply, await wh.result(s, req.params.id, base(req)));
  });

  app.get<{ Params: { id: string } }>('/monitoring/queries/:id', async (req, reply) => {
    const s = wh.session(req.headers.authorization);
    if (!('user' in s)) return json(reply, s);
    return json(reply, wh.monitoring(s, req.params.id));
  });

  app.post('/queries/v1/abort-request', async (req, reply) => {
    const s = wh.session(req.headers.authorization);
    if (!('user' in s)) return json(reply, s);
    const b = body(req, reply);
    if (!b.ok) return reply;
    const requestId = (b.value as { requestId?: unknown }).requestId;
    return json(reply, wh.abort(s, { requestId: typeof requestId === 'string' ? requestId : '' }));
  });

  app.post<{ Params: { id: string } }>('/queries/:id/abort-request', async (req, reply) => {
    const s = wh.session(req.headers.authorization);
    if (!('user' in s)) return json(reply, s);
    return json(reply, wh.abort(s, { queryId: req.params.id }));
  });

  app.get<{ Params: { id: string; index: string }; Querystring: { sig?: string } }>('/results/:id/chunks/:index', async (req, reply) => {
    const key = req.headers['x-phigate-chunk-key'];
    const r = wh.chunk(req.params.id, Number(req.params.index), req.query.sig, typeof key === 'string' ? key : undefined);
    if (r.status !== 200 || !r.body)
      return reply
        .code(r.status)
        .header('content-type', 'text/plain')
        .send(r.status === 403 ? 'Forbidden' : 'Not Found');
    return reply.code(200).header('content-type', 'application/octet-stream').header('content-encoding', 'gzip').send(r.body);
  });

  app.setNotFoundHandler(async (_req, reply) => json(reply, { success: false, code: '390400', message: 'Unsupported request', data: null }, 404));
  app.setErrorHandler(async (_err, _req, reply) => json(reply, { success: false, code: '000603', message: 'Internal error', data: null }, 500));
  return app;
}
