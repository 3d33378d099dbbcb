// HMAC-SHA-256 tokens without a crypto object per value.
//
// node:crypto's createHmac costs about 1 µs per call, most of it building the Hmac object, which
// dominates masking a row that carries a token column. Here the key's inner and outer pad blocks
// are compressed once (the HMAC midstates), so a short value costs two SHA-256 compressions in
// plain JavaScript, and the token is written straight into the output buffer. The result is the
// same HMAC-SHA-256 (tests compare it with node:crypto on many inputs), so tokens stay stable.
import { createHash } from 'node:crypto';

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74,
  0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d,
  0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e,
  0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
  0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
const W = new Int32Array(64);

/** SHA-256 compression of the 64-byte block at m[off] into state h. */
function compress(h: Int32Array, m: Uint8Array, off: number): void {
  for (let t = 0; t < 16; t++) {
    const j = off + t * 4;
    W[t] = (m[j]! << 24) | (m[j + 1]! << 16) | (m[j + 2]! << 8) | m[j + 3]!;
  }
  for (let t = 16; t < 64; t++) {
    const w15 = W[t - 15]!;
    const w2 = W[t - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[t] = (((W[t - 16]! + s0) | 0) + ((W[t - 7]! + s1) | 0)) | 0;
  }
  let a = h[0]!;
  let b = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  let e = h[4]!;
  let f = h[5]!;
  let g = h[6]!;
  let hh = h[7]!;
  for (let t = 0; t < 64; t++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (((hh + s1) | 0) + ((ch + ((K[t]! + W[t]!) | 0)) | 0)) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    hh = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
  h[5] = (h[5]! + f) | 0;
  h[6] = (h[6]! + g) | 0;
  h[7] = (h[7]! + hh) | 0;
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64URL_CODES = Uint8Array.from(B64URL, (c) => c.charCodeAt(0));

/** Characters of base64url(HMAC) kept in a token (132 bits). */
export const TOKEN_CHARS = 22;

/** Keyed deterministic tokens `tok_<key id>_<first 22 base64url characters of HMAC-SHA-256(key, value)>`. */
export class TokenHmac {
  /** Byte length of every token of this key. */
  readonly length: number;
  private readonly prefix: Uint8Array;
  private readonly inner = new Int32Array(8);
  private readonly outer = new Int32Array(8);
  private readonly h = new Int32Array(8);
  private block = Buffer.alloc(128);
  private readonly outBlock = new Uint8Array(64);
  private readonly scratch = Buffer.allocUnsafe(64);

  constructor(id: string, secret: Uint8Array) {
    this.prefix = Buffer.from(`tok_${id}_`, 'latin1');
    this.length = this.prefix.length + TOKEN_CHARS;
    // Keys longer than a block are hashed first (RFC 2104).
    const key = secret.length > 64 ? createHash('sha256').update(secret).digest() : secret;
    const pad = new Uint8Array(64);
    for (const [state, byte] of [
      [this.inner, 0x36],
      [this.outer, 0x5c],
    ] as const) {
      pad.fill(byte);
      for (let i = 0; i < key.length; i++) pad[i]! ^= key[i]!;
      state.set(IV);
      compress(state, pad, 0);
    }
    // The outer message is always the 32-byte inner digest: its padding is fixed.
    this.outBlock[32] = 0x80;
    this.outBlock[62] = 0x03; // (64 + 32) * 8 = 768 bits
  }

  /** The token of a string value (its UTF-8 bytes). */
  token(value: string): string {
    const max = value.length * 3;
    if (this.block.length < max + 72) this.block = Buffer.alloc(Math.max(max + 72, this.block.length * 2));
    const n = this.block.write(value, 0, 'utf8');
    this.digestBlock(n);
    this.writeToken(this.scratch, 0);
    return this.scratch.toString('latin1', 0, this.length);
  }

  /** Writes the token of the bytes src[s, e) into out at w; returns the new write position. */
  writeTokenOf(src: Uint8Array, s: number, e: number, out: Uint8Array, w: number): number {
    const n = e - s;
    if (this.block.length < n + 72) this.block = Buffer.alloc(Math.max(n + 72, this.block.length * 2));
    const blk = this.block;
    if (n <= 32) for (let i = 0; i < n; i++) blk[i] = src[s + i]!;
    else blk.set(src.subarray(s, e), 0);
    this.digestBlock(n);
    return this.writeToken(out, w);
  }

  /** HMAC of the n message bytes at the start of this.block; leaves the outer digest in this.h. */
  private digestBlock(n: number): void {
    const blk = this.block;
    const h = this.h;
    // Inner hash: midstate after the ipad block, then the message, 0x80, zeros, bit length.
    h.set(this.inner);
    blk[n] = 0x80;
    const end = Math.ceil((n + 9) / 64) * 64;
    blk.fill(0, n + 1, end - 4);
    const bits = (64 + n) * 8;
    blk[end - 4] = bits >>> 24;
    blk[end - 3] = (bits >>> 16) & 0xff;
    blk[end - 2] = (bits >>> 8) & 0xff;
    blk[end - 1] = bits & 0xff;
    for (let o = 0; o < end; o += 64) compress(h, blk, o);
    // Outer hash over the inner digest.
    const ob = this.outBlock;
    for (let i = 0; i < 8; i++) {
      const x = h[i]!;
      ob[i * 4] = x >>> 24;
      ob[i * 4 + 1] = (x >>> 16) & 0xff;
      ob[i * 4 + 2] = (x >>> 8) & 0xff;
      ob[i * 4 + 3] = x & 0xff;
    }
    h.set(this.outer);
    compress(h, ob, 0);
  }

  /** Writes prefix + the first 22 base64url characters of the digest in this.h. */
  private writeToken(out: Uint8Array, w: number): number {
    out.set(this.prefix, w);
    w += this.prefix.length;
    const h = this.h;
    // 22 characters = 16.5 bytes: six 24-bit groups from the first 18 bytes, the last one partly.
    let acc = 0;
    let bits = 0;
    let written = 0;
    for (let i = 0; i < 5 && written < TOKEN_CHARS; i++) {
      const x = h[i]!;
      for (let k = 24; k >= 0 && written < TOKEN_CHARS; k -= 8) {
        acc = ((acc << 8) | ((x >>> k) & 0xff)) & 0xffff;
        bits += 8;
        while (bits >= 6 && written < TOKEN_CHARS) {
          bits -= 6;
          out[w++] = B64URL_CODES[(acc >>> bits) & 63]!;
          written++;
        }
      }
    }
    return w;
  }
}
