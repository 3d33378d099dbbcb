import { createHash } from 'node:crypto';

/**
 * A lexer for Snowflake SQL, used to split input into statements, to hand node-sql-parser text it
 * cannot misread, and to fingerprint. It follows Snowflake's lexical rules (backslash escapes and
 * doubled quotes in '…', $$…$$ strings, "…" identifiers with "" escapes, --, // and /* *\/
 * comments), and it refuses, rather than guesses, wherever two lexers could disagree about where a
 * string, identifier or comment ends: a lexer disagreement is how a statement gets hidden from a
 * gateway. One pass over the input; every token is consumed once, so the cost is linear.
 */

export type TokenType = 'word' | 'qident' | 'string' | 'number' | 'op' | 'var' | 'stage';

export interface Token {
  type: TokenType;
  start: number;
  end: number;
  /** The token's source text. */
  text: string;
  /** qident: the identifier, exactly; string: the value when `simple`. */
  value?: string;
  /** string: a single-quoted literal with no escapes (every SQL lexer reads it the same way). */
  simple?: boolean;
}

/** Input the lexer will not guess about; the analysis fails closed. */
export class LexError extends Error {}

const TWO_CHAR_OPS = new Set(['::', ':=', '=>', '<=', '>=', '<>', '!=', '||', '->']);
const ONE_CHAR_OPS = new Set(['(', ')', ',', ';', '.', '+', '-', '*', '/', '%', '<', '>', '=', '!', '|', '&', '^', '~', '[', ']', '{', '}', '?', ':']);

const isIdentStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isIdentPart = (c: number) => isIdentStart(c) || (c >= 48 && c <= 57) || c === 36;
const isDigit = (c: number) => c >= 48 && c <= 57;

/** Reserved name prefix for the placeholders this module substitutes; refused in input. */
export const PLACEHOLDER = '__PHIGATE_';

