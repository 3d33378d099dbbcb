import { AppError } from '@phigate/errors';
import type { Catalog } from '@phigate/sql';
import type { UpstreamPort, UpstreamSession } from '../../domain/ports.js';
import type { UpstreamConnection } from '../store/connection-registry.js';

interface Closable extends UpstreamPort {
  ping(): Promise<boolean>;
  close(): Promise<void>;
  /** A session kept for a client's transaction (both upstreams have them). */
  session(connection: string, role: string): Promise<UpstreamSession>;
}

/** Routes each call to the upstream adapter of the connection's type (PostgreSQL or Snowflake). */
export class RoutingUpstream implements UpstreamPort {
  constructor(
    private readonly connections: () => ReadonlyMap<string, UpstreamConnection>,
    private readonly byType: { postgresql: Closable; snowflake: Closable },
  ) {}

  private of(connection: string): Closable {
    const c = this.connections().get(connection);
    if (!c) throw new AppError('GATEWAY_CONNECTION_UNKNOWN');
    return this.byType[c.type];
  }

  catalog(connection: string, refresh?: boolean): Promise<Catalog> {
    try {
      return this.of(connection).catalog(connection, refresh);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  execute(...args: Parameters<UpstreamPort['execute']>): ReturnType<UpstreamPort['execute']> {
    try {
      return this.of(args[0]).execute(...args);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A session of the connection's upstream, kept for a client's transaction. */
  session(connection: string, role: string): Promise<UpstreamSession> {
    try {
      return this.of(connection).session(connection, role);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  compileError(...args: Parameters<NonNullable<UpstreamPort['compileError']>>): Promise<Error | undefined> {
    try {
      return this.of(args[0]).compileError?.(...args) ?? Promise.resolve(undefined);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Readiness follows the PostgreSQL upstreams (the control path and the demo's first upstream).
   * A Snowflake account that is down fails its own requests (503), not the whole gateway.
   */
  ping(): Promise<boolean> {
    return this.byType.postgresql.ping();
  }

  async close(): Promise<void> {
    await Promise.all([this.byType.postgresql.close(), this.byType.snowflake.close()]);
  }
}

/** The connections of one type, as a snapshot function (recomputed only when the registry's snapshot changes). */
export function ofType(
  snapshot: () => ReadonlyMap<string, UpstreamConnection>,
  type: UpstreamConnection['type'],
): () => ReadonlyMap<string, UpstreamConnection> {
  let from: ReadonlyMap<string, UpstreamConnection> | undefined;
  let filtered: ReadonlyMap<string, UpstreamConnection> = new Map();
  return () => {
    const all = snapshot();
    if (all !== from) {
      filtered = new Map([...all].filter(([, c]) => c.type === type));
      from = all;
    }
    return filtered;
  };
}
