/**
 * Snowflake SQL → DuckDB SQL, at the token level. Only what a client of the demo warehouse
 * commonly writes is rewritten: Snowflake type names, the Snowflake conversion and
 * semi-structured constructors, IFF/NVL/DIV0/DIV0NULL, the session context functions, numbered
 * binds (`:1` → `$1`), and every divisor (checked, so that `x / 0` raises as in Snowflake).
 * Strings, quoted identifiers and comments are never touched. Everything else is passed to DuckDB
 * as written (the two dialects share most of their syntax). The translation remembers where each
 * piece came from, so an error DuckDB reports is placed in the text the client sent.
 */

export interface SessionContext {
  database: string;
  schema: string;
  role: string;
  user: string;
  warehouse: string;
}

/** A token of the Snowflake text, with its offset there. */
export type Tok = { kind: 'ws' | 'comment' | 'string' | 'qident' | 'word' | 'number' | 'op' | 'raw'; text: string; pos: number };

/** Where the engine keeps Snowflake's INFORMATION_SCHEMA views (DuckDB reserves that schema name). */
export const METADATA_CATALOG = 'sf_meta';
export const METADATA_SCHEMA = `${METADATA_CATALOG}.main`;

/** Input that cannot be read to its end (an unterminated literal, comment or call). */
export class TranslateError extends Error {}

/**
 * DuckDB SQL built from Snowflake SQL, remembering for each run of it the span of Snowflake text it
 * came from: a token copied as written maps offset for offset, a rewritten one to its own span.
 */
export class MappedText {
  text = '';
  private runs: Array<{ at: number; src: number; len: number }> = [];

  /** Appends `text`, which stands for the `len` characters of the Snowflake text at `src`. */
  add(text: string, src: number, len: number): this {
    if (!text) return this;
    this.runs.push({ at: this.text.length, src, len: Math.max(1, len) });
    this.text += text;
    return this;
  }

  token(t: Tok): this {
    return this.add(t.text, t.pos, t.text.length);
  }

  append(other: MappedText): this {
    const base = this.text.length;
    for (const r of other.runs) this.runs.push({ ...r, at: base + r.at });
    this.text += other.text;
    return this;
  }

  /** The offset in the Snowflake text that the DuckDB text's offset `at` came from (-1: past its end). */
  source(at: number): number {
    if (at < 0 || at >= this.text.length) return -1;
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.runs[mid]!.at <= at) lo = mid;
      else hi = mid - 1;
    }
    const r = this.runs[lo]!;
    return r.src + Math.min(at - r.at, r.len - 1);
  }

  /** The characters from `from` to `to`, each still mapped where it came from. */
  slice(from: number, to: number = this.text.length): MappedText {
    const out = new MappedText();
    out.text = this.text.slice(from, to);
    for (const [i, r] of this.runs.entries()) {
      const end = this.runs[i + 1]?.at ?? this.text.length;
      if (end <= from || r.at >= to) continue;
      const skipped = Math.max(0, from - r.at);
      out.runs.push({ at: Math.max(0, r.at - from), src: r.src + Math.min(skipped, r.len - 1), len: Math.max(1, r.len - skipped) });
    }
    return out;
  }

  /** Without leading and trailing white space. */
  trim(): MappedText {
    return this.slice(this.text.length - this.text.trimStart().length, this.text.trimEnd().length);
  }

  /**
   * `text` (a rewrite of a call spanning `len` characters at `src`) in which the rendered arguments
   * keep their own mapping wherever they appear in order; the rest maps to the call.
   */
  static around(text: string, args: MappedText[], src: number, len: number): MappedText {
    const out = new MappedText();
    let cursor = 0;
    for (const a of args) {
      const at = a.text ? text.indexOf(a.text, cursor) : -1;
      if (at < 0) continue;
      out.add(text.slice(cursor, at), src, len).append(a);
      cursor = at + a.text.length;
    }
    return out.add(text.slice(cursor), src, len);
  }
}