export function lex(sql: string): Token[] {
  const tokens: Token[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      i++;
      continue;
    }
    if ((ch === '-' && next === '-') || (ch === '/' && next === '/')) {
      let j = sql.indexOf('\n', i + 2);
      if (j < 0) j = n;
      // A line comment ends at a line feed. A carriage return or Unicode separator inside it may
      // end it for another lexer, which would then see code we read as comment.
      if (/\r(?!$)|[\u2028\u2029\u0085\v\f]/.test(sql.slice(i + 2, j))) throw new LexError('a line comment contains an ambiguous line break');
      i = j;
      continue;
    }
    if (ch === '/' && next === '*') {
      // `/*/` and nested `/*` are read differently by different lexers: refuse both.
      if (sql[i + 2] === '/') throw new LexError('ambiguous comment opener /*/');
      const j = sql.indexOf('*/', i + 2);
      if (j < 0) throw new LexError('unterminated block comment');
      if (sql.slice(i + 2, j).includes('/*')) throw new LexError('nested block comment');
      i = j + 2;
      continue;
    }
    if (ch === "'") {
      let j = i + 1;
      let simple = true;
      for (;;) {
        if (j >= n) throw new LexError('unterminated string literal');
        const d = sql[j];
        if (d === '\\') {
          simple = false;
          j += 2;
          continue;
        }
        if (d === "'") {
          if (sql[j + 1] === "'") {
            simple = false;
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      const tok: Token = { type: 'string', start: i, end: j + 1, text: sql.slice(i, j + 1), simple };
      if (simple) tok.value = sql.slice(i + 1, j);
      tokens.push(tok);
      i = j + 1;
      continue;
    }
    if (ch === '$' && next === '$') {
      const j = sql.indexOf('$$', i + 2);
      if (j < 0) throw new LexError('unterminated $$ string');
      tokens.push({ type: 'string', start: i, end: j + 2, text: sql.slice(i, j + 2), simple: false });
      i = j + 2;
      continue;
    }
    if (ch === '"') {
      let j = i + 1;
      let value = '';
      for (;;) {
        const k = sql.indexOf('"', j);
        if (k < 0) throw new LexError('unterminated quoted identifier');
        value += sql.slice(j, k);
        if (sql[k + 1] === '"') {
          value += '"';
          j = k + 2;
          continue;
        }
        j = k + 1;
        break;
      }
      if (!value) throw new LexError('empty quoted identifier');
      tokens.push({ type: 'qident', start: i, end: j, text: sql.slice(i, j), value });
      i = j;
      continue;
    }
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentPart(sql.charCodeAt(j))) j++;
      const text = sql.slice(i, j);
      if (text.toUpperCase().includes(PLACEHOLDER)) throw new LexError(`reserved name ${text}`);
      tokens.push({ type: 'word', start: i, end: j, text });
      i = j;
      continue;
    }
    if (isDigit(c) || (ch === '.' && next !== undefined && isDigit(next.charCodeAt(0)))) {
      const m = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(sql.slice(i, i + 400));
      const j = i + (m?.[0].length ?? 1);
      if (j < n && isIdentPart(sql.charCodeAt(j))) throw new LexError('a number runs into a name');
      tokens.push({ type: 'number', start: i, end: j, text: sql.slice(i, j) });
      i = j;
      continue;
    }
    if (ch === '$') {
      let j = i + 1;
      if (j < n && isDigit(sql.charCodeAt(j))) {
        while (j < n && isDigit(sql.charCodeAt(j))) j++;
      } else if (j < n && isIdentStart(sql.charCodeAt(j))) {
        while (j < n && isIdentPart(sql.charCodeAt(j)) && sql[j] !== '$') j++;
      } else throw new LexError('a lone $');
      tokens.push({ type: 'var', start: i, end: j, text: sql.slice(i, j) });
      i = j;
      continue;
    }
    if (ch === '@') {
      let j = i + 1;
      while (j < n && !/[\s;,()'"]/.test(sql[j]!)) j++;
      const text = sql.slice(i, j);
      if (j === i + 1 || /--|\/\/|\/\*/.test(text)) throw new LexError('a stage name the lexer cannot delimit');
      tokens.push({ type: 'stage', start: i, end: j, text });
      i = j;
      continue;
    }
    const two = sql.slice(i, i + 2);
    if (TWO_CHAR_OPS.has(two)) {
      tokens.push({ type: 'op', start: i, end: i + 2, text: two });
      i += 2;
      continue;
    }
    if (ONE_CHAR_OPS.has(ch)) {
      tokens.push({ type: 'op', start: i, end: i + 1, text: ch });
      i++;
      continue;
    }
    throw new LexError(`unexpected character U+${c.toString(16).padStart(4, '0')}`);
  }
  return tokens;
}

/** Statements as token ranges, split at `;` tokens (never inside strings, identifiers or comments). */
export function splitStatements(tokens: Token[]): Token[][] {
  const out: Token[][] = [];
  let cur: Token[] = [];
  for (const t of tokens) {
    if (t.type === 'op' && t.text === ';') {
      if (cur.length) out.push(cur);
      cur = [];
    } else cur.push(t);
  }
  if (cur.length) out.push(cur);
  return out;
}

export const isWord = (t: Token | undefined, ...words: string[]): boolean => t?.type === 'word' && (words.length === 0 || words.includes(t.text.toUpperCase()));
export const isOp = (t: Token | undefined, ...ops: string[]): boolean => t?.type === 'op' && ops.includes(t.text);
export const upper = (t: Token | undefined): string => (t?.type === 'word' ? t.text.toUpperCase() : '');

/** Words after which `:` starts a bind variable, never a JSON path. */
const NOT_A_PATH_BASE = new Set(
  'SELECT FROM WHERE AND OR NOT ON BY HAVING QUALIFY THEN ELSE WHEN CASE END IN IS LIKE ILIKE RLIKE REGEXP BETWEEN LIMIT OFFSET TOP SET VALUES AS JOIN RETURN RETURNS DISTINCT ALL ANY SOME EXISTS ESCAPE INTO USING UNION EXCEPT MINUS INTERSECT WITH ORDER GROUP CALL LATERAL TABLE INTERVAL UPDATE DELETE INSERT MERGE NULL TRUE FALSE IMMEDIATE'.split(
    ' ',
  ),
);
/** Tokens after which a `?` bind can stand (the start of an expression). */
const BIND_AFTER_WORDS = new Set(
  'SELECT WHERE AND OR NOT ON BY HAVING QUALIFY THEN ELSE WHEN CASE IN IS LIKE ILIKE RLIKE REGEXP BETWEEN LIMIT OFFSET TOP SET VALUES DISTINCT ALL ANY SOME ESCAPE RETURN IMMEDIATE'.split(
    ' ',
  ),
);
const BIND_AFTER_OPS = new Set(['(', ',', '=', '<', '>', '<=', '>=', '<>', '!=', '+', '-', '*', '/', '%', '||', '=>', '[']);

/** Text for node-sql-parser, and how to map its names back. */
export interface Prepared {
  /** Replacement text per token ('' drops it). */
  replace: string[];
  /** Quoted identifiers by placeholder index. */
  quoted: string[];
  /** Tokens that are binds (`?` rewritten to `:n`, or `:n` / `:name` as written): each must parse as a bind. */
  bind: boolean[];
}

export const quotedPlaceholder = (i: number) => `${PLACEHOLDER}Q${i}__`;
const QUOTED_RE = new RegExp(`^${PLACEHOLDER}Q(\\d+)__$`);
export const quotedIndex = (name: string): number | undefined => {
  const m = QUOTED_RE.exec(name);
  return m ? Number(m[1]) : undefined;
};

/**
 * Rewrites one statement's tokens so that node-sql-parser reads exactly what Snowflake reads:
 * - comments become a space;
 * - a string literal with escapes or a $$ string becomes a neutral literal (its value is not
 *   needed to find tables and columns, and IDENTIFIER() only accepts simple literals);
 * - a quoted identifier becomes a unique placeholder name, mapped back exactly (case kept), so the
 *   analyser knows which names to fold to upper case and which not;
 * - a `?` bind becomes a numbered `:n` bind, which the grammar accepts, only where an expression
 *   can start;
 * - a JSON path (`col:a.b[0]`) is dropped after its column: the path's keys are JSON keys, never
 *   columns, so what the expression reads is the column.
 * Each rewrite replaces one token (or a path of tokens) by a token of the same role, so the
 * statement's structure, and so its tables and columns, are unchanged.
 */
export function prepare(tokens: Token[]): Prepared {
  const replace = tokens.map((t) => t.text);
  const bind = tokens.map(() => false);
  const quoted: string[] = [];
  let binds = 0;
  const adjacent = (a: Token | undefined, b: Token | undefined) => Boolean(a && b && a.end === b.start);
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.type === 'qident') {
      replace[k] = quotedPlaceholder(quoted.length);
      quoted.push(t.value!);
    } else if (t.type === 'string' && !t.simple) {
      replace[k] = `'${PLACEHOLDER}S${k}__'`;
    } else if (t.type === 'op' && t.text === '?') {
      const prev = tokens[k - 1];
      const after = tokens[k + 1];
      const okBefore =
        !prev || (prev.type === 'op' && BIND_AFTER_OPS.has(prev.text)) || (prev.type === 'word' && BIND_AFTER_WORDS.has(prev.text.toUpperCase()));
      if (!okBefore || isOp(after, '.', ':', '[', '(')) throw new LexError('a ? bind where no expression can start');
      replace[k] = ` :${++binds} `;
      bind[k] = true;
    } else if (t.type === 'op' && t.text === ':') {
      const prev = tokens[k - 1];
      const key = tokens[k + 1];
      const base =
        prev &&
        adjacent(prev, t) &&
        ((prev.type === 'word' && !NOT_A_PATH_BASE.has(prev.text.toUpperCase())) || prev.type === 'qident' || isOp(prev, ')', ']'));
      if (!base || !adjacent(t, key) || (key!.type !== 'word' && key!.type !== 'qident')) {
        // `:1` or `:name` where an expression starts: a bind as written.
        const startsExpression = !prev || (prev.type === 'op' && !isOp(prev, ')', ']')) || prev.type === 'word';
        if (startsExpression && adjacent(t, key) && (key!.type === 'number' || key!.type === 'word')) bind[k] = true;
        continue;
      }
      let m = k + 2;
      for (;;) {
        const a = tokens[m];
        const b = tokens[m + 1];
        if (isOp(a, '.') && adjacent(tokens[m - 1], a) && adjacent(a, b) && (b!.type === 'word' || b!.type === 'qident')) m += 2;
        else if (isOp(a, '[') && adjacent(tokens[m - 1], a) && (b?.type === 'number' || (b?.type === 'string' && b.simple)) && isOp(tokens[m + 2], ']')) m += 3;
        else break;
      }
      // A path continued after a space (`col:a .b`) may still be the path for Snowflake: refuse.
      if (isOp(tokens[m], '.', '[', ':')) throw new LexError('a JSON path the lexer cannot delimit');
      for (let x = k; x < m; x++) replace[x] = '';
      k = m - 1;
    }
  }
  if (binds && tokens.some((t, k) => bind[k] && t.text === ':')) throw new LexError('? binds mixed with :n binds');
  rewriteUnparsed(tokens, replace);
  return { replace, quoted, bind };
}

