// The PostgreSQL wire door's listener: accepts TCP connections, bounds how many are open, and
// hands each to a PgConnection. TLS is negotiated per connection (SSLRequest), not on accept.
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { AppError } from '@phigate/errors';
import { CancelRegistry } from './cancel-registry.js';
import * as wire from './codec.js';
import { PgConnection, type PgDoorDeps } from './connection.js';
import { errorNotice } from './errors.js';

export type PgServerDeps = Omit<PgDoorDeps, 'cancels'> & {
  maxConnections: number;
  /** Connections not yet authenticated, in all and per source address (see GATEWAY_PG_MAX_UNAUTHENTICATED). */
  maxUnauthenticated: number;
  maxUnauthenticatedPerAddress: number;
};

/** Ends a connection before it starts: a FATAL ErrorResponse, then the socket closes. */
function refuse(socket: Socket, e: AppError): void {
  socket.on('error', () => undefined);
  socket.end(wire.errorResponse(errorNotice(e, '', 'FATAL')));
  setTimeout(() => socket.destroy(), 1000).unref();
}

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
  /** Connections not yet authenticated, by source address. */
  private readonly pending = new Map<string, number>();
  private pendingTotal = 0;

  constructor(private readonly deps: PgServerDeps) {
    this.server = createServer({ noDelay: true, keepAlive: true }, (socket) => this.accept(socket));
    this.server.on('error', (err) => deps.log.warn({ code: (err as { code?: string }).code }, 'pg listener error'));
  }

  private accept(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    if (this.open.size >= this.deps.maxConnections) {
      refuse(socket, new AppError('GATEWAY_PG_TOO_MANY_CONNECTIONS'));
      return;
    }
    if (this.pendingTotal >= this.deps.maxUnauthenticated || (this.pending.get(address) ?? 0) >= this.deps.maxUnauthenticatedPerAddress) {
      this.deps.log.warn({ pending: this.pendingTotal }, 'pg connection refused: too many connections awaiting authentication');
      refuse(
        socket,
        new AppError('GATEWAY_PG_TOO_MANY_CONNECTIONS', { message: 'too many connections from this address are still authenticating; try again shortly' }),
      );
      return;
    }
    const conn = new PgConnection(socket, { ...this.deps, cancels: this.cancels });
    this.open.add(conn);
    this.pendingTotal++;
    this.pending.set(address, (this.pending.get(address) ?? 0) + 1);
    let counted = true;
    const settle = () => {
      if (!counted) return;
      counted = false;
      this.pendingTotal--;
      const n = (this.pending.get(address) ?? 1) - 1;
      if (n > 0) this.pending.set(address, n);
      else this.pending.delete(address);
    };
    void conn.authenticated.then(settle);
    void conn.closed.then(() => {
      settle();
      this.open.delete(conn);
    });
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
