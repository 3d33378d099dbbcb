import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AppError } from '@phigate/errors';

/** Keys for sealing upstream credentials: several may exist (rotation), one seals. */
export interface Keyring {
  activeKeyId: string;
  keys: ReadonlyMap<string, Buffer>;
}

/** A sealed credential as stored: versioned, naming the key that sealed it. */
export interface Sealed {
  v: 1;
  alg: 'A256GCM';
  kid: string;
  iv: string;
  ct: string;
  tag: string;
}

/**
 * AES-256-GCM with a fresh 96-bit IV per seal. The connection name is authenticated data, so a
 * sealed credential cannot be moved to another connection's row and still open.
 */
export function seal(plaintext: string, keyring: Keyring, context: string): Sealed {
  const key = keyring.keys.get(keyring.activeKeyId);
  if (!key) throw new AppError('GATEWAY_SEALING_KEY_MISSING', { details: { keyId: keyring.activeKeyId } });
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { v: 1, alg: 'A256GCM', kid: keyring.activeKeyId, iv: iv.toString('base64'), ct: ct.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
}

/** Opens a sealed credential; a missing key or any tampering is an error, never garbage. */
export function unseal(sealed: Sealed, keyring: Keyring, context: string): string {
  const key = keyring.keys.get(sealed.kid);
  if (!key) throw new AppError('GATEWAY_SEALING_KEY_MISSING', { details: { keyId: sealed.kid } });
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.ct, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new AppError('GATEWAY_SEALED_CREDENTIAL_INVALID', { details: { keyId: sealed.kid } });
  }
}

/** Parses `{"active": "k2", "keys": {"k1": "<base64 of 32 bytes>", ...}}`, reporting every problem. */
export function parseKeyring(json: string): Keyring {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw new AppError('COMMON_CONFIG_INVALID', { message: 'the sealing keys file is not JSON' });
  }
  const problems: string[] = [];
  const d = doc as { active?: unknown; keys?: unknown };
  const keys = new Map<string, Buffer>();
  if (!d || typeof d.keys !== 'object' || d.keys === null) problems.push('keys: expected an object of key id → base64 key');
  else
    for (const [id, b64] of Object.entries(d.keys)) {
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) problems.push(`keys.${id}: key ids are 1-32 letters, digits, _ or -`);
      const key = typeof b64 === 'string' ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
      if (key.length !== 32) problems.push(`keys.${id}: must be 32 bytes, base64-encoded`);
      else keys.set(id, key);
    }
  if (typeof d?.active !== 'string' || !keys.has(d.active)) problems.push('active: must name one of the keys');
  if (problems.length)
    throw new AppError('COMMON_CONFIG_INVALID', { message: `the sealing keys file is invalid:\n  - ${problems.join('\n  - ')}`, details: { problems } });
  return { activeKeyId: d.active as string, keys };
}
