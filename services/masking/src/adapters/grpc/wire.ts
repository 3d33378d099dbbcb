// The mask stream's hot path, on protobuf bytes. Same wire contract as
// proto/phigate/masking/v1/masking.proto (MaskRequest in, MaskResponse out), but rows are never
// turned into objects: each value is located in the request buffer, only values that a strategy
// (or the leak canary) needs are decoded, and unchanged values are copied byte for byte into a
// reused output buffer. A row with nothing to mask is copied whole.
import { AppError } from '@phigate/errors';
import { maskingV1 } from '@phigate/proto';
import type { Canary } from '../../domain/canary.js';
import type { TokenHmac } from '../../domain/hmac.js';
import { AGE_90_PLUS, REDACTED, RESTRICTED_ZIP3, validDate } from '../../domain/safe-harbor.js';
import type { Masker, Strategy } from '../../domain/strategies.js';

/** A decoded MaskRequest: the header as an object, a row batch as a byte range (decoded later). */
export type Inbound =
  | { kind: 'header'; header: maskingV1.MaskHeader }
  | { kind: 'rows'; buf: Buffer; start: number; end: number }
  | { kind: 'empty' }
  | { kind: 'invalid'; reason: string };

class WireError extends Error {}

// Varint reader over a buffer, position in a module variable (decoding is synchronous).
let at = 0;

function varint(buf: Buffer, end: number): number {
  if (at >= end) throw new WireError('truncated varint');
  let b = buf[at++]!;
  if (b < 0x80) return b;
  let x = b & 0x7f;
  let shift = 7;
  for (;;) {
    if (at >= end) throw new WireError('truncated varint');
    b = buf[at++]!;
    if (shift < 28) x |= (b & 0x7f) << shift;
    else x += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return x;
    shift += 7;
    if (shift > 63) throw new WireError('varint too long');
  }
}

function skip(buf: Buffer, tag: number, end: number): void {
  switch (tag & 7) {
    case 0:
      varint(buf, end);
      return;
    case 1:
      at += 8;
      break;
    case 2: {
      // Read the length first: `at += varint()` would add it to the position before the length.
      const len = varint(buf, end);
      at += len;
      break;
    }
    case 5:
      at += 4;
      break;
    default:
      throw new WireError(`unsupported wire type ${tag & 7}`);
  }
  if (at > end) throw new WireError('truncated field');
}

/** Decodes a MaskRequest's envelope (gRPC requestDeserialize). Never throws. */
export function decodeRequest(buf: Buffer): Inbound {
  try {
    at = 0;
    const end = buf.length;
    let msg: Inbound = { kind: 'empty' };
    while (at < end) {
      const tag = varint(buf, end);
      if (tag === 0x0a || tag === 0x12) {
        const len = varint(buf, end);
        const start = at;
        at += len;
        if (at > end) throw new WireError('truncated message');
        // oneof: the last one on the wire wins, as in any protobuf decoder.
        msg = tag === 0x0a ? { kind: 'header', header: maskingV1.MaskHeader.decode(buf.subarray(start, at)) } : { kind: 'rows', buf, start, end: at };
      } else skip(buf, tag, end);
    }
    return msg;
  } catch (err) {
    return { kind: 'invalid', reason: err instanceof WireError ? err.message : 'undecodable mask request' };
  }
}

/** A decoded MaskMultiplexedRequest: its session and what it carries (row batches as byte ranges). */
export type MultiplexedInbound =
  | ({ session: number } & ({ kind: 'header'; header: maskingV1.MaskHeader } | { kind: 'rows'; buf: Buffer; start: number; end: number }))
  | { session: number; kind: 'end' | 'cancel' | 'empty' }
  | { kind: 'invalid'; reason: string };