/** Splits Snowflake SQL into tokens (whitespace and comments included); throws TranslateError on unterminated input. */
export function tokenize(sql: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    let j = i + 1;
    let kind: Tok['kind'];
    if (/\s/.test(ch)) {
      while (j < n && /\s/.test(sql[j]!)) j++;
      kind = 'ws';
    } else if ((ch === '-' && next === '-') || (ch === '/' && next === '/')) {
      j = sql.indexOf('\n', i);
      if (j < 0) j = n;
      kind = 'comment';
    } else if (ch === '/' && next === '*') {
      j = sql.indexOf('*/', i + 2);
      if (j < 0) throw new TranslateError('unterminated comment');
      j += 2;
      kind = 'comment';
    } else if (ch === "'") {
      for (;;) {
        if (j >= n) throw new TranslateError('unterminated string literal');
        if (sql[j] === '\\') j += 2;
        else if (sql[j] === "'" && sql[j + 1] === "'") j += 2;
        else if (sql[j] === "'") {
          j++;
          break;
        } else j++;
      }
      kind = 'string';
    } else if (ch === '$' && next === '$') {
      j = sql.indexOf('$$', i + 2);
      if (j < 0) throw new TranslateError('unterminated $$ string');
      j += 2;
      kind = 'string';
    } else if (ch === '"') {
      for (;;) {
        if (j >= n) throw new TranslateError('unterminated quoted identifier');
        if (sql[j] === '"' && sql[j + 1] === '"') j += 2;
        else if (sql[j] === '"') {
          j++;
          break;
        } else j++;
      }
      kind = 'qident';
    } else if (/[A-Za-z_]/.test(ch)) {
      while (j < n && /[A-Za-z0-9_$]/.test(sql[j]!)) j++;
      kind = 'word';
    } else if (/[0-9]/.test(ch)) {
      while (j < n && /[0-9.eE]/.test(sql[j]!)) j++;
      kind = 'number';
    } else {
      if (ch === ':' && next === ':') j = i + 2;
      kind = 'op';
    }
    out.push({ kind, text: sql.slice(i, j), pos: i });
    i = j;
  }
  return out;
}

/** `$$…$$` and backslash escapes are Snowflake's; DuckDB wants standard '…' literals. */
function stringLiteral(text: string): string {
  let value: string;
  if (text.startsWith('$$')) value = text.slice(2, -2);
  else {
    const body = text.slice(1, -1);
    value = body.replace(/''|\\(.)/gs, (m, c: string | undefined) => {
      if (m === "''") return "'";
      const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '0': '\0' };
      return c !== undefined ? (map[c] ?? c) : m;
    });
  }
  return `'${value.replace(/'/g, "''")}'`;
}

/** Snowflake type names → DuckDB types (the SF_* ones are created by the engine). */
const TYPE_MAP: Record<string, string> = {
  NUMBER: 'DECIMAL',
  NUMERIC: 'DECIMAL',
  INT: 'DECIMAL(38,0)',
  INTEGER: 'DECIMAL(38,0)',
  BIGINT: 'DECIMAL(38,0)',
  SMALLINT: 'DECIMAL(38,0)',
  TINYINT: 'DECIMAL(38,0)',
  BYTEINT: 'DECIMAL(38,0)',
  FLOAT: 'DOUBLE',
  FLOAT4: 'DOUBLE',
  FLOAT8: 'DOUBLE',
  REAL: 'DOUBLE',
  'DOUBLE PRECISION': 'DOUBLE',
  STRING: 'VARCHAR',
  TEXT: 'VARCHAR',
  DATETIME: 'TIMESTAMP',
  TIMESTAMP_NTZ: 'TIMESTAMP',
  TIMESTAMP_LTZ: 'TIMESTAMPTZ',
  TIMESTAMP_TZ: 'SF_TIMESTAMP_TZ',
  BINARY: 'BLOB',
  VARBINARY: 'BLOB',
  VARIANT: 'JSON',
  OBJECT: 'SF_OBJECT',
  ARRAY: 'SF_ARRAY',
};

