/**
 * Typed loader for the dev-only demo identities (the checked-in document is
 * `deploy/local/dev-idp/clients.json`; the dev IdP serves them, tests ask it for their tokens).
 *
 * Every identity is an OAuth 2.0 client_credentials client whose client id is its `name`.
 * The secrets in that file are public dev fixtures; never reuse them anywhere else.
 *
 * It lives in a package (exported as `@phigate/testkit/dev-identities`, a module with no other
 * import) so that shared code never imports a deploy folder: the dev IdP and the tests both use it.
 */
import { readFileSync } from 'node:fs';

export type DevIdentityKind = 'service' | 'human';

export interface DevIdentity {
  /** Identity name; also the OAuth client id, the token `sub` and `client_id`. */
  readonly name: string;
  readonly kind: DevIdentityKind;
  readonly description: string;
  /** DEV ONLY client secret. */
  readonly clientSecret: string;
  /** Value of the access token's `groups` claim. */
  readonly groups: readonly string[];
  /** Slack user id used by the approval flow (humans only, optional). */
  readonly slackUserId?: string;
}

function fail(file: string, msg: string): never {
  throw new Error(`invalid dev identities file ${file}: ${msg}`);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** Parses and validates the identities document (exported for tests). */
export function parseDevIdentities(doc: unknown, file = '<inline>'): DevIdentity[] {
  if (doc === null || typeof doc !== 'object' || !Array.isArray((doc as { identities?: unknown }).identities)) {
    fail(file, 'expected an object with an "identities" array');
  }
  const seen = new Set<string>();
  const out: DevIdentity[] = [];
  for (const [i, raw] of (doc as { identities: unknown[] }).identities.entries()) {
    if (raw === null || typeof raw !== 'object') fail(file, `identities[${i}] is not an object`);
    const r = raw as Record<string, unknown>;
    const { name, kind, description, clientSecret, groups, slackUserId } = r;
    if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/.test(name)) fail(file, `identities[${i}].name is missing or invalid`);
    if (seen.has(name)) fail(file, `duplicate identity "${name}"`);
    seen.add(name);
    if (kind !== 'service' && kind !== 'human') fail(file, `identities[${i}].kind must be "service" or "human"`);
    if (typeof clientSecret !== 'string' || clientSecret.length < 8) fail(file, `identities[${i}].clientSecret must be a string of at least 8 characters`);
    if (!isStringArray(groups)) fail(file, `identities[${i}].groups must be an array of strings`);
    if (slackUserId !== undefined && typeof slackUserId !== 'string') fail(file, `identities[${i}].slackUserId must be a string`);
    out.push({
      name,
      kind,
      description: typeof description === 'string' ? description : '',
      clientSecret,
      groups: [...groups],
      ...(slackUserId !== undefined ? { slackUserId } : {}),
    });
  }
  return out;
}

/** Loads and validates the demo identities document at `file`. */
export function readDevIdentities(file: string): DevIdentity[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read dev identities file ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    fail(file, `not valid JSON (${(err as Error).message})`);
  }
  return parseDevIdentities(doc, file);
}

/** Finds an identity by name (exact match). */
export function findDevIdentity(identities: readonly DevIdentity[], name: string): DevIdentity | undefined {
  return identities.find((i) => i.name === name);
}
