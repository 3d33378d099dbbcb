import type { Budget } from './budgets.js';
import type { Identity } from './types.js';

/** Identity (subject/client id) or group → connection → the one upstream role it gets there. */
export interface Binding {
  groups?: string[];
  identities?: string[];
  connections: Record<string, string>;
  /** Purposes of use the identity may state on these connections; absent: any well-formed purpose. */
  purposes?: string[];
  /** Every statement and session must state a purpose of use (one of `purposes`, when given). */
  purposeRequired?: boolean;
  /** Statements per minute per identity on these connections; absent: the gateway's default (GATEWAY_RATE_LIMIT_PER_MINUTE). */
  statementsPerMinute?: number;
  /** PHI budgets of the identities it matches, over sliding windows (budgets.ts). */
  budgets?: Budget[];
}

/** A purpose of use: lower-case words joined by dashes, at most 63 characters. */
export const PURPOSE_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * The binding that gives this identity access to this connection: the first (file order) that
 * matches the identity and names the connection. Undefined means no access.
 */
export function resolveBinding(bindings: readonly Binding[], identity: Identity, connection: string): Binding | undefined {
  for (const b of bindings) {
    const byGroup = b.groups?.some((g) => identity.groups.includes(g)) ?? false;
    const byId = b.identities?.some((i) => i === identity.subject || i === identity.clientId) ?? false;
    if ((byGroup || byId) && Object.hasOwn(b.connections, connection)) return b;
  }
  return undefined;
}

/** The upstream role for this identity on this connection (see resolveBinding). Undefined means no access. */
export function resolveRole(bindings: readonly Binding[], identity: Identity, connection: string): string | undefined {
  return resolveBinding(bindings, identity, connection)?.connections[connection];
}

/** Why a stated purpose does not satisfy a binding, or undefined when it does. */
export function purposeProblem(binding: Binding, purpose: string | undefined): 'required' | 'not_allowed' | undefined {
  if (!purpose) return binding.purposeRequired ? 'required' : undefined;
  if (!PURPOSE_PATTERN.test(purpose)) return 'not_allowed';
  return binding.purposes && !binding.purposes.includes(purpose) ? 'not_allowed' : undefined;
}

/** A binding's name for messages: the groups or identities it matches. */
export function bindingName(binding: Binding): string {
  const parts = [
    ...(binding.groups?.length ? [`groups ${binding.groups.join(', ')}`] : []),
    ...(binding.identities?.length ? [`identities ${binding.identities.join(', ')}`] : []),
  ];
  return `the binding of ${parts.join(' and ')}`;
}
