// A small lexer that replaces SQL literals with `?` so a statement can be shown to approvers
// without the values in it (an SSN in a WHERE clause is PHI). It keeps keywords, identifiers
// (quoted or not), operators and parameters ($1), and drops comments. It errs towards hiding:
// when PostgreSQL and Snowflake would disagree on where a string ends (a backslash before a
// quote), or a literal is unterminated, everything from there on is hidden.

/** Appended when the rest of a statement is hidden because its lexing was ambiguous. */
export const REST_REDACTED = ' …(rest redacted)';

const IDENT_CHAR = /[\p{L}\p{N}_$]/u;
const IDENT_START = /[\p{L}_]/u;
const DIGIT = /[0-9]/;
const NUMBER = /^(?:0[xX][0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)[\p{L}\p{N}_]*/u;
const DOLLAR_TAG = /^\$(?:[\p{L}_][\p{L}\p{N}_]*)?\$/u;
/** String-literal prefixes (escape, national, hex, bit) that are part of the literal. */
const STRING_PREFIX = new Set(['e', 'n', 'x', 'b']);

/** The statement with string, dollar-quoted and numeric literals replaced by `?` and comments removed. */
export function redactSqlLiterals(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl === -1 ? sql.length : nl;
      out += ' ';
      continue;
    }
    if (c === '/' && next === '*') {
      const end = blockCommentEnd(sql, i);
      if (end === -1) return out.trimEnd();
      i = end;
      out += ' ';
      continue;
    }
    if (c === "'") {
      const end = stringEnd(sql, i, false);
      if (end === -1) return `${out}?${REST_REDACTED}`;
      out += '?';
      i = end;
      continue;
    }
    if (c === '"' || c === '`') {
      const end = quotedEnd(sql, i, c);
      // An unterminated quoted identifier may swallow literals: hide the rest.
      if (end === -1) return `${out}?${REST_REDACTED}`;
      out += sql.slice(i, end);
      i = end;
      continue;
    }
    if (c === '$') {
      const param = /^\$[0-9]+/.exec(sql.slice(i, i + 12));
      if (param) {
        out += param[0];
        i += param[0].length;
        continue;
      }
      const tag = DOLLAR_TAG.exec(sql.slice(i, i + 256))?.[0];
      if (tag) {
        const close = sql.indexOf(tag, i + tag.length);
        if (close === -1) return `${out}?${REST_REDACTED}`;
        out += '?';
        i = close + tag.length;
        continue;
      }
      out += c;
      i++;
      continue;
    }
    if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < sql.length && IDENT_CHAR.test(sql[j] as string)) j++;
      const word = sql.slice(i, j);
      if (sql[j] === "'" && STRING_PREFIX.has(word.toLowerCase())) {
        // E'…' always takes backslash escapes; the others are plain strings with a prefix.
        const end = stringEnd(sql, j, word.toLowerCase() === 'e');
        if (end === -1) return `${out}?${REST_REDACTED}`;
        out += '?';
        i = end;
        continue;
      }
      out += word;
      i = j;
      continue;
    }
    if (DIGIT.test(c) || (c === '.' && next !== undefined && DIGIT.test(next))) {
      const m = NUMBER.exec(sql.slice(i));
      const len = m ? m[0].length : 1;
      out += '?';
      i += len;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/**
 * Index just past the closing quote of the string opening at `start`, or -1 when unterminated or
 * ambiguous. Without `backslashOnly`, the string must end at the same place whether or not
 * backslash escapes apply (PostgreSQL: they do not; Snowflake: they do).
 */
function stringEnd(sql: string, start: number, backslashOnly: boolean): number {
  const withBackslash = scanString(sql, start, true);
  if (backslashOnly) return withBackslash;
  const standard = scanString(sql, start, false);
  return standard === withBackslash ? standard : -1;
}

function scanString(sql: string, start: number, backslash: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (backslash && c === '\\') {
      i += 2;
      continue;
    }
    if (c === "'") {
      if (sql[i + 1] === "'") {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return -1;
}

function quotedEnd(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === quote) {
      if (sql[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return -1;
}

/** PostgreSQL block comments nest. */
function blockCommentEnd(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < sql.length - 1) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else i++;
  }
  return -1;
}
