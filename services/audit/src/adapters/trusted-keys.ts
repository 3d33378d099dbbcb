import { createPublicKey } from 'node:crypto';
import type { TrustedKey } from '../domain/checkpoint.js';

/**
 * Parses a published set of checkpoint keys: `[{"pem": "-----BEGIN PUBLIC KEY-----…", "notBefore":
 * "2026-01-01T00:00:00Z", "notAfter": "2027-01-01T00:00:00Z"}]`. A key verifies the checkpoints
 * signed (by their own time) within its period; an old key stays listed, with its notAfter, so the
 * checkpoints it signed keep verifying after a rotation. Throws on the first malformed entry.
 */
export function parseTrustedKeys(doc: unknown): TrustedKey[] {
  if (!Array.isArray(doc)) throw new Error('not a list');
  return doc.map((e, i) => {
    const { pem, notBefore, notAfter } = (e ?? {}) as { pem?: unknown; notBefore?: unknown; notAfter?: unknown };
    if (typeof pem !== 'string') throw new Error(`entry ${i}: pem is required`);
    const publicKey = createPublicKey(pem);
    if (publicKey.asymmetricKeyType !== 'ed25519') throw new Error(`entry ${i}: not an Ed25519 key`);
    const time = (v: unknown, name: string) => {
      if (v === undefined) return undefined;
      const d = new Date(String(v));
      if (Number.isNaN(d.getTime())) throw new Error(`entry ${i}: ${name} is not a time`);
      return d;
    };
    const nb = time(notBefore, 'notBefore');
    const na = time(notAfter, 'notAfter');
    return { publicKey, ...(nb ? { notBefore: nb } : {}), ...(na ? { notAfter: na } : {}) };
  });
}
