import { createHash, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';

// A checkpoint is a small signed text, in the spirit of transparency-log checkpoints (C2SP
// tlog-checkpoint, Trillian): a header line naming the format, then one field per line. The
// signature is Ed25519 over the exact UTF-8 bytes of the text, so anyone holding the public key
// can check it with openssl alone (see the README).

/** First line of every checkpoint body: the format and its version. */
export const CHECKPOINT_FORMAT = 'phigate-audit-checkpoint/v1';

/** What a checkpoint commits to. */
export interface Checkpoint {
  /** Names the log (AUDIT_CHECKPOINT_ORIGIN), so a checkpoint of one store cannot pass for another's. */
  origin: string;
  /** `periodic`: the head at a point in time. `purge`: also anchors the first record a purge kept. */
  kind: 'periodic' | 'purge';
  /** The last record covered (its seq) and its chain hash. */
  lastSeq: number;
  lastHash: Buffer;
  /** The first record stored when the checkpoint was made, and the prev_hash it links to. */
  firstSeq: number;
  firstPrev: Buffer;
  time: Date;
}

/** The exact text that is signed. */
export function encodeCheckpoint(c: Checkpoint): string {
  return [
    CHECKPOINT_FORMAT,
    `origin ${c.origin}`,
    `kind ${c.kind}`,
    `last ${c.lastSeq} ${c.lastHash.toString('hex')}`,
    `first ${c.firstSeq} ${c.firstPrev.toString('hex')}`,
    `time ${c.time.toISOString()}`,
    '',
  ].join('\n');
}

const LINE = {
  origin: /^origin (\S+)$/,
  kind: /^kind (periodic|purge)$/,
  last: /^last ([0-9]+) ([0-9a-f]{64})$/,
  first: /^first ([0-9]+) ([0-9a-f]{64})$/,
  time: /^time (\S+)$/,
};

/** Parses a checkpoint body; undefined when it is not one (never guesses). */
export function decodeCheckpoint(body: string): Checkpoint | undefined {
  const lines = body.split('\n');
  if (lines.length !== 7 || lines[0] !== CHECKPOINT_FORMAT || lines[6] !== '') return undefined;
  const origin = LINE.origin.exec(lines[1]!);
  const kind = LINE.kind.exec(lines[2]!);
  const last = LINE.last.exec(lines[3]!);
  const first = LINE.first.exec(lines[4]!);
  const time = LINE.time.exec(lines[5]!);
  if (!origin || !kind || !last || !first || !time) return undefined;
  const t = new Date(time[1]!);
  if (Number.isNaN(t.getTime())) return undefined;
  return {
    origin: origin[1]!,
    kind: kind[1] as Checkpoint['kind'],
    lastSeq: Number(last[1]),
    lastHash: Buffer.from(last[2]!, 'hex'),
    firstSeq: Number(first[1]),
    firstPrev: Buffer.from(first[2]!, 'hex'),
    time: t,
  };
}

/** A short, stable name for a public key: the first 16 hex digits of SHA-256 over its SPKI DER. */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/** Signs a checkpoint with an Ed25519 private key: the body, the key id and the signature. */
export function signCheckpoint(c: Checkpoint, privateKey: KeyObject): { body: string; keyId: string; signature: Buffer } {
  const body = encodeCheckpoint(c);
  return { body, keyId: keyIdOf(privateKey), signature: sign(null, Buffer.from(body, 'utf8'), privateKey) };
}

/** True when `signature` is a valid Ed25519 signature of `body` by `publicKey`. */
export function checkSignature(body: string, signature: Buffer, publicKey: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(body, 'utf8'), publicKey, signature);
  } catch {
    return false;
  }
}