/** Function rewrites: name → (args) → DuckDB expression text. */
function functionRewrite(name: string, args: string[], ctx: SessionContext): string | undefined {
  const a = (i: number) => args[i] ?? 'NULL';
  const cast = (type: string) => (args.length === 1 ? `CAST(${a(0)} AS ${type})` : undefined);
  const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
  switch (name) {
    case 'TO_NUMBER':
    case 'TO_DECIMAL':
    case 'TO_NUMERIC': {
      // TO_NUMBER(expr [, format] [, precision [, scale]]): a format string is not supported.
      const nums = args.slice(1);
      if (nums.some((x) => !/^\s*\d+\s*$/.test(x))) return undefined;
      return `CAST(${a(0)} AS DECIMAL(${(nums[0] ?? '38').trim()},${(nums[1] ?? '0').trim()}))`;
    }
    case 'TO_DOUBLE':
      return cast('DOUBLE');
    case 'TO_VARCHAR':
    case 'TO_CHAR':
      return cast('VARCHAR');
    case 'TO_BOOLEAN':
      return cast('BOOLEAN');
    case 'TO_DATE':
      return cast('DATE');
    case 'TO_TIME':
      return cast('TIME');
    case 'TO_TIMESTAMP':
    case 'TO_TIMESTAMP_NTZ':
      return cast('TIMESTAMP');
    case 'TO_TIMESTAMP_LTZ':
      return args.length === 1 ? `CAST(sf_tz_text(${a(0)}) AS TIMESTAMPTZ)` : undefined;
    case 'TO_TIMESTAMP_TZ':
      return args.length === 1 ? `sf_to_timestamp_tz(${a(0)})` : undefined;
    case 'TO_BINARY':
      if (args.length === 2 && a(1).trim().toUpperCase() !== "'HEX'") return undefined;
      return args.length <= 2 ? `unhex(${a(0)})` : undefined;
    case 'HEX_DECODE_BINARY':
      return `unhex(${a(0)})`;
    case 'PARSE_JSON':
      return `CAST(${a(0)} AS JSON)`;
    case 'TO_VARIANT':
      return `to_json(${a(0)})`;
    case 'OBJECT_CONSTRUCT':
      return `sf_object(json_object(${args.join(',')}))`;
    case 'ARRAY_CONSTRUCT':
      return `sf_array(json_array(${args.join(',')}))`;
    case 'TO_OBJECT':
      return `sf_object(${a(0)})`;
    case 'TO_ARRAY':
      return `sf_array(${a(0)})`;
    case 'IFF':
      return args.length === 3 ? `(CASE WHEN ${a(0)} THEN ${a(1)} ELSE ${a(2)} END)` : undefined;
    case 'NVL':
      return `coalesce(${args.join(',')})`;
    // Division that does not raise: 0 for a zero divisor (DIV0NULL: also for a NULL one); a NULL dividend stays NULL.
    case 'DIV0':
      return args.length === 2 ? `(CASE WHEN (${a(0)}) IS NULL THEN NULL WHEN (${a(1)}) = 0 THEN 0 ELSE (${a(0)}) / (${a(1)}) END)` : undefined;
    case 'DIV0NULL':
      return args.length === 2
        ? `(CASE WHEN (${a(0)}) IS NULL THEN NULL WHEN (${a(1)}) = 0 OR (${a(1)}) IS NULL THEN 0 ELSE (${a(0)}) / (${a(1)}) END)`
        : undefined;
    case 'CURRENT_ROLE':
      return lit(ctx.role);
    case 'CURRENT_DATABASE':
      return lit(ctx.database);
    case 'CURRENT_SCHEMA':
      return lit(ctx.schema);
    case 'CURRENT_USER':
      return lit(ctx.user);
    case 'CURRENT_WAREHOUSE':
      return lit(ctx.warehouse);
    case 'CURRENT_VERSION':
      return lit('9.0.0');
    default:
      return undefined;
  }
}

/** Splits the tokens of a call's argument list (between its parentheses) at top-level commas. */
function splitArgs(toks: Tok[]): Tok[][] {
  const args: Tok[][] = [[]];
  let depth = 0;
  for (const t of toks) {
    if (t.kind === 'op' && t.text === '(') depth++;
    if (t.kind === 'op' && t.text === ')') depth--;
    if (depth === 0 && t.kind === 'op' && t.text === ',') args.push([]);
    else args[args.length - 1]!.push(t);
  }
  return args.length === 1 && args[0]!.every((t) => t.kind === 'ws' || t.kind === 'comment') ? [] : args;
}

/** The engine's macro that raises Snowflake's division-by-zero error for a zero divisor (else returns it). */
export const DIVISOR = 'sf_divisor';

const isOp = (t: Tok | undefined, text: string): boolean => t?.kind === 'op' && t.text === text;
const isWord = (t: Tok | undefined, ...words: string[]): boolean => t?.kind === 'word' && words.includes(t.text.toUpperCase());

/** The first token at or after (step 1) or before (step -1) `i` that is not white space or a comment. */
function skipSpace(toks: Tok[], i: number, step: 1 | -1): number {
  let j = i;
  while (toks[j]?.kind === 'ws' || toks[j]?.kind === 'comment') j += step;
  return j;
}