/** Aggregates whose `WITHIN GROUP (ORDER BY …)` the grammar lacks but whose inline `ORDER BY` it reads. */
const ORDERED_AGGREGATES = ['LISTAGG', 'ARRAY_AGG', 'ARRAYAGG'];

/** The index of the `(` that the `)` at `close` closes (-1 when unbalanced). */
function openOf(tokens: Token[], close: number): number {
  let depth = 0;
  for (let k = close; k >= 0; k--) {
    if (isOp(tokens[k], ')')) depth++;
    else if (isOp(tokens[k], '(') && --depth === 0) return k;
  }
  return -1;
}

const wordIs = (t: Token | undefined, ...words: string[]) => t?.type === 'word' && words.includes(t.text.toUpperCase());

/**
 * Snowflake syntax node-sql-parser's grammar lacks, rewritten into forms it reads whose tables,
 * columns and flows are the same or a superset (analysis only: the upstream runs the original):
 * - `INTERSECT [ALL|DISTINCT]`, `EXCEPT`, `MINUS` → `UNION`: rows from both sides, kept or dropped
 *   by comparing their values (a row-count flow of every column, as UNION records);
 * - `agg(args) WITHIN GROUP (ORDER BY …)` → `agg(args ORDER BY …)`: an aggregate's ORDER BY;
 * - infix `RLIKE` → `REGEXP`: the same pattern operator;
 * - `* ILIKE 'pattern'` → `*`: every column rather than those whose name matches.
 */
