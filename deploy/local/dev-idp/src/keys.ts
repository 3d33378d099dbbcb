/**
 * Signing keys for the dev IdP: generated once, persisted as a private JWKS (mode 600) so that
 * tokens stay verifiable across restarts.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { calculateJwkThumbprint, type JWK } from 'jose';

/** Repository root, resolved from this module (deploy/local/dev-idp/dist/src/ -> repo root). */
export const REPO_ROOT: string = fileURLToPath(new URL('../../../../../', import.meta.url));

/** Default location of the persisted private JWKS: `<repo>/.phigate/dev-idp/jwks.json`. */
export const DEFAULT_KEYS_FILE: string = join(REPO_ROOT, '.phigate', 'dev-idp', 'jwks.json');

export interface PrivateJwks {
  keys: JWK[];
}

async function generateJwks(): Promise<PrivateJwks> {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as JWK;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) as JWK;
  const keys: JWK[] = [];
  for (const [jwk, alg] of [
    [rsa, 'RS256'],
    [ec, 'ES256'],
  ] as const) {
    const kid = await calculateJwkThumbprint(jwk, 'sha256');
    keys.push({ ...jwk, kid, alg, use: 'sig' });
  }
  return { keys };
}

function validate(doc: unknown, file: string): PrivateJwks {
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (
    !Array.isArray(keys) ||
    keys.length === 0 ||
    !keys.every((k) => k !== null && typeof k === 'object' && typeof k.kty === 'string' && typeof k.d === 'string')
  ) {
    throw new Error(`dev IdP keys file ${file} is not a private JWKS; delete it to have a new one generated`);
  }
  if (!keys.some((k) => k.kty === 'RSA')) {
    throw new Error(`dev IdP keys file ${file} has no RSA key (needed for RS256); delete it to have a new one generated`);
  }
  return { keys: keys as JWK[] };
}

function readExisting(file: string): PrivateJwks {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`dev IdP keys file ${file} is unreadable (${(err as Error).message}); delete it to have a new one generated`);
  }
  const jwks = validate(doc, file);
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  return jwks;
}

export interface LoadedKeys {
  jwks: PrivateJwks;
  /** true when the file did not exist and a new key set was written. */
  generated: boolean;
}

/**
 * Returns the private JWKS stored in `file`, generating (RS256 + ES256) and persisting it first if
 * the file does not exist. Creation is atomic (write temp + hard link), so concurrent starters agree.
 */
export async function loadOrCreateKeys(file: string = DEFAULT_KEYS_FILE): Promise<LoadedKeys> {
  if (!isMissing(file)) return { jwks: readExisting(file), generated: false };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const jwks = await generateJwks();
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Someone else created it first: use theirs.
    return { jwks: readExisting(file), generated: false };
  } finally {
    unlinkSync(tmp);
  }
  return { jwks, generated: true };
}

function isMissing(file: string): boolean {
  try {
    statSync(file);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