/** The index of the `)` or `]` closing the bracket at `k` (or of the END closing the CASE at `k`). */
function closing(toks: Tok[], k: number): number | undefined {
  const open = toks[k]!;
  const [o, c] = isWord(open, 'CASE') ? ['CASE', 'END'] : open.text === '[' ? ['[', ']'] : ['(', ')'];
  const matches = (t: Tok, x: string) => (x === 'CASE' || x === 'END' ? isWord(t, x) : isOp(t, x));
  let depth = 0;
  for (let j = k; j < toks.length; j++) {
    if (matches(toks[j]!, o)) depth++;
    else if (matches(toks[j]!, c) && --depth === 0) return j;
  }
  return undefined;
}

/**
 * The divisor of the `/` at `i`, as the token range [from, to) of the operand that binds to its
 * right: signs, then a literal, bind, name, call (with OVER/WITHIN GROUP/FILTER), parenthesised
 * expression or CASE, then `::type` and `[…]`. Undefined where `/` is not a division (a stage
 * path) or the operand is something else: that `/` is left as it is.
 */
function divisorAt(toks: Tok[], i: number): [number, number] | undefined {
  const prev = toks[skipSpace(toks, i - 1, -1)];
  if (!prev || !(['number', 'string', 'qident', 'word'].includes(prev.kind) || isOp(prev, ')') || isOp(prev, ']'))) return undefined;
  if (isOp(toks[skipSpace(toks, skipSpace(toks, i - 1, -1) - 1, -1)], '@')) return undefined;
  const from = skipSpace(toks, i + 1, 1);
  let j = from;
  while (isOp(toks[j], '-') || isOp(toks[j], '+')) j = skipSpace(toks, j + 1, 1);
  const t = toks[j];
  let end: number | undefined;
  if (!t) return undefined;
  if (isOp(t, '(') || isWord(t, 'CASE')) end = closing(toks, j);
  else if (t.kind === 'number' || t.kind === 'string' || isOp(t, '?')) end = j;
  else if ((isOp(t, ':') || isOp(t, '$')) && toks[j + 1]?.kind === 'number') end = j + 1;
  else if (t.kind === 'word' && isOp(toks[skipSpace(toks, j + 1, 1)], '(')) {
    end = closing(toks, skipSpace(toks, j + 1, 1));
    // What belongs to the call: a window, an ordered-set or filter clause, a null treatment.
    for (;;) {
      if (end === undefined) return undefined;
      const n = skipSpace(toks, end + 1, 1);
      const m = skipSpace(toks, n + 1, 1);
      if (isWord(toks[n], 'OVER') && isOp(toks[m], '(')) end = closing(toks, m);
      else if (isWord(toks[n], 'OVER') && toks[m]?.kind === 'word') end = m;
      else if (isWord(toks[n], 'FILTER') && isOp(toks[m], '(')) end = closing(toks, m);
      else if (isWord(toks[n], 'WITHIN') && isWord(toks[m], 'GROUP') && isOp(toks[skipSpace(toks, m + 1, 1)], '('))
        end = closing(toks, skipSpace(toks, m + 1, 1));
      else if (isWord(toks[n], 'IGNORE', 'RESPECT') && isWord(toks[m], 'NULLS')) end = m;
      else break;
    }
  } else if (t.kind === 'word' || t.kind === 'qident') {
    end = j;
    for (;;) {
      const dot = skipSpace(toks, end + 1, 1);
      const part = skipSpace(toks, dot + 1, 1);
      if (!isOp(toks[dot], '.') || (toks[part]?.kind !== 'word' && toks[part]?.kind !== 'qident')) break;
      end = part;
    }
  }
  // Postfix: casts and subscripts.
  for (;;) {
    if (end === undefined) return undefined;
    const n = skipSpace(toks, end + 1, 1);
    if (isOp(toks[n], '::') && toks[skipSpace(toks, n + 1, 1)]?.kind === 'word') {
      end = skipSpace(toks, n + 1, 1);
      const args = skipSpace(toks, end + 1, 1);
      if (isOp(toks[args], '(')) end = closing(toks, args);
    } else if (isOp(toks[n], '[')) end = closing(toks, n);
    else break;
  }
  return [from, end + 1];
}

interface Mode {
  inCast: boolean;
  /** Inside the column list of CREATE TABLE. */
  inColumns: boolean;
  create: boolean;
}