function rewriteUnparsed(tokens: Token[], replace: string[]): void {
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.type !== 'word') continue;
    const word = t.text.toUpperCase();
    const prev = tokens[k - 1];
    if ((word === 'INTERSECT' || word === 'EXCEPT' || word === 'MINUS') && !isOp(prev, '*')) {
      replace[k] = 'UNION';
      if (wordIs(tokens[k + 1], 'ALL', 'DISTINCT')) replace[k + 1] = '';
    } else if (
      word === 'WITHIN' &&
      wordIs(tokens[k + 1], 'GROUP') &&
      isOp(tokens[k + 2], '(') &&
      wordIs(tokens[k + 3], 'ORDER') &&
      isOp(prev, ')') &&
      wordIs(tokens[openOf(tokens, k - 1) - 1], ...ORDERED_AGGREGATES)
    ) {
      // The aggregate's closing parenthesis moves after the ORDER BY list: drop it and `WITHIN GROUP (`.
      replace[k - 1] = '';
      replace[k] = '';
      replace[k + 1] = '';
      replace[k + 2] = '';
    } else if (word === 'RLIKE' && prev) {
      // `RLIKE(a, b)` is the function (left alone); after an operand it is the operator.
      const call = isOp(tokens[k + 1], '(') && !(isOp(prev, ')') || prev.type === 'qident' || prev.type === 'string' || prev.type === 'number');
      if (!call) replace[k] = 'REGEXP';
    } else if (word === 'ILIKE' && isOp(prev, '*') && tokens[k + 1]?.type === 'string') {
      replace[k] = '';
      replace[k + 1] = '';
    }
  }
}

/** The text of tokens [from, to): original spacing kept (a gap, even a comment, is one space). */
export function render(tokens: Token[], prepared: Prepared, from = 0, to = tokens.length): string {
  let out = '';
  for (let k = from; k < to; k++) {
    if (k > from && tokens[k]!.start > tokens[k - 1]!.end) out += ' ';
    out += prepared.replace[k];
  }
  return out;
}

/** Literal-normalised fingerprint from tokens: literals and binds are `?`, names folded as Snowflake does. */
export function tokenFingerprint(tokens: Token[]): string {
  const parts = tokens.map((t) => {
    if (t.type === 'string' || t.type === 'number') return '?';
    if (t.type === 'op' && t.text === '?') return '?';
    if (t.type === 'word') return t.text.toUpperCase();
    return t.text;
  });
  return createHash('sha256').update(parts.join(' ')).digest('hex').slice(0, 32);
}

/**
 * `sql` with each `?` bind numbered as `:n` (what node-sql-parser's Snowflake grammar reads), and
 * nothing else changed: for readers of a statement's own text (result-column provenance) that need
 * it parsed as it was decided. Throws LexError where the analysis would.
 */
export function numberedBinds(sql: string): string {
  if (!sql.includes('?')) return sql;
  const tokens = lex(sql);
  const prepared = prepare(tokens);
  let out = '';
  let at = 0;
  tokens.forEach((t, k) => {
    if (!prepared.bind[k] || t.text !== '?') return;
    out += `${sql.slice(at, t.start)}${prepared.replace[k]!.trim()}`;
    at = t.end;
  });
  return out + sql.slice(at);
}

/**
 * `sql` with each `CURRENT_USER()` (or bare `CURRENT_USER`) replaced by `user` as a string literal:
 * through a gateway the upstream's user is the gateway's service user, the caller is someone else.
 * Nothing else changes. Throws LexError where the analysis would.
 */
export function withCurrentUser(sql: string, user: string): string {
  if (!/current_user/i.test(sql)) return sql;
  const tokens = lex(sql);
  const literal = `'${user.replace(/'/g, "''")}'`;
  let out = '';
  let at = 0;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (!isWord(t, 'CURRENT_USER') || isOp(tokens[k - 1], '.')) continue;
    const call = isOp(tokens[k + 1], '(') && isOp(tokens[k + 2], ')');
    const end = call ? tokens[k + 2]!.end : t.end;
    out += `${sql.slice(at, t.start)}${literal}`;
    at = end;
    if (call) k += 2;
  }
  return out + sql.slice(at);
}