/** Decodes a MaskMultiplexedRequest (gRPC requestDeserialize). Never throws. */
export function decodeMultiplexedRequest(buf: Buffer): MultiplexedInbound {
  try {
    at = 0;
    const end = buf.length;
    let session = 0;
    let msg:
      | { kind: 'header'; header: maskingV1.MaskHeader }
      | { kind: 'rows'; buf: Buffer; start: number; end: number }
      | { kind: 'end' | 'cancel' | 'empty' } = {
      kind: 'empty',
    };
    while (at < end) {
      const tag = varint(buf, end);
      if (tag === 0x08) {
        session = varint(buf, end);
        continue;
      }
      if (tag !== 0x12 && tag !== 0x1a && tag !== 0x22 && tag !== 0x2a) {
        skip(buf, tag, end);
        continue;
      }
      const len = varint(buf, end);
      const start = at;
      at += len;
      if (at > end) throw new WireError('truncated message');
      // oneof: the last one on the wire wins, as in any protobuf decoder.
      if (tag === 0x12) msg = { kind: 'header', header: maskingV1.MaskHeader.decode(buf.subarray(start, at)) };
      else if (tag === 0x1a) msg = { kind: 'rows', buf, start, end: at };
      else msg = { kind: tag === 0x22 ? 'end' : 'cancel' };
    }
    return { session, ...msg };
  } catch (err) {
    return { kind: 'invalid', reason: err instanceof WireError ? err.message : 'undecodable mask request' };
  }
}

/**
 * A MaskMultiplexedResponse carrying `batch` (a MaskResponse's encoded rows field, as
 * BatchMasker.maskBatch returns it) for `session`: the same RowBatch bytes under field 2.
 */
export function multiplexedRows(session: number, batch: Buffer): Buffer {
  const out = Buffer.allocUnsafe(1 + varintSize64(session) + batch.length);
  out[0] = 0x08;
  let w = 1;
  for (let x = session; ; ) {
    if (x < 0x80) {
      out[w++] = x;
      break;
    }
    out[w++] = (x % 0x80) | 0x80;
    x = Math.floor(x / 0x80);
  }
  batch.copy(out, w);
  out[w] = 0x12;
  return out;
}

/** Encodes a MaskMultiplexedResponse (gRPC responseSerialize): row batches arrive already encoded. */
export function encodeMultiplexedResponse(value: Buffer | maskingV1.MaskMultiplexedResponse): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(maskingV1.MaskMultiplexedResponse.encode(value).finish());
}

function varintSize64(x: number): number {
  let n = 1;
  while (x >= 0x80) {
    x = Math.floor(x / 0x80);
    n++;
  }
  return n;
}

/** Encodes a MaskResponse (gRPC responseSerialize): row batches arrive already encoded. */
export function encodeResponse(value: Buffer | maskingV1.MaskResponse): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(maskingV1.MaskResponse.encode(value).finish());
}

function varintSize(x: number): number {
  return x < 0x80 ? 1 : x < 0x4000 ? 2 : x < 0x200000 ? 3 : x < 0x10000000 ? 4 : 5;
}

/** What a stream does per column position (dense arrays indexed by column index). */
export interface ColumnPlan {
  /** Masker per column index (the string path); undefined = pass through. */
  maskers: ReadonlyArray<Masker | undefined>;
  /** The strategy per column index, for byte-level fast paths (`none` when unlisted). */
  strategies: readonly Strategy[];
  /** keep_last per column index (partial). */
  keepLast: Int32Array;
  /** Header position of the rule for each column index (where its count goes), -1 when unlisted. */
  slots: Int32Array;
  /** Column names by index (for canary reports). */
  names: readonly string[];
  /** Values changed, by header position. */
  counts: Float64Array;
  /** Token writer for `token` columns. */
  hmac: TokenHmac | undefined;
  /** as_of year for `safe_harbor_date`. */
  asOfYear: number;
  canary: Canary | undefined;
  /** End the stream at the first canary hit instead of reporting it. */
  block: boolean;
}