function render(toks: Tok[], ctx: SessionContext, mode: Mode): MappedText {
  const out = new MappedText();
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.kind === 'string') {
      out.add(stringLiteral(t.text), t.pos, t.text.length);
      continue;
    }
    if (t.kind === 'op' && t.text === ':' && toks[i + 1]?.kind === 'number' && /^\d+$/.test(toks[i + 1]!.text)) {
      out.add(`$${toks[i + 1]!.text}`, t.pos, toks[i + 1]!.text.length + 1);
      i++;
      continue;
    }
    if (t.kind === 'op' && t.text === '/') {
      const divisor = divisorAt(toks, i);
      if (divisor) {
        // Snowflake raises on division by zero where DuckDB answers inf or NULL: the divisor is checked.
        const [from, to] = divisor;
        out.token(t);
        for (let w = i + 1; w < from; w++) out.token(toks[w]!);
        out
          .add(`${DIVISOR}(`, toks[from]!.pos, 1)
          .append(render(toks.slice(from, to), ctx, mode))
          .add(')', toks[to - 1]!.pos, 1);
        i = to - 1;
        continue;
      }
    }
    if (t.kind === 'comment' && t.text.startsWith('//')) {
      // Snowflake's `//` line comment is DuckDB's integer division: it goes over as `--`.
      out.add(`--${t.text.slice(2)}`, t.pos, t.text.length);
      continue;
    }
    if (t.kind !== 'word') {
      out.token(t);
      continue;
    }
    const up = t.text.toUpperCase();
    // Find the next non-space token.
    const k = skipSpace(toks, i + 1, 1);
    const prevIdx = skipSpace(toks, i - 1, -1);
    const prev = toks[prevIdx];
    const afterDot = prev?.kind === 'op' && prev.text === '.';
    if (!afterDot && isOp(toks[k], '(')) {
      // A call: collect the balanced argument list.
      const end = closing(toks, k);
      if (end === undefined) throw new TranslateError('unbalanced parentheses');
      const parts = splitArgs(toks.slice(k + 1, end));
      const args = parts.map((a) =>
        render(a, ctx, {
          inCast: up === 'CAST' || up === 'TRY_CAST',
          inColumns: mode.create && !mode.inColumns && isTableName(toks, i),
          create: mode.create,
        }).trim(),
      );
      const rewritten = functionRewrite(
        up,
        args.map((a) => a.text),
        ctx,
      );
      if (rewritten !== undefined) {
        out.append(MappedText.around(rewritten, args, t.pos, toks[end]!.pos + 1 - t.pos));
        i = end;
        continue;
      }
      const typeCall = (up === 'NUMBER' || up === 'NUMERIC') && isTypeContext(toks, prevIdx, mode);
      out.add(typeCall ? 'DECIMAL' : t.text, t.pos, t.text.length).add('(', toks[k]!.pos, 1);
      for (const [n, a] of args.entries()) {
        if (n > 0) out.add(', ', parts[n]![0]?.pos ?? toks[end]!.pos, 1);
        out.append(a);
      }
      out.add(')', toks[end]!.pos, 1);
      i = end;
      continue;
    }
    if (isTypeContext(toks, prevIdx, mode) && TYPE_MAP[up] !== undefined) {
      const hasArgs = isOp(toks[k], '(');
      out.add((up === 'NUMBER' || up === 'NUMERIC') && !hasArgs ? 'DECIMAL(38,0)' : TYPE_MAP[up]!, t.pos, t.text.length);
      continue;
    }
    if (['CURRENT_ROLE', 'CURRENT_DATABASE', 'CURRENT_SCHEMA', 'CURRENT_USER', 'CURRENT_WAREHOUSE'].includes(up) && !afterDot) {
      out.add(functionRewrite(up, [], ctx)!, t.pos, t.text.length);
      continue;
    }
    out.token(t);
  }
  return out;
}

function isTypeContext(toks: Tok[], prevIdx: number, mode: Mode): boolean {
  const prev = toks[prevIdx];
  if (!prev) return false;
  return (
    (prev.kind === 'op' && prev.text === '::') ||
    (mode.inCast && prev.kind === 'word' && prev.text.toUpperCase() === 'AS') ||
    (mode.inColumns && isColumnTypePosition(toks, prevIdx))
  );
}

