import { redactSqlLiterals } from '@phigate/sql';
import { loadModule, scanSync } from 'libpg-query';

// Literal redaction for the SIEM stream, on PostgreSQL's own lexer (libpg-query's scanner, the
// same library @phigate/sql parses with): every token that is not a keyword, an identifier, an
// operator, punctuation or a $n parameter becomes `?`, and comments are dropped. An allow-list,
// so a token kind we did not foresee is hidden rather than shown.
//
// Snowflake statements go through @phigate/sql's conservative redactor instead (the one approval
// messages use): PostgreSQL's lexer does not read Snowflake's backslash escapes, and that redactor
// hides everything from the first place the two dialects could disagree on where a string ends.

/** What the SIEM stream carries instead of a statement it cannot redact with certainty. */
export const STATEMENT_WITHHELD = '? /* statement withheld: its literals could not be redacted with certainty */';

const KEEP = new Set([
  'IDENT',
  'UIDENT',
  'PARAM',
  'Op',
  'TYPECAST',
  'DOT_DOT',
  'COLON_EQUALS',
  'EQUALS_GREATER',
  'LESS_EQUALS',
  'GREATER_EQUALS',
  'NOT_EQUALS',
]);
const COMMENT = new Set(['C_COMMENT', 'SQL_COMMENT']);
// The scanner names some operator tokens UNKNOWN (e.g. `->>`): keep a token made of operator characters only.
const OPERATOR = /^[+\-*/<>=~!@#%^&|`?]+$/;

/** Replaces literals in a statement with `?`, by dialect. */
export type StatementRedactor = (sql: string, dialect: string) => string;

/** Loads the PostgreSQL scanner (WASM) and returns the redactor. */
export async function createStatementRedactor(): Promise<StatementRedactor> {
  await loadModule();
  return (sql, dialect) => {
    if (dialect === 'snowflake') return redactSqlLiterals(sql);
    if (dialect !== 'postgresql') return STATEMENT_WITHHELD;
    let tokens: ReturnType<typeof scanSync>['tokens'];
    try {
      tokens = scanSync(sql).tokens;
    } catch {
      return STATEMENT_WITHHELD;
    }
    let out = '';
    let at = 0;
    for (const t of tokens) {
      const gap = sql.slice(at, t.start);
      if (gap) out += /^\s*$/.test(gap) ? gap : ' ';
      at = t.end;
      if (COMMENT.has(t.tokenName)) {
        out += ' ';
        continue;
      }
      const text = sql.slice(t.start, t.end);
      out += t.keywordKind > 0 || KEEP.has(t.tokenName) || t.tokenName.startsWith('ASCII_') || OPERATOR.test(text) ? text : '?';
    }
    // Anything after the last token the scanner reported is not shown.
    if (sql.slice(at).trim()) out += ' ?';
    return out;
  };
}