// Per column: how a value is handled.
const OP_NONE = 0;
const OP_REDACT = 2;
const OP_NULLIFY = 3;
const OP_PARTIAL = 4;
const OP_TOKEN = 5;
const OP_ZIP = 6;
const OP_AGE = 7;
const OP_DATE = 8;
const OP_SCRUB = 9;
const OPS: Readonly<Record<Strategy, number>> = {
  none: OP_NONE,
  redact: OP_REDACT,
  nullify: OP_NULLIFY,
  partial: OP_PARTIAL,
  token: OP_TOKEN,
  scrub: OP_SCRUB,
  safe_harbor_date: OP_DATE,
  safe_harbor_zip: OP_ZIP,
  safe_harbor_age: OP_AGE,
};

// Per value: what is written.
const OUT_RAW = 0; // the input bytes
const OUT_STR = 1; // a string from the string path
const OUT_NULL = 2; // SQL NULL
const OUT_CONST = 3; // constant bytes
const OUT_STARS = 4; // partial on ASCII: the input with letters and digits before the cut starred
const OUT_ZIP = 5; // the first three input bytes, then **
const OUT_YEAR = 6; // the first four input bytes
const OUT_TOKEN = 7; // the token of the input bytes

const REDACTED_BYTES = Buffer.from(REDACTED);
const AGE_90_BYTES = Buffer.from(AGE_90_PLUS);
const ZIP_000_BYTES = Buffer.from('000**');
const RESTRICTED = new Uint8Array(1000);
for (const z of RESTRICTED_ZIP3) RESTRICTED[Number(z)] = 1;

/** Masks row batches of one stream; reuses its buffers from batch to batch. */
export class BatchMasker {
  /** Rows seen so far on this stream. */
  rows = 0;
  private out = Buffer.allocUnsafe(64 * 1024);
  private w = 0;
  private vs = new Int32Array(32);
  private ve = new Int32Array(32);
  private kind = new Uint8Array(32);
  private lens = new Int32Array(32);
  private strs: string[] = [];
  private consts: Uint8Array[] = [];
  private nulls: number[] = [];
  private nullsOut: number[] = [];
  private readonly ops: Uint8Array;
  private readonly anyMasker: boolean;

  constructor(private readonly plan: ColumnPlan) {
    this.ops = Uint8Array.from(plan.strategies, (st) => OPS[st]);
    this.anyMasker = this.ops.some((op) => op !== OP_NONE);
  }

  /** Masks the RowBatch at buf[start, end) and returns the encoded MaskResponse. */
  maskBatch(buf: Buffer, start: number, end: number): Buffer {
    // Room for the MaskResponse tag and the batch length, written once the length is known.
    this.w = 6;
    const canary = this.plan.canary;
    try {
      at = start;
      while (at < end) {
        const tag = varint(buf, end);
        if (tag !== 0x0a) {
          skip(buf, tag, end);
          continue;
        }
        const len = varint(buf, end);
        const rs = at;
        const re = rs + len;
        if (re > end) throw new WireError('truncated row');
        if (!this.anyMasker && !canary?.samples(this.rows)) {
          this.ensure(6 + len);
          this.out[this.w++] = 0x0a;
          this.writeVarint(len);
          buf.copy(this.out, this.w, rs, re);
          this.w += len;
        } else this.row(buf, rs, re);
        this.rows++;
        at = re;
      }
    } catch (err) {
      if (err instanceof WireError) throw new AppError('MASKING_STREAM_INVALID', { message: `malformed row batch: ${err.message}` });
      throw err;
    }
    const body = this.w - 6;
    const from = 6 - 1 - varintSize(body);
    this.out[from] = 0x0a;
    this.w = from + 1;
    this.writeVarint(body);
    // A copy: grpc-js may still hold the buffer when the next batch reuses ours.
    return Buffer.from(this.out.subarray(from, 6 + body));
  }

