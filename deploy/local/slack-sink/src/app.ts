/**
 * Local stand-in for Slack's incoming-webhook (`POST /services/...`) and `response_url`
 * (`POST /response/...`) endpoints. Records every accepted body in memory, oldest first, and
 * answers like Slack does: `200 ok` (text/plain), `400 invalid_payload`, `400 no_text`. DEV ONLY.
 *
 *   GET    /messages          -> JSON array of the posted bodies, oldest first
 *   GET    /messages?meta=1   -> [{ path, receivedAt, body }]
 *   DELETE /messages          -> clears; { "cleared": n }
 *   GET    /healthz           -> { "status": "ok" }
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

export type Logger = (level: 'info' | 'warn' | 'error', event: string, fields?: Record<string, unknown>) => void;

export const jsonLogger: Logger = (level, event, fields = {}) => {
  process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), level, service: 'slack-sink', event, ...fields })}\n`);
};
export const silentLogger: Logger = () => {};

export const DEFAULT_PORT = 9401;
export const DEFAULT_HOST = '127.0.0.1';
/** Oldest records are dropped beyond this many (keeps a long-running dev stack bounded). */
export const DEFAULT_MAX_RECORDS = 10_000;

export interface SlackSinkOptions {
  /** TCP port; 0 picks a free one. Default 9401. */
  port?: number;
  host?: string;
  /** When set, each record is also appended to this file as one JSON line. */
  recordFile?: string;
  maxRecords?: number;
  logger?: Logger;
}

export interface SlackRecord {
  /** Request path, e.g. /services/T000/B000/XXXX or /response/abc (query string excluded). */
  path: string;
  /** ISO-8601 arrival time. */
  receivedAt: string;
  /** The posted message (parsed JSON object). */
  body: unknown;
}

export interface SlackSink {
  start(): Promise<{ url: string; port: number }>;
  stop(): Promise<void>;
  /** Snapshot of the recorded messages, oldest first. */
  records(): SlackRecord[];
  clear(): number;
  readonly app: FastifyInstance;
  readonly url: string | undefined;
}

class SlackError extends Error {
  constructor(readonly slackError: 'invalid_payload' | 'no_text') {
    super(slackError);
  }
}

/**
 * Turns a raw request body into the posted message the way Slack does: JSON bodies, or
 * `application/x-www-form-urlencoded` with a `payload` field holding JSON.
 */
export function parseSlackBody(raw: string, contentType: string | undefined): unknown {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  let json = raw;
  if (type === 'application/x-www-form-urlencoded') {
    if (raw.trim() === '') throw new SlackError('no_text');
    const payload = new URLSearchParams(raw).get('payload');
    if (payload === null) throw new SlackError('invalid_payload');
    json = payload;
  }
  if (json.trim() === '') throw new SlackError('no_text');
  let body: unknown;
  try {
    body = JSON.parse(json);
  } catch {
    throw new SlackError('invalid_payload');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new SlackError('invalid_payload');
  if (Object.keys(body).length === 0) throw new SlackError('no_text');
  return body;
}

export function buildSlackSink(opts: SlackSinkOptions = {}): SlackSink {
  const host = opts.host ?? DEFAULT_HOST;
  const maxRecords = opts.maxRecords ?? DEFAULT_MAX_RECORDS;
  const logger = opts.logger ?? jsonLogger;
  const recordFile = opts.recordFile;
  let records: SlackRecord[] = [];
  let url: string | undefined;

  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024, return503OnClosing: true });

  // Parse bodies ourselves so errors can be Slack's plain-text ones, whatever the content type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.addHook('onResponse', async (req, reply) => {
    if (req.url === '/healthz') return;
    const path = req.url.split('?')[0] ?? '';
    logger('info', 'http.request', {
      method: req.method,
      // Webhook paths embed the webhook secret (/services/T/B/<secret>); log only the route shape.
      path: path.startsWith('/services/') ? '/services/…' : path.startsWith('/response/') ? '/response/…' : path,
      status: reply.statusCode,
      duration_ms: Math.round(reply.elapsedTime * 1000) / 1000,
    });
  });

  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) logger('error', 'http.error', { error: err.message });
    // e.g. body too large (413) or an unsupported media type
    return reply
      .code(status)
      .type('text/plain; charset=utf-8')
      .send(status === 413 ? 'invalid_payload' : err.message);
  });

  const record = async (req: FastifyRequest, reply: FastifyReply) => {
    const raw = typeof req.body === 'string' ? req.body : '';
    let body: unknown;
    try {
      body = parseSlackBody(raw, req.headers['content-type']);
    } catch (err) {
      if (err instanceof SlackError) return reply.code(400).type('text/plain; charset=utf-8').send(err.slackError);
      throw err;
    }
    const rec: SlackRecord = { path: req.url.split('?')[0] ?? req.url, receivedAt: new Date().toISOString(), body };
    records.push(rec);
    if (records.length > maxRecords) records.splice(0, records.length - maxRecords);
    if (recordFile) {
      try {
        appendFileSync(recordFile, `${JSON.stringify(rec)}\n`);
      } catch (err) {
        logger('warn', 'record_file.append_failed', { file: recordFile, error: (err as Error).message });
      }
    }
    return reply.code(200).type('text/plain; charset=utf-8').send('ok');
  };

  app.post('/services/*', record);
  app.post('/response/*', record);

  app.get('/messages', async (req, reply) => {
    const meta = (req.query as Record<string, string | undefined>).meta;
    const withMeta = meta !== undefined && meta !== '0' && meta !== 'false';
    return reply.header('cache-control', 'no-store').send(withMeta ? records : records.map((r) => r.body));
  });

  app.delete('/messages', async () => ({ cleared: clear() }));

  app.get('/healthz', async () => ({ status: 'ok' }));

  function clear(): number {
    const n = records.length;
    records = [];
    return n;
  }

  return {
    app,
    get url() {
      return url;
    },
    records: () => records.map((r) => ({ ...r })),
    clear,
    async start() {
      if (recordFile) mkdirSync(dirname(recordFile), { recursive: true });
      await app.listen({ port: opts.port ?? DEFAULT_PORT, host });
      const { port } = app.server.address() as AddressInfo;
      url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      logger('info', 'sink.started', { url, ...(recordFile ? { record_file: recordFile } : {}) });
      return { url, port };
    },
    async stop() {
      await app.close();
      logger('info', 'sink.stopped', {});
    },
  };
}
