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

/** The format line of a checkpoint of chain heads (format 2 records, one chain per partition). */
export const HEADS_FORMAT = 'phigate-audit-checkpoint/2';

/** One chain's extent when a checkpoint was signed. */
export interface ChainHead {
  topic: string;
  partition: number;
  /** The chain's first stored record (its offset) and the hash it links to. */
  firstOffset: string;
  firstPrev: Buffer;
  /** The chain's last record (its offset) and its hash. */
  lastOffset: string;
  lastHash: Buffer;
}

/** A signed vector of chain heads. */
export interface HeadsCheckpoint {
  origin: string;
  /** periodic: the heads at a point in time; purge: also anchors each listed chain at its `first` record. */
  kind: 'periodic' | 'purge';
  time: Date;
  heads: ChainHead[];
}

/** The exact text that is signed: one `chain` line per partition, in (topic, partition) order. */
export function encodeHeads(c: HeadsCheckpoint): string {
  const heads = [...c.heads].sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
  return [
    HEADS_FORMAT,
    `origin ${c.origin}`,
    `kind ${c.kind}`,
    `time ${c.time.toISOString()}`,
    ...heads.map(
      (h) => `chain ${h.topic} ${h.partition} first ${h.firstOffset} ${h.firstPrev.toString('hex')} last ${h.lastOffset} ${h.lastHash.toString('hex')}`,
    ),
    '',
  ].join('\n');
}

const CHAIN_LINE = /^chain (\S+) ([0-9]+) first ([0-9]+) ([0-9a-f]{64}) last ([0-9]+) ([0-9a-f]{64})$/;

/** Parses a heads checkpoint body; undefined when it is not one (never guesses). */
export function decodeHeads(body: string): HeadsCheckpoint | undefined {
  const lines = body.split('\n');
  if (lines.length < 5 || lines[0] !== HEADS_FORMAT || lines.at(-1) !== '') return undefined;
  const origin = LINE.origin.exec(lines[1]!);
  const kind = /^kind (periodic|purge)$/.exec(lines[2]!);
  const time = LINE.time.exec(lines[3]!);
  if (!origin || !kind || !time) return undefined;
  const t = new Date(time[1]!);
  if (Number.isNaN(t.getTime())) return undefined;
  const heads: ChainHead[] = [];
  for (const line of lines.slice(4, -1)) {
    const m = CHAIN_LINE.exec(line);
    if (!m) return undefined;
    heads.push({
      topic: m[1]!,
      partition: Number(m[2]),
      firstOffset: m[3]!,
      firstPrev: Buffer.from(m[4]!, 'hex'),
      lastOffset: m[5]!,
      lastHash: Buffer.from(m[6]!, 'hex'),
    });
  }
  return { origin: origin[1]!, kind: kind[1] as HeadsCheckpoint['kind'], time: t, heads };
}

/** Signs a checkpoint of chain heads with an Ed25519 private key. */
export function signHeads(c: HeadsCheckpoint, privateKey: KeyObject): { body: string; keyId: string; signature: Buffer } {
  const body = encodeHeads(c);
  return { body, keyId: keyIdOf(privateKey), signature: sign(null, Buffer.from(body, 'utf8'), privateKey) };
}

/** Trusted checkpoint keys, each valid for checkpoints signed in its period. */
export interface TrustedKey {
  publicKey: KeyObject;
  notBefore?: Date;
  notAfter?: Date;
}

/** What verification trusts: the log's origin and its checkpoint keys. */
export interface Trust {
  origin: string;
  keys: readonly TrustedKey[];
}

/** The key with `keyId` that was valid at `time`, if one is trusted. */
export function trustedKeyAt(trust: Trust, keyId: string, time: Date): TrustedKey | undefined {
  return trust.keys.find((k) => keyIdOf(k.publicKey) === keyId && (!k.notBefore || time >= k.notBefore) && (!k.notAfter || time < k.notAfter));
}
