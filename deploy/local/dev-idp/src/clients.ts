/**
 * The dev-only demo identities in `deploy/local/dev-idp/clients.json`. The parser lives in
 * `@phigate/testkit/dev-identities` (shared with the tests); this module binds it to this folder's file.
 */
import { fileURLToPath } from 'node:url';
import { type DevIdentity, readDevIdentities } from '@phigate/testkit/dev-identities';

export { type DevIdentity, type DevIdentityKind, findDevIdentity, parseDevIdentities } from '@phigate/testkit/dev-identities';

/** Absolute path of the checked-in clients.json (resolved relative to this module: dist/src/ -> package root). */
export const DEFAULT_CLIENTS_FILE: string = fileURLToPath(new URL('../../clients.json', import.meta.url));

/** Loads the demo identities. `file` defaults to env `DEV_IDP_CLIENTS_FILE`, else the checked-in clients.json. */
export function loadDevIdentities(file: string = process.env.DEV_IDP_CLIENTS_FILE || DEFAULT_CLIENTS_FILE): DevIdentity[] {
  return readDevIdentities(file);
}
