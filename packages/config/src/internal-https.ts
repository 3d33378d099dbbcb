// Mutual TLS for phigate's internal HTTP links (the gateway calling the approval service's internal
// API), from the same INTERNAL_TLS_* files as the gRPC links (@phigate/proto's tls.ts) and with the
// same promise: the files are re-read every INTERNAL_TLS_REFRESH_MS, so a rotated certificate takes
// effect without a restart.
import { request as httpRequest } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { createSecureContext, type SecureContextOptions, type TlsOptions } from 'node:tls';
import type { InternalTls } from './index.js';
import { type WatchedFiles, watchFiles } from './watched-files.js';

/** The PEM contents of INTERNAL_TLS_CA_FILE, INTERNAL_TLS_CERT_FILE and INTERNAL_TLS_KEY_FILE. */
export interface InternalTlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** The three files, re-read on an interval; `onChange` hears of new contents that parse. */
export type InternalTlsFiles = WatchedFiles<keyof InternalTlsMaterial>;

/**
 * Watches the INTERNAL_TLS_* files, or returns undefined when they are not configured (plaintext,
 * which @phigate/config's internalTlsProblems allows only with INTERNAL_PLAINTEXT on loopback).
 * The first read throws when a file is missing; a later unreadable or half-written state keeps the
 * material in use (a rotation writes the files one by one).
 */
export function watchInternalTls(c: InternalTls): InternalTlsFiles | undefined {
  if (!c.INTERNAL_TLS_CA_FILE || !c.INTERNAL_TLS_CERT_FILE || !c.INTERNAL_TLS_KEY_FILE) return undefined;
  // A certificate that does not match its key (a rotation caught half-way) is not taken yet:
  // createSecureContext throws on it.
  return watchFiles({ ca: c.INTERNAL_TLS_CA_FILE, cert: c.INTERNAL_TLS_CERT_FILE, key: c.INTERNAL_TLS_KEY_FILE }, c.INTERNAL_TLS_REFRESH_MS, (m) => {
    createSecureContext(m);
  });
}

/**
 * Options for an HTTPS server that requires a client certificate signed by the internal CA
 * (Fastify's `https` option), and a hook that swaps in rotated files on the running server.
 */
export function internalHttpsServer(files: InternalTlsFiles): {
  options: TlsOptions;
  attach(server: { setSecureContext(o: SecureContextOptions): void }): void;
} {
  const m = files.current();
  return {
    options: { ...m, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    attach: (server) => files.onChange((next) => server.setSecureContext(next)),
  };
}

/**
 * An HTTPS agent that presents this service's certificate and trusts only servers the internal CA
 * signed; `agent()` returns one built from the newest files (connections already open keep theirs).
 */
export function internalHttpsAgent(files: InternalTlsFiles): { agent(): Agent } {
  const build = (m: InternalTlsMaterial) => new Agent({ ...m, keepAlive: true, minVersion: 'TLSv1.2' });
  let agent = build(files.current());
  files.onChange((next) => {
    agent = build(next);
  });
  return { agent: () => agent };
}

/** One answer of an internal HTTP call: the status and the body as text. */
export interface InternalHttpResponse {
  status: number;
  text: string;
}

/** A caller of another phigate service's internal HTTP API. */
export interface InternalHttpClient {
  request(method: string, url: string, init?: { headers?: Record<string, string>; body?: string; timeoutMs?: number }): Promise<InternalHttpResponse>;
  close(): void;
}

/**
 * Calls over mutual TLS with the INTERNAL_TLS_* files (an `https:` URL), or in plaintext when they
 * are not configured (config allows that only with INTERNAL_PLAINTEXT on loopback). Rejects on any
 * transport failure, a refused handshake included; the caller decides what that means.
 */
export function internalHttpClient(c: InternalTls): InternalHttpClient {
  const files = watchInternalTls(c);
  const agents = files && internalHttpsAgent(files);
  return {
    request(method, url, init = {}) {
      const u = new URL(url);
      if (agents && u.protocol !== 'https:') return Promise.reject(new Error(`internal TLS is configured: ${u.origin} must be https`));
      const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
      return new Promise<InternalHttpResponse>((resolve, reject) => {
        const req = send(
          u,
          {
            method,
            headers: { ...init.headers, ...(init.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(init.body)) }) },
            ...(agents ? { agent: agents.agent() } : {}),
            ...(init.timeoutMs ? { signal: AbortSignal.timeout(init.timeoutMs) } : {}),
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(init.body);
      });
    },
    close: () => files?.close(),
  };
}