  private row(buf: Buffer, rs: number, re: number): void {
    const plan = this.plan;
    let count = 0;
    const nulls = this.nulls;
    nulls.length = 0;
    // Locate values and NULL positions.
    at = rs;
    while (at < re) {
      const tag = varint(buf, re);
      if (tag === 0x0a) {
        const len = varint(buf, re);
        if (count === this.vs.length) this.grow();
        this.vs[count] = at;
        at += len;
        if (at > re) throw new WireError('truncated value');
        this.ve[count] = at;
        count++;
      } else if (tag === 0x12) {
        const plen = varint(buf, re);
        const e2 = at + plen;
        if (e2 > re) throw new WireError('truncated null_indexes');
        while (at < e2) nulls.push(varint(buf, e2));
      } else if (tag === 0x10) nulls.push(varint(buf, re));
      else skip(buf, tag, re);
    }
    const kind = this.kind;
    kind.fill(OUT_RAW, 0, count);
    const nullsOut = this.nullsOut;
    nullsOut.length = 0;
    let beyond = false;
    for (const idx of nulls) {
      if (idx < count) kind[idx] = OUT_NULL;
      else beyond = true;
    }
    const canary = plan.canary?.samples(this.rows) ? plan.canary : undefined;
    const ops = this.ops;
    const lens = this.lens;
    let body = 0;
    for (let j = 0; j < count; j++) {
      const s = this.vs[j]!;
      const e = this.ve[j]!;
      if (kind[j] === OUT_NULL) {
        nullsOut.push(j);
        body += 2;
        continue;
      }
      const op = j < ops.length ? ops[j]! : OP_NONE;
      if (op === OP_NONE) {
        body += 1 + varintSize(e - s) + (e - s);
        if (canary && e > s && mayContainIdentifierBytes(buf, s, e)) this.inspect(canary, j, buf, s, e);
        continue;
      }
      // Decide the output (and whether the value changed); the bytes are written below.
      let out = this.byteOp(op, j, buf, s, e);
      if (out < 0) out = this.stringOp(j, buf, s, e);
      kind[j] = out;
      if (out === OUT_RAW) {
        body += 1 + varintSize(e - s) + (e - s);
        continue;
      }
      plan.counts[plan.slots[j]!]! += 1;
      if (out === OUT_NULL) {
        nullsOut.push(j);
        body += 2;
        continue;
      }
      const l = lens[j]!;
      body += 1 + varintSize(l) + l;
    }
    if (beyond) for (const idx of nulls) if (idx >= count) nullsOut.push(idx);
    let packed = 0;
    if (nullsOut.length > 0) {
      for (const idx of nullsOut) packed += varintSize(idx);
      body += 1 + varintSize(packed) + packed;
    }
    // Write the row.
    this.ensure(6 + body);
    const out = this.out;
    out[this.w++] = 0x0a;
    this.writeVarint(body);
    for (let j = 0; j < count; j++) {
      const k = kind[j]!;
      out[this.w++] = 0x0a;
      if (k === OUT_NULL) {
        out[this.w++] = 0;
        continue;
      }
      const s = this.vs[j]!;
      if (k === OUT_RAW) {
        const l = this.ve[j]! - s;
        this.writeVarint(l);
        if (l < 24) for (let b = 0; b < l; b++) out[this.w + b] = buf[s + b]!;
        else buf.copy(out, this.w, s, s + l);
        this.w += l;
        continue;
      }
      const l = lens[j]!;
      this.writeVarint(l);
      const w = this.w;
      switch (k) {
        case OUT_STR:
          out.write(this.strs[j]!, w, l, 'utf8');
          break;
        case OUT_CONST: {
          const c = this.consts[j]!;
          for (let b = 0; b < l; b++) out[w + b] = c[b]!;
          break;
        }
        case OUT_STARS: {
          const cut = l - plan.keepLast[j]!;
          for (let b = 0; b < l; b++) {
            const c = buf[s + b]!;
            out[w + b] = b < cut && isAlnum(c) ? 42 : c;
          }
          break;
        }
        case OUT_ZIP:
          out[w] = buf[s]!;
          out[w + 1] = buf[s + 1]!;
          out[w + 2] = buf[s + 2]!;
          out[w + 3] = 42;
          out[w + 4] = 42;
          break;
        case OUT_YEAR:
          for (let b = 0; b < 4; b++) out[w + b] = buf[s + b]!;
          break;
        case OUT_TOKEN:
          plan.hmac!.writeTokenOf(buf, s, this.ve[j]!, out, w);
          break;
      }
      this.w = w + l;
    }
    if (nullsOut.length > 0) {
      out[this.w++] = 0x12;
      this.writeVarint(packed);
      for (const idx of nullsOut) this.writeVarint(idx);
    }
  }

