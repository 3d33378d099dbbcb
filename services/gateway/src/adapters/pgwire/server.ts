// The PostgreSQL wire door's listener: accepts TCP connections, bounds how many are open, and
// hands each to a PgConnection. TLS is negotiated per connection (SSLRequest), not on accept.
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { AppError } from '@phigate/errors';
import * as wire from './codec.js';
import { CancelRegistry, PgConnection, type PgDoorDeps } from './connection.js';
import { errorNotice } from './errors.js';

export type PgServerDeps = Omit<PgDoorDeps, 'cancels'> & { maxConnections: number };

/** The TLS context for SSLRequest from a PEM certificate chain and key; undefined when neither is set. */
export function loadPgTls(certFile: string | undefined, keyFile: string | undefined): SecureContext | undefined {
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile)
    throw new AppError('COMMON_CONFIG_INVALID', { message: 'GATEWAY_PG_TLS_CERT_FILE and GATEWAY_PG_TLS_KEY_FILE must be set together' });
  try {
    return createSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2' });
  } catch (cause) {
    throw new AppError('COMMON_CONFIG_INVALID', { message: 'the PostgreSQL door TLS certificate or key cannot be read or does not match', cause });
  }
}

export class PgServer {
  private readonly server: Server;
  private readonly open = new Set<PgConnection>();
  private readonly cancels = new CancelRegistry();

  constructor(private readonly deps: PgServerDeps) {
    this.server = createServer({ noDelay: true, keepAlive: true }, (socket) => this.accept(socket));
    this.server.on('error', (err) => deps.log.warn({ code: (err as { code?: string }).code }, 'pg listener error'));
  }

  private accept(socket: Socket): void {
    if (this.open.size >= this.deps.maxConnections) {
      const e = new AppError('GATEWAY_PG_TOO_MANY_CONNECTIONS');
      socket.on('error', () => undefined);
      socket.end(wire.errorResponse(errorNotice(e, '', 'FATAL')));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const conn = new PgConnection(socket, { ...this.deps, cancels: this.cancels });
    this.open.add(conn);
    void conn.closed.then(() => this.open.delete(conn));
  }

  /** Connections currently open. */
  get connections(): number {
    return this.open.size;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.removeListener('error', reject);
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  /** Stops accepting, tells each client the server is going away, and closes every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.open) c.shutdown();
    await Promise.all([closed, ...[...this.open].map((c) => c.closed)]);
  }
}