/** Whether the word at `i` is the table name of `CREATE … TABLE name (`. */
function isTableName(toks: Tok[], i: number): boolean {
  const words = toks
    .slice(0, i)
    .filter((t) => t.kind === 'word')
    .map((t) => t.text.toUpperCase());
  return words.includes('TABLE') && !words.includes('AS') && !words.includes('SELECT');
}

/** In `CREATE TABLE t (name TYPE, …)`: the word after a column name inside the column list. */
function isColumnTypePosition(toks: Tok[], prevIdx: number): boolean {
  const prev = toks[prevIdx];
  if (!prev || (prev.kind !== 'word' && prev.kind !== 'qident')) return false;
  let p = prevIdx - 1;
  while (toks[p]?.kind === 'ws' || toks[p]?.kind === 'comment') p--;
  const before = toks[p];
  return !before || (before.kind === 'op' && before.text === ',');
}

/** An identifier token's name as Snowflake resolves it (unquoted folds to upper case). */
function nameOf(t: Tok | undefined): string | undefined {
  if (t?.kind === 'word') return t.text.toUpperCase();
  if (t?.kind === 'qident') return t.text.slice(1, -1).replace(/""/g, '"');
  return undefined;
}

/**
 * `[<database>.]INFORMATION_SCHEMA.<view>` → the engine's metadata schema. Only the session's
 * database is rewritten (the analyser refuses any other); strings and comments are never touched.
 */
function metadataNames(toks: Tok[], database: string): Tok[] {
  const out = toks.slice();
  const skip = (i: number, step: 1 | -1) => {
    let j = i + step;
    while (out[j]?.kind === 'ws' || out[j]?.kind === 'comment') j += step;
    return j;
  };
  const isDot = (i: number) => out[i]?.kind === 'op' && out[i]!.text === '.';
  for (let i = 0; i < out.length; i++) {
    if (nameOf(out[i]) !== 'INFORMATION_SCHEMA' || !isDot(skip(i, 1))) continue;
    const dot = skip(i, -1);
    if (isDot(dot)) {
      const db = skip(dot, -1);
      if (nameOf(out[db]) !== database || isDot(skip(db, -1))) continue;
      for (let k = db; k < i; k++) out[k] = { kind: 'raw', text: '', pos: out[k]!.pos };
    }
    out[i] = { kind: 'raw', text: METADATA_SCHEMA, pos: out[i]!.pos };
  }
  return out;
}

/**
 * Translates one Snowflake statement to DuckDB SQL (throws TranslateError on unlexable input), with
 * the offset in the Snowflake text each offset of the DuckDB text came from (where DuckDB reports
 * an error, Snowflake's position is found through it).
 */
export function translateMapped(sql: string, ctx: SessionContext): MappedText {
  const toks = metadataNames(tokenize(sql), ctx.database);
  const create = toks.find((t) => t.kind === 'word')?.text.toUpperCase() === 'CREATE';
  const out = render(toks, ctx, { inCast: false, inColumns: false, create });
  return out.slice(0, out.text.replace(/;\s*$/, '').length);
}

/** Translates one Snowflake statement to DuckDB SQL (throws TranslateError on unlexable input). */
export function translate(sql: string, ctx: SessionContext): string {
  return translateMapped(sql, ctx).text;
}

/** Column names as Snowflake reports them: unquoted names fold to upper case. */
export function quotedNames(sql: string): Set<string> {
  const names = new Set<string>();
  for (const t of tokenize(sql)) if (t.kind === 'qident') names.add(t.text.slice(1, -1).replace(/""/g, '"'));
  return names;
}

/** `SELECT SYSTEM$WAIT(n [, 'unit'])`: how long to wait, in ms (undefined when the statement is something else). */
export function systemWait(sql: string): { ms: number; label: string } | undefined {
  const m = /^\s*(?:SELECT|CALL)\s+SYSTEM\$WAIT\s*\(\s*(\d+(?:\.\d+)?)\s*(?:,\s*'(SECONDS|MILLISECONDS|MINUTES)'\s*)?\)\s*;?\s*$/i.exec(sql);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? 'SECONDS').toUpperCase();
  const ms = unit === 'MILLISECONDS' ? n : unit === 'MINUTES' ? n * 60_000 : n * 1000;
  return { ms, label: `SYSTEM$WAIT(${m[1]}${m[2] ? `, '${m[2].toUpperCase()}'` : ''})` };
}