  /**
   * Byte-level fast path for the common, pure-ASCII shapes. Returns the output kind (with
   * this.lens / this.consts set), or -1 to use the string path, which gives the same result.
   */
  private byteOp(op: number, j: number, buf: Buffer, s: number, e: number): number {
    const n = e - s;
    switch (op) {
      case OP_REDACT:
        if (n === REDACTED_BYTES.length && buf.compare(REDACTED_BYTES, 0, n, s, e) === 0) return OUT_RAW;
        return this.constant(j, REDACTED_BYTES);
      case OP_NULLIFY:
        return OUT_NULL;
      case OP_TOKEN:
        this.lens[j] = this.plan.hmac!.length;
        return OUT_TOKEN;
      case OP_PARTIAL: {
        const cut = n - this.plan.keepLast[j]!;
        let starred = false;
        for (let b = 0; b < n; b++) {
          const c = buf[s + b]!;
          if (c >= 0x80) return -1;
          if (b < cut && isAlnum(c)) starred = true;
        }
        if (!starred) return OUT_RAW;
        this.lens[j] = n;
        return OUT_STARS;
      }
      case OP_ZIP: {
        if (!(n === 5 || n === 9 || n === 10) || !digitsAt(buf, s, 5)) return -1;
        if (n === 9 && !digitsAt(buf, s + 5, 4)) return -1;
        if (n === 10 && (buf[s + 5] !== 45 || !digitsAt(buf, s + 6, 4))) return -1;
        if (RESTRICTED[(buf[s]! - 48) * 100 + (buf[s + 1]! - 48) * 10 + (buf[s + 2]! - 48)]) return this.constant(j, ZIP_000_BYTES);
        this.lens[j] = 5;
        return OUT_ZIP;
      }
      case OP_AGE: {
        if (n < 1 || n > 3 || !digitsAt(buf, s, n)) return -1;
        let age = 0;
        for (let b = s; b < e; b++) age = age * 10 + (buf[b]! - 48);
        return age > 89 ? this.constant(j, AGE_90_BYTES) : OUT_RAW;
      }
      case OP_DATE: {
        // ISO / SQL dates and timestamps; anything else takes the string path.
        if (n < 10 || buf[s + 4] !== 45 || buf[s + 7] !== 45 || !digitsAt(buf, s, 4) || !digitsAt(buf, s + 5, 2) || !digitsAt(buf, s + 8, 2)) return -1;
        const year = num(buf, s, 4);
        if (!validDate(year, num(buf, s + 5, 2), num(buf, s + 8, 2))) return -1;
        if (n > 10 && !timeSuffix(buf, s + 10, e)) return -1;
        if (this.plan.asOfYear - year >= 90) return this.constant(j, AGE_90_BYTES);
        this.lens[j] = 4;
        return OUT_YEAR;
      }
      case OP_SCRUB:
        return mayContainIdentifierBytes(buf, s, e) ? -1 : OUT_RAW;
      default:
        return -1;
    }
  }

  private constant(j: number, bytes: Uint8Array): number {
    this.consts[j] = bytes;
    this.lens[j] = bytes.length;
    return OUT_CONST;
  }

  private stringOp(j: number, buf: Buffer, s: number, e: number): number {
    const value = decode(buf, s, e);
    const masked = this.plan.maskers[j]!(value);
    if (masked === value) return OUT_RAW;
    if (masked === null) return OUT_NULL;
    this.strs[j] = masked;
    this.lens[j] = Buffer.byteLength(masked, 'utf8');
    return OUT_STR;
  }

