import type { Identity } from './types.js';

/** Identity (subject/client id) or group → connection → the one upstream role it gets there. */
export interface Binding {
  groups?: string[];
  identities?: string[];
  connections: Record<string, string>;
}

/**
 * The upstream role for this identity on this connection: the first binding (file order) that
 * matches the identity and names the connection. Undefined means no access.
 */
export function resolveRole(bindings: readonly Binding[], identity: Identity, connection: string): string | undefined {
  for (const b of bindings) {
    const byGroup = b.groups?.some((g) => identity.groups.includes(g)) ?? false;
    const byId = b.identities?.some((i) => i === identity.subject || i === identity.clientId) ?? false;
    if ((byGroup || byId) && Object.hasOwn(b.connections, connection)) return b.connections[connection];
  }
  return undefined;
}
