import { createHmac } from 'node:crypto';
import { Strategy } from '@phigate/model';
import { scrub } from './detectors.js';

export { Strategy };

/** What to do with one result column. */
export interface ColumnRule {
  index: number;
  name: string;
  strategy: Strategy;
  keepLast: number;
}

/** A text cell; `null` is SQL NULL. */
export type Cell = string | null;

export const REDACTED = '[REDACTED]';

/** Tokenisation key with its id, so keys can rotate and tokens say which key made them. */
export interface TokenKey {
  id: string;
  secret: Buffer;
}

/** Keeps the last `keep` characters; other letters and digits become `*`, separators stay (so shape survives). */
export function partial(value: string, keep: number): string {
  const cut = Math.max(0, value.length - keep);
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    out += i < cut && /[\p{L}\p{N}]/u.test(ch) ? '*' : ch;
  }
  return out;
}

/** Keyed deterministic token: equal inputs under one key give equal tokens. Pseudonymised, not de-identified. */
export function token(value: string, key: TokenKey): string {
  return `tok_${key.id}_${createHmac('sha256', key.secret).update(value).digest('base64url').slice(0, 22)}`;
}

/** Masks one cell. Returns the new cell and whether it changed. */
export function maskCell(cell: Cell, rule: ColumnRule, key: TokenKey | undefined): { cell: Cell; changed: boolean } {
  if (rule.strategy === 'none') return { cell, changed: false };
  if (rule.strategy === 'nullify') return { cell: null, changed: cell !== null };
  if (cell === null) return { cell, changed: false };
  switch (rule.strategy) {
    case 'redact':
      return { cell: REDACTED, changed: true };
    case 'partial': {
      const out = partial(cell, rule.keepLast);
      return { cell: out, changed: out !== cell };
    }
    case 'token':
      if (!key) throw new Error('token strategy requires a key');
      return { cell: token(cell, key), changed: true };
    case 'scrub': {
      const r = scrub(cell);
      return { cell: r.text, changed: r.replaced > 0 };
    }
    default:
      throw new Error(`strategy ${rule.strategy} is not implemented`);
  }
}

/** Masks a batch of rows in place-free fashion, counting changed values per rule. */
export function maskRows(rows: Cell[][], rules: readonly ColumnRule[], key: TokenKey | undefined, counts: number[]): Cell[][] {
  return rows.map((row) => {
    const out = row.slice();
    for (let r = 0; r < rules.length; r++) {
      const rule = rules[r]!;
      if (rule.index >= out.length) continue;
      const res = maskCell(out[rule.index] ?? null, rule, key);
      out[rule.index] = res.cell;
      if (res.changed) counts[r] = (counts[r] ?? 0) + 1;
    }
    return out;
  });
}
