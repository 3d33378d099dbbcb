import { createHmac } from 'node:crypto';
import { Strategy } from '@phigate/model';
import { defaultScanner, type Scanner } from './detectors.js';
import { TokenHmac } from './hmac.js';
import { type AsOf, REDACTED, safeHarborAge, safeHarborDate, safeHarborZip } from './safe-harbor.js';

export { REDACTED, Strategy };

/** What to do with one result column. */
export interface ColumnRule {
  index: number;
  name: string;
  strategy: Strategy;
  keepLast: number;
}

/** A text cell; `null` is SQL NULL. */
export type Cell = string | null;

/** Tokenisation key with its id, so keys can rotate and tokens say which key made them. */
export interface TokenKey {
  id: string;
  secret: Buffer;
}

/** What strategies may need besides the value: the token key, the stream's as_of date, the detectors. */
export interface MaskContext {
  key?: TokenKey | undefined;
  asOf?: AsOf | undefined;
  scanner?: Scanner | undefined;
}

/** Masks one non-null value. Returns the very same string when nothing changed; `null` means SQL NULL. */
export type Masker = (value: string) => Cell;

const STARS = '*'.repeat(256);
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

function maskable(c: number, ch: string): boolean {
  if (c < 128) return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122);
  // Surrogate halves are masked too (fail closed): astral letters must not survive.
  return (c >= 0xd800 && c <= 0xdfff) || LETTER_OR_DIGIT.test(ch);
}

/** Keeps the last `keep` characters; other letters and digits become `*`, separators stay (so shape survives). */
export function partial(value: string, keep: number): string {
  let cut = Math.max(0, value.length - keep);
  if (cut === 0) return value;
  // Never split a surrogate pair (half a character would survive): mask the whole pair.
  const lo = value.charCodeAt(cut);
  if (lo >= 0xdc00 && lo <= 0xdfff && cut < value.length) {
    const hi = value.charCodeAt(cut - 1);
    if (hi >= 0xd800 && hi <= 0xdbff) cut++;
  }
  let out = '';
  let i = 0;
  while (i < cut) {
    // A run of maskable characters becomes stars, a run of others is copied.
    const from = i;
    const c0 = value.charCodeAt(i);
    const starring = maskable(c0, value[i]!);
    i++;
    while (i < cut && maskable(value.charCodeAt(i), value[i]!) === starring) i++;
    const len = i - from;
    out += starring ? (len <= STARS.length ? STARS.slice(0, len) : '*'.repeat(len)) : value.slice(from, i);
  }
  return out + value.slice(cut);
}

/** Keyed deterministic token: equal inputs under one key give equal tokens. Pseudonymised, not de-identified. */
export function token(value: string, key: TokenKey): string {
  return `tok_${key.id}_${createHmac('sha256', key.secret).update(value).digest('base64url').slice(0, 22)}`;
}

/**
 * Compiles a column rule into a masker, once per stream. `undefined` means pass through (`none`).
 * Throws when the rule cannot be honoured (unknown strategy, no key for `token`, no as_of for
 * `safe_harbor_date`): the caller refuses the stream rather than pass values through.
 */
export function compileMasker(rule: ColumnRule, ctx: MaskContext): Masker | undefined {
  switch (rule.strategy) {
    case 'none':
      return undefined;
    case 'redact':
      return () => REDACTED;
    case 'nullify':
      return () => null;
    case 'partial': {
      const keep = rule.keepLast;
      return (v) => partial(v, keep);
    }
    case 'token': {
      const key = ctx.key;
      if (!key) throw new Error('token strategy requires a key');
      const hmac = new TokenHmac(key.id, key.secret);
      return (v) => hmac.token(v);
    }
    case 'scrub': {
      const scanner = ctx.scanner ?? defaultScanner;
      return (v) => scanner.scrub(v).text;
    }
    case 'safe_harbor_date': {
      const asOf = ctx.asOf;
      if (!asOf) throw new Error('safe_harbor_date requires an as_of date');
      return (v) => safeHarborDate(v, asOf);
    }
    case 'safe_harbor_zip':
      return safeHarborZip;
    case 'safe_harbor_age':
      return safeHarborAge;
    default:
      throw new Error(`strategy ${String(rule.strategy)} is not implemented`);
  }
}

/** Masks one cell. Returns the new cell and whether it changed. */
export function maskCell(cell: Cell, rule: ColumnRule, key: TokenKey | undefined, ctx: MaskContext = {}): { cell: Cell; changed: boolean } {
  const masker = compileMasker(rule, { ...ctx, key });
  if (!masker || cell === null) return { cell, changed: false };
  const out = masker(cell);
  return { cell: out, changed: out !== cell };
}

/** Masks a batch of rows (new arrays, inputs untouched), counting changed values per rule. */
export function maskRows(rows: Cell[][], rules: readonly ColumnRule[], key: TokenKey | undefined, counts: number[], ctx: MaskContext = {}): Cell[][] {
  const maskers = rules.map((r) => compileMasker(r, { ...ctx, key }));
  return rows.map((row) => {
    const out = row.slice();
    for (let r = 0; r < rules.length; r++) {
      const rule = rules[r]!;
      const masker = maskers[r];
      if (!masker || rule.index >= out.length) continue;
      const cell = out[rule.index] ?? null;
      if (cell === null) continue;
      const res = masker(cell);
      out[rule.index] = res;
      if (res !== cell) counts[r] = (counts[r] ?? 0) + 1;
    }
    return out;
  });
}
