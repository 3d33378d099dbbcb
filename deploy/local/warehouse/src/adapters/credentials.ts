import { createHash, createPublicKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import type { UserSpec } from '../domain/users.js';

/** A user with its credentials loaded (secret files read once at start-up). */
export interface LoadedUser extends UserSpec {
  passwordDigest?: Buffer;
  publicKey?: KeyObject;
  /** `SHA256:<base64 of the DER public key's SHA-256>`, as Snowflake's RSA_PUBLIC_KEY_FP. */
  publicKeyFp?: string;
}

/** Reads each user's secret files from `secretsDir`; a missing file disables that credential. */
export function loadCredentials(users: UserSpec[], secretsDir: string | undefined): { users: LoadedUser[]; problems: string[] } {
  const problems: string[] = [];
  const out = users.map((u): LoadedUser => {
    const loaded: LoadedUser = { ...u };
    const read = (name: string | undefined) => {
      if (!name || !secretsDir) return undefined;
      const f = join(secretsDir, name);
      return existsSync(f) ? readFileSync(f, 'utf8').replace(/\r?\n$/, '') : undefined;
    };
    const pw = read(u.passwordSecret);
    if (pw) loaded.passwordDigest = createHash('sha256').update(pw).digest();
    const pem = read(u.rsaPublicKeySecret);
    if (pem) {
      try {
        const key = createPublicKey(pem);
        if (key.asymmetricKeyType !== 'rsa') throw new Error('not RSA');
        loaded.publicKey = key;
        loaded.publicKeyFp = publicKeyFingerprint(key);
      } catch {
        problems.push(`${u.name}: ${u.rsaPublicKeySecret} is not an RSA public key in PEM`);
      }
    }
    return loaded;
  });
  return { users: out, problems };
}

export function publicKeyFingerprint(key: KeyObject): string {
  return `SHA256:${createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('base64')}`;
}

const CLOCK_SKEW_SEC = 60;
/** 10^11 s is in the year 5138; as milliseconds it is 1973. */
const MILLISECONDS_FROM = 1e11;

/** Constant-time password check. */
export function passwordMatches(user: LoadedUser, password: unknown): boolean {
  if (!user.passwordDigest || typeof password !== 'string') return false;
  return timingSafeEqual(createHash('sha256').update(password).digest(), user.passwordDigest);
}

/**
 * Snowflake key-pair login: an RS256 JWT signed with the user's private key, `iss` =
 * `<ACCOUNT>.<USER>.SHA256:<fingerprint>`, `sub` = `<ACCOUNT>.<USER>`, lifetime at most one hour.
 * snowflake-sdk (3.x) writes `iat`/`exp` in epoch milliseconds, and Snowflake accepts its tokens:
 * times past year 5000 in seconds are read as milliseconds.
 */
export async function verifyKeyPairJwt(user: LoadedUser, token: unknown): Promise<boolean> {
  if (!user.publicKey || !user.publicKeyFp || typeof token !== 'string' || token.length > 8192) return false;
  try {
    if (decodeProtectedHeader(token).alg !== 'RS256') return false;
    const claims = decodeJwt(token);
    const iss = String(claims.iss ?? '');
    const sub = String(claims.sub ?? '');
    const dot = iss.lastIndexOf('.SHA256:');
    if (dot < 0 || iss.slice(dot + 1) !== user.publicKeyFp) return false;
    const issUser = iss.slice(0, dot).split('.').pop()?.toUpperCase();
    const subUser = sub.split('.').pop()?.toUpperCase();
    if (issUser !== user.name || subUser !== user.name) return false;
    const { payload } = await jwtVerify(token, user.publicKey, { algorithms: ['RS256'], clockTolerance: CLOCK_SKEW_SEC });
    if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number') return false;
    const scale = payload.iat > MILLISECONDS_FROM ? 1000 : 1;
    const iat = payload.iat / scale;
    const exp = payload.exp / scale;
    const now = Date.now() / 1000;
    return exp - iat <= 3600 + CLOCK_SKEW_SEC && exp >= now - CLOCK_SKEW_SEC && iat <= now + CLOCK_SKEW_SEC;
  } catch {
    return false;
  }
}