  private inspect(canary: Canary, j: number, buf: Buffer, s: number, e: number): void {
    const hits = canary.inspect(j, this.plan.names[j] ?? '', buf.toString('utf8', s, e));
    if (hits > 0 && this.plan.block) throw new AppError('MASKING_LEAK_BLOCKED', { details: { column: j, name: this.plan.names[j] ?? '' } });
  }

  private grow(): void {
    const n = this.vs.length * 2;
    const vs = new Int32Array(n);
    vs.set(this.vs);
    this.vs = vs;
    const ve = new Int32Array(n);
    ve.set(this.ve);
    this.ve = ve;
    this.kind = new Uint8Array(n);
    this.lens = new Int32Array(n);
  }

  private ensure(extra: number): void {
    if (this.w + extra <= this.out.length) return;
    let size = this.out.length * 2;
    while (size < this.w + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.out.copy(next, 0, 0, this.w);
    this.out = next;
  }

  private writeVarint(x: number): void {
    const out = this.out;
    while (x >= 0x80) {
      out[this.w++] = (x & 0x7f) | 0x80;
      x = Math.floor(x / 128);
    }
    out[this.w++] = x;
  }
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122);
}

function digitsAt(buf: Buffer, s: number, n: number): boolean {
  for (let i = s; i < s + n; i++) {
    const c = buf[i]!;
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function num(buf: Buffer, s: number, n: number): number {
  let x = 0;
  for (let i = s; i < s + n; i++) x = x * 10 + (buf[i]! - 48);
  return x;
}

/**
 * The common time suffixes of ISO and SQL timestamps: [T ]HH:MM[:SS[.fraction]] then optionally
 * Z or +HH[[:]MM]. A subset of what the string path accepts, so both paths agree.
 */
function timeSuffix(buf: Buffer, i: number, e: number): boolean {
  const sep = buf[i];
  if ((sep !== 84 && sep !== 32) || e - i < 6) return false;
  if (!digitsAt(buf, i + 1, 2) || buf[i + 3] !== 58 || !digitsAt(buf, i + 4, 2)) return false;
  if (num(buf, i + 1, 2) > 24 || num(buf, i + 4, 2) > 59) return false;
  i += 6;
  if (i < e && buf[i] === 58) {
    if (e - i < 3 || !digitsAt(buf, i + 1, 2) || num(buf, i + 1, 2) > 60) return false;
    i += 3;
    if (i < e && buf[i] === 46) {
      const f = ++i;
      while (i < e && i - f < 9 && buf[i]! >= 48 && buf[i]! <= 57) i++;
      if (i === f) return false;
    }
  }
  if (i === e) return true;
  if (buf[i] === 90) return i + 1 === e;
  if (buf[i] !== 43 && buf[i] !== 45) return false;
  if (e - i < 3 || !digitsAt(buf, i + 1, 2)) return false;
  i += 3;
  if (i === e) return true;
  if (buf[i] === 58) i++;
  return e - i === 2 && digitsAt(buf, i, 2);
}

/** Decodes a UTF-8 value; pure ASCII (the common case) takes the cheaper latin1 path. */
function decode(buf: Buffer, s: number, e: number): string {
  for (let i = s; i < e; i++) if (buf[i]! >= 0x80) return buf.toString('utf8', s, e);
  return buf.toString('latin1', s, e);
}

/** The byte-level pre-check of the detectors: a digit, an `@`, or a URL marker (`://`, `www.`). */
export function mayContainIdentifierBytes(buf: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) {
    const b = buf[i]!;
    if ((b >= 48 && b <= 57) || b === 64) return true;
    if (b === 58 && i + 2 < e && buf[i + 1] === 47 && buf[i + 2] === 47) return true;
    if (b === 119 || b === 87) {
      if (i + 3 < e && (buf[i + 1] === 119 || buf[i + 1] === 87) && (buf[i + 2] === 119 || buf[i + 2] === 87) && buf[i + 3] === 46) return true;
    }
  }
  return false;
}
