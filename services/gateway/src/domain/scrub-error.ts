// Upstream database errors, made safe to leave the gateway. PostgreSQL and the Snowflake warehouse
// (DuckDB behind it, or Snowflake itself) quote data in their messages: `invalid input syntax for
// type integer: "123-45-6789"`, `Key (id)=(5) already exists.`, `Could not convert string 'x' to
// INT32`. A masked column's value must never reach a client, a log line or the audit trail that way.
//
// What leaves: the SQLSTATE (and Snowflake's own code) unchanged; the message with every value
// replaced by `?` and the wording, identifiers and type names kept; DETAIL rewritten the same way or
// dropped; HINT only when it holds no value; WHERE (PL/pgSQL context) and every other field never.
//
// Two tiers. Known messages (the value-bearing part of PostgreSQL's, DuckDB's and Snowflake's
// catalogues) are rewritten slot by slot: values out, identifiers and types in. Everything else is
// scrubbed generically (quoted text, numbers, dates and times) — except in the classes whose
// messages are about values (22 data exception, 23 integrity, P0 PL/pgSQL, 38/39 routines, XX,
// Snowflake's 100xxx): there an unknown message may hold a value as a bare word, so it is withheld.
// Free text raised by a function (PL/pgSQL RAISE/ASSERT) is always withheld.

import { AppError } from '@phigate/errors';

/** The placeholder that stands for every value taken out. */
export const VALUE = '?';

/** An upstream error as the drivers report it (node-postgres DatabaseError, snowflake-sdk errors): the parts read here. */
export interface UpstreamErrorLike {
  /** node-postgres: the SQLSTATE; snowflake-sdk: Snowflake's six-digit code. */
  code?: unknown;
  /** snowflake-sdk: the SQLSTATE. */
  sqlState?: unknown;
  message?: unknown;
  detail?: unknown;
  hint?: unknown;
  /** PL/pgSQL context: never passed on. */
  where?: unknown;
  /** The PostgreSQL source routine that raised it (`exec_stmt_raise` is free text from a function). */
  routine?: unknown;
  /** node-postgres: the 1-based position in the statement, as text. */
  position?: unknown;
}

/** What may leave the gateway of an upstream error. */
export interface ScrubbedUpstreamError {
  sqlState?: string;
  /** The upstream's own code when it is not the SQLSTATE (Snowflake's six digits). */
  code?: string;
  message: string;
  detail?: string;
  hint?: string;
  /** 1-based position in the statement (a place, never a value). */
  position?: number;
  /** The message was replaced whole (free text, or a value-bearing message of a form not known here). */
  withheld: boolean;
}

export interface ScrubOptions {
  /** The statement the upstream ran: a name quoted in a message is kept only if the statement names it. */
  statement?: string;
}

const MAX_FIELD = 500;
/** Longer upstream text is not read at all (withheld or dropped): a value that long is no message. */
const MAX_INPUT = 64 * 1024;
const SQLSTATE_RE = /^[0-9A-Z]{5}$/;
const VENDOR_CODE_RE = /^\d{6}$/;
/** PostgreSQL routines whose message, detail and hint are the text a function chose (RAISE, ASSERT). */
const FREE_TEXT_ROUTINES = new Set(['exec_stmt_raise', 'exec_stmt_assert']);
/** SQLSTATE classes whose messages are about values. */
const VALUE_CLASSES = new Set(['22', '23', '27', '2F', '38', '39', '44', 'P0', 'XX']);
const CLASS_NAMES: Record<string, string> = {
  '22': 'data exception',
  '23': 'integrity constraint violation',
  '27': 'triggered data change violation',
  '2F': 'SQL routine exception',
  '38': 'external routine exception',
  '39': 'external routine invocation exception',
  '44': 'WITH CHECK OPTION violation',
  P0: 'error raised by a database function',
  XX: 'internal error of the upstream',
};

const IDENT = String.raw`[\p{L}_][\p{L}\p{N}_$]*`;
const IDENT_RE = new RegExp(`^${IDENT}(?:\\.${IDENT}){0,3}$`, 'u');
/** A type name as messages print it: `integer`, `character varying(10)`, `DECIMAL(4,2)`, `public.claim_status`, `text[]`. */
const TYPE_RE = /^[\p{L}_][\p{L}\p{N}_ ."]*(?:\(\d+(?:\s*,\s*-?\d+)?\))?(?:\[\])*$/u;
/** Words after which a quoted token names an object rather than holding a value. */
const NOUNS = new Set(
  (
    'relation table column columns constraint index type function procedure routine aggregate operator schema sequence view database role user ' +
    'collation conversion trigger policy extension cursor portal statement savepoint parameter domain attribute tablespace server publication ' +
    'subscription rule language object identifier warehouse stage field family class'
  ).split(' '),
);
/** Words after which a bare number is a place in the statement, not a value. */
const PLACE_WORDS = new Set(['line', 'position', 'character']);

interface Ctx {
  /** Lower-cased names the statement uses (outside its literals and comments); undefined: no statement given. */
  names?: Set<string>;
}

type Rule = readonly [RegExp, (m: RegExpExecArray, c: Ctx) => string | undefined];

const at = (m: RegExpExecArray, i: number): string => m[i] ?? '';
const keep = (m: RegExpExecArray): string => m[0];

/** A name the catalogue supplies (constraint, relation of a violated row): kept unless it cannot be a name. */
function catalogName(s: string): string | undefined {
  return s.length > 0 && s.length <= 200 && !/["\n]/.test(s) ? s : undefined;
}

function typeName(s: string): string | undefined {
  return s.length <= 100 && TYPE_RE.test(s) ? s : undefined;
}

/** True when `s` is a name the statement itself uses (no statement: when it is name-shaped at all). */
function named(s: string, c: Ctx): boolean {
  if (!IDENT_RE.test(s) || s.length > 255) return false;
  if (!c.names) return true;
  const last = s.split('.').at(-1) ?? '';
  return c.names.has(last.toLowerCase());
}

/** A token of a syntax error (`at or near "…"`, `unexpected '…'`): a keyword or name is kept, a literal is not. */
const token = (s: string, c: Ctx): string => (named(s, c) ? s : VALUE);

/** The key columns of `Key (cols)=(vals)`: names or index expressions from the catalogue (an expression's constants scrubbed). */
const keyColumns = (s: string, c: Ctx): string => scrubText(s, c, true).text;

// ---- messages ----

/** Known messages, tried against the whole message, then against its first line. */
const MESSAGE_RULES: readonly Rule[] = [
  // PostgreSQL: data exceptions (class 22) that quote the value.
  [/^invalid input syntax for type ([^:"\n]+): "[\s\S]*"$/, (m) => fmt`invalid input syntax for type ${typeName(at(m, 1))}: "?"`],
  [/^invalid input syntax for type ([^":\n]+)$/, (m) => (typeName(at(m, 1)) ? m[0] : undefined)],
  [/^invalid input value for enum ([^:"\n]+): "[\s\S]*"$/, (m) => fmt`invalid input value for enum ${typeName(at(m, 1))}: "?"`],
  [/^(date\/time field value|date|time|timestamp|interval) out of range: "[\s\S]*"$/, (m) => `${at(m, 1)} out of range: "?"`],
  [/^value "[\s\S]*" is out of range for type ([^"\n]+)$/, (m) => fmt`value "?" is out of range for type ${typeName(at(m, 1))}`],
  [/^"[\s\S]*" is out of range for type ([^"\n]+)$/, (m) => fmt`"?" is out of range for type ${typeName(at(m, 1))}`],
  [/^value too long for type (.+)$/, (m) => fmt`value too long for type ${typeName(at(m, 1))}`],
  [/^invalid value "[\s\S]*" for "([^"\n]*)"$/, (m) => `invalid value "?" for "${/^[A-Za-z][A-Za-z0-9]{0,7}$/.test(at(m, 1)) ? at(m, 1) : VALUE}"`],
  [/^invalid hexadecimal digit: "[\s\S]*"$/, () => 'invalid hexadecimal digit: "?"'],
  [/^invalid symbol "[\s\S]*" found while decoding (base64|base32hex) sequence$/, (m) => `invalid symbol "?" found while decoding ${at(m, 1)} sequence`],
  [/^"[\s\S]*" is not a valid (binary|hexadecimal|octal) digit$/, (m) => `"?" is not a valid ${at(m, 1)} digit`],
  [/^malformed (array|range|multirange|record) literal: "[\s\S]*"$/, (m) => `malformed ${at(m, 1)} literal: "?"`],
  [/^time zone "[\s\S]*" not recognized$/, () => 'time zone "?" not recognized'],
  [/^invalid value for parameter "([^"\n]+)": "[\s\S]*"$/, (m) => `invalid value for parameter "${IDENT_RE.test(at(m, 1)) ? at(m, 1) : VALUE}": "?"`],
  [/^unrecognized encoding: "[\s\S]*"$/, () => 'unrecognized encoding: "?"'],
  [/^invalid (source|destination) encoding name "[\s\S]*"$/, (m) => `invalid ${at(m, 1)} encoding name "?"`],
  [/^invalid regular expression option: "[\s\S]*"$/, () => 'invalid regular expression option: "?"'],
  [/^invalid regular expression: [A-Za-z ,()[\]{}\\-]+$/, keep],
  // PostgreSQL: integrity violations (class 23) name only catalogue objects; their values are in DETAIL.
  [/^duplicate key value violates unique constraint "([^"\n]+)"$/, (m) => fmt`duplicate key value violates unique constraint "${catalogName(at(m, 1))}"`],
  [
    /^conflicting key value violates exclusion constraint "([^"\n]+)"$/,
    (m) => fmt`conflicting key value violates exclusion constraint "${catalogName(at(m, 1))}"`,
  ],
  [
    /^new row for relation "([^"\n]+)" violates check constraint "([^"\n]+)"$/,
    (m) => fmt`new row for relation "${catalogName(at(m, 1))}" violates check constraint "${catalogName(at(m, 2))}"`,
  ],
  [
    /^new row for relation "([^"\n]+)" violates partition constraint$/,
    (m) => fmt`new row for relation "${catalogName(at(m, 1))}" violates partition constraint`,
  ],
  [
    /^null value in column "([^"\n]+)" of relation "([^"\n]+)" violates not-null constraint$/,
    (m) => fmt`null value in column "${catalogName(at(m, 1))}" of relation "${catalogName(at(m, 2))}" violates not-null constraint`,
  ],
  [/^null value in column "([^"\n]+)" violates not-null constraint$/, (m) => fmt`null value in column "${catalogName(at(m, 1))}" violates not-null constraint`],
  [
    /^insert or update on table "([^"\n]+)" violates foreign key constraint "([^"\n]+)"$/,
    (m) => fmt`insert or update on table "${catalogName(at(m, 1))}" violates foreign key constraint "${catalogName(at(m, 2))}"`,
  ],
  [
    /^update or delete on table "([^"\n]+)" violates foreign key constraint "([^"\n]+)" on table "([^"\n]+)"$/,
    (m) =>
      fmt`update or delete on table "${catalogName(at(m, 1))}" violates foreign key constraint "${catalogName(at(m, 2))}" on table "${catalogName(at(m, 3))}"`,
  ],
  [/^could not create unique index "([^"\n]+)"$/, (m) => fmt`could not create unique index "${catalogName(at(m, 1))}"`],
  [/^new row violates check option for view "([^"\n]+)"$/, (m) => fmt`new row violates check option for view "${catalogName(at(m, 1))}"`],
  [
    /^check constraint "([^"\n]+)" of relation "([^"\n]+)" is violated by some row$/,
    (m) => fmt`check constraint "${catalogName(at(m, 1))}" of relation "${catalogName(at(m, 2))}" is violated by some row`,
  ],
  [
    /^column "([^"\n]+)" of relation "([^"\n]+)" contains null values$/,
    (m) => fmt`column "${catalogName(at(m, 1))}" of relation "${catalogName(at(m, 2))}" contains null values`,
  ],
  // PostgreSQL: syntax errors quote a token of the statement, which may be a literal.
  [/^([a-z -]+) at or near "([\s\S]*)"$/, (m, c) => `${at(m, 1)} at or near "${token(at(m, 2), c)}"`],
  // PostgreSQL and Snowflake: value-free messages of value classes.
  [/^division by zero$/i, keep],
  [/^[a-z][a-z ]* out of range$/i, keep],
  [/^value out of range: (overflow|underflow)$/, keep],
  [/^(numeric field overflow|value overflows numeric format)$/, keep],
  [/^cannot take (logarithm|square root) of (zero|a negative number)$/, keep],
  [/^(zero raised to a negative power is undefined|a negative number raised to a non-integer power yields a complex result)$/, keep],
  [/^(character number must be positive|negative substring length not allowed|step size cannot equal zero)$/, keep],
  [/^range lower bound must be less than or equal to range upper bound$/, keep],
  [/^cannot convert (NaN|infinity|-infinity) to [a-z ]+$/, keep],
  [/^cannot cast jsonb (string|numeric|object|array|null|boolean) to type [a-z ]+$/, keep],
  [/^string argument of jsonpath item method \.\w+\(\) is not a valid representation of [a-z ]+$/, keep],
  [/^null value cannot be assigned to a variable declared NOT NULL$/, keep],
  [/^(invalid base64 end sequence|invalid hexadecimal data: odd number of digits)$/, keep],
  [/^(NULL result in a non-nullable column|Duplicate row detected during DML action)$/, keep],
  // DuckDB (the local warehouse passes its messages on without the "… Error: " prefix).
  [
    /^Could not convert string ('|")[\s\S]*\1 to ([A-Z][A-Z0-9_ ]*(?:\(\d+(?:,\d+)?\))?)( when casting from source column ([^\s'"]+))?$/,
    (m, c) => {
      const col = at(m, 4);
      return fmt`Could not convert string ${at(m, 1)}?${at(m, 1)} to ${typeName(at(m, 2))}${col ? ` when casting from source column ${named(col, c) ? col : VALUE}` : ''}`;
    },
  ],
  [
    /^Type (\w+) with value [\s\S]* can't be cast because the value is out of range for the destination type (\w+)$/,
    (m) => `Type ${at(m, 1)} with value ? can't be cast because the value is out of range for the destination type ${at(m, 2)}`,
  ],
  [
    /^Type (\w+) with value [\s\S]* can't be cast to the destination type (\w+)$/,
    (m) => `Type ${at(m, 1)} with value ? can't be cast to the destination type ${at(m, 2)}`,
  ],
  [
    /^Casting value "[\s\S]*" to type ([^"\n]+) failed: value is out of range!$/,
    (m) => fmt`Casting value "?" to type ${typeName(at(m, 1))} failed: value is out of range!`,
  ],
  [/^Could not cast value [\s\S]* to ([A-Z][A-Z0-9_ ]*(?:\(\d+(?:,\d+)?\))?)$/, (m) => fmt`Could not cast value ? to ${typeName(at(m, 1))}`],
  [
    /^(date|time|timestamp|interval) field value out of range: "[\s\S]*", expected format is (\([^'"\d\n]*\))$/,
    (m) => `${at(m, 1)} field value out of range: "?", expected format is ${at(m, 2)}`,
  ],
  [
    /^invalid (date|time|timestamp|interval) field format: "[\s\S]*", expected format is (\([^'"\d\n]*\))$/,
    (m) => `invalid ${at(m, 1)} field format: "?", expected format is ${at(m, 2)}`,
  ],
  [/^(Date|Time|Timestamp|Interval) out of range: [\s\S]*$/, (m) => `${at(m, 1)} out of range: ?`],
  // PostgreSQL make_date/make_time print the value bare (after DuckDB's quoted form above).
  [/^(date|time|timestamp) field value out of range: [\s\S]*$/, (m) => `${at(m, 1)} field value out of range: ?`],
  [/^Overflow in (\w+) of (\w+) \([\s\S]*\)!$/, (m) => `Overflow in ${at(m, 1)} of ${at(m, 2)} (?)!`],
  [/^Malformed JSON at byte \d+ of input: ([a-z ,]+)\. {1,2}Input: [\s\S]*$/, (m) => `Malformed JSON at byte ? of input: ${at(m, 1)}.  Input: "?"`],
  [/^Could not parse string "[\s\S]*?" according to format specifier "/, () => 'Could not parse string "?" according to format specifier "?"'],
  [
    /^Invalid hex escape code encountered in string -> blob conversion of string "[\s\S]*$/,
    () => 'Invalid hex escape code encountered in string -> blob conversion of string "?"',
  ],
  [/^Unimplemented type for cast \((\w+) -> (\w+)\)$/, keep],
  [/^Duplicate key "[\s\S]*" violates (primary key|unique) constraint\.?[\s\S]*$/, (m) => `Duplicate key "?" violates ${at(m, 1)} constraint.`],
  [/^NOT NULL constraint failed: ([^\s'"]+)$/, (m) => fmt`NOT NULL constraint failed: ${IDENT_RE.test(at(m, 1)) ? at(m, 1) : undefined}`],
  [
    /^CHECK constraint failed on table ([^\s'"]+) with expression ([\s\S]*)$/,
    (m, c) => fmt`CHECK constraint failed on table ${IDENT_RE.test(at(m, 1)) ? at(m, 1) : undefined} with expression ${scrubText(at(m, 2), c, true).text}`,
  ],
  [
    /^Violates foreign key constraint because key "[\s\S]*" (does not exist in the referenced table|is still referenced by a foreign key in a different table)$/,
    (m) => `Violates foreign key constraint because key "?" ${at(m, 1)}`,
  ],
  // Snowflake.
  [/^(Numeric value|Boolean value|Date|Time|Timestamp) '[\s\S]*' is not recognized$/, (m) => `${at(m, 1)} '?' is not recognized`],
  [/^Can't parse '[\s\S]*?' as (date|time|timestamp)\b/, (m) => `Can't parse '?' as ${at(m, 1)}`],
  [/^String '[\s\S]*' is too long and would be truncated$/, () => "String '?' is too long and would be truncated"],
  [/^Invalid regular expression: '[\s\S]*?', ([a-z ]+)/, (m) => `Invalid regular expression: '?', ${at(m, 1)}`],
  [
    /^syntax error line (\d+) at position (\d+) unexpected '([\s\S]*)'\.?$/,
    (m, c) => `syntax error line ${at(m, 1)} at position ${at(m, 2)} unexpected '${token(at(m, 3), c)}'.`,
  ],
];

// ---- details ----

/**
 * `Key (cols)=(vals) <ending>`, PostgreSQL's key DETAIL. Read by position (the first `)=(` ends the
 * columns; the ending is matched at the end), never by backtracking over a value a client chose.
 */
function keyDetail(d: string, c: Ctx): string | undefined {
  if (!d.startsWith('Key (')) return undefined;
  const split = d.indexOf(')=(');
  if (split < 0 || d.slice(5, split).includes('\n')) return undefined;
  const cols = keyColumns(d.slice(5, split), c);
  const tail = d.slice(split + 3);
  const plain = /\) (already exists|is duplicated)\.$/.exec(tail);
  if (plain) return `Key (${cols})=(?) ${at(plain, 1)}.`;
  const table = /\) (is not present in|is still referenced from) table "([^"\n]+)"\.$/.exec(tail);
  if (table) return fmt`Key (${cols})=(?) ${at(table, 1)} table "${catalogName(at(table, 2))}".`;
  const conflict = /\) conflicts with (existing key|key) \(/.exec(tail);
  if (conflict && tail.endsWith(').')) return `Key (${cols})=(?) conflicts with ${at(conflict, 1)} (${cols})=(?).`;
  return undefined;
}

const DETAIL_RULES: readonly Rule[] = [
  [/^Failing row contains \([\s\S]*\)\.$/, () => 'Failing row contains (?).'],
  [/^A field with precision \d+, scale -?\d+ (must round to an absolute value less than (10\^-?\d+|1)|cannot hold an infinite value)\.$/, keep],
  [/^Token "[\s\S]*" is invalid\.$/, () => 'Token "?" is invalid.'],
  [/^Escape sequence "[\s\S]*" is invalid\.$/, () => 'Escape sequence "?" is invalid.'],
  [/^Character with value 0x[0-9a-f]{2} must be escaped\.$/, () => 'Character with value ? must be escaped.'],
  [/^Expected ([a-zA-Z ",:[\]{}]{1,60}), but found "[\s\S]*"\.$/, (m) => `Expected ${at(m, 1)}, but found "?".`],
  [/^The input string ended unexpectedly\.$/, keep],
  [
    /^(Unexpected end of input|Junk after closing right brace|Unexpected array element|Incorrectly quoted array element|Specified array dimensions do not match array contents|Multidimensional arrays must have sub-arrays with matching dimensions|Array value must start with "\{" or dimension information|Unexpected "[{},"\\]" character|Missing "[\]=]" after array dimensions|Missing left parenthesis|Missing right parenthesis|Missing comma after lower bound|Junk after right parenthesis or bracket|Too many commas|Junk after right parenthesis)\.$/,
    keep,
  ],
  [/^(Value must be an integer|The given value did not match any of the allowed values for this field)\.$/, keep],
];

// ---- generic scrub ----

// A quoted token; a quote left open (a value with a quote in it): the rest of the line; a bind
// parameter; a name (with a type modifier); a number, date or time (digits, and what joins them).
const TOKENS = new RegExp(
  String.raw`("[^"\n]*")|('(?:[^'\n]|'')*')|(["'][^\n]*)|(\$\d+)|(${IDENT}(?:\(\d+(?:\s*,\s*-?\d+)?\))?)|(\d(?:[\p{L}\p{N}_]|[.:+\-/](?=[\p{L}\p{N}]))*)`,
  'gu',
);

/**
 * Scrubs text of unknown form: quoted text kept only when it names an object the statement names
 * (after a noun such as `relation` or `column`), or, `lenient`, when it is name-shaped at all;
 * numbers, dates and times become `?` unless they are a type modifier or a line/position.
 */
function scrubText(text: string, c: Ctx, lenient = false): { text: string; changed: boolean } {
  let changed = false;
  let lastWord = '';
  const out = text.replace(TOKENS, (whole, dq?: string, sq?: string, open?: string, param?: string, word?: string, num?: string) => {
    if (word !== undefined) {
      lastWord = word.toLowerCase();
      return whole;
    }
    if (param !== undefined) return whole;
    const previous = lastWord;
    lastWord = '';
    if (dq !== undefined || sq !== undefined) {
      const q = whole[0] ?? '"';
      const inner = whole.slice(1, -1);
      if (lenient ? IDENT_RE.test(inner) : NOUNS.has(previous) && named(inner, c)) return whole;
      changed = true;
      return `${q}${VALUE}${q}`;
    }
    if (open !== undefined) {
      changed = true;
      return `${whole[0]}${VALUE}`;
    }
    if (num !== undefined && PLACE_WORDS.has(previous) && /^\d+$/.test(num)) return whole;
    changed = true;
    return VALUE;
  });
  return { text: out, changed };
}

// ---- the scrubber ----

/** Prefixes that are wording, never values: Snowflake's error kinds and DuckDB's error classes. */
const PREFIX =
  /^(?:SQL (?:compilation|execution|execution internal|access control) error:\s*|(?:Conversion|Invalid Input|Constraint|Out of Range|Binder|Catalog|Parser|Not implemented|Dependency|Transaction|Permission|Serialization|Syntax|Mismatch Type|Invalid Type|Sequence|Interrupt|Internal) Error:\s*)+/;

/** DuckDB echoes the statement under the message (`LINE 1: …` and a caret): never passed on. */
const ECHO = /\n\s*LINE \d+:[\s\S]*$/;

function cap(s: string): string {
  return s.length <= MAX_FIELD ? s : `${s.slice(0, MAX_FIELD - 1)}…`;
}

function applyRules(rules: readonly Rule[], text: string, c: Ctx): string | undefined {
  const firstLine = text.split('\n', 1)[0] ?? '';
  for (const candidate of firstLine === text ? [text] : [text, firstLine]) {
    for (const [re, out] of rules) {
      const m = re.exec(candidate);
      if (!m) continue;
      const r = out(m, c);
      if (r !== undefined) return r;
    }
  }
  return undefined;
}

/** The lower-cased names a statement uses, outside its string literals and comments. */
export function statementNames(sql: string): Set<string> {
  const names = new Set<string>();
  const bare = sql
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\$([A-Za-z_]\w*)?\$[\s\S]*?\$\1\$/g, ' ')
    .replace(/[Ee]'(?:[^'\\]|''|\\[\s\S])*'/g, ' ')
    .replace(/'(?:[^']|'')*'/g, ' ')
    .replace(/'[\s\S]*$/, ' ')
    .replace(/"((?:[^"]|"")*)"/g, (_, inner: string) => {
      names.add(inner.replace(/""/g, '"').toLowerCase());
      return ' ';
    });
  for (const w of bare.match(new RegExp(IDENT, 'gu')) ?? []) names.add(w.toLowerCase());
  return names;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The parts of an upstream error that may leave the gateway (see the top of this file). */
export function scrubUpstreamError(err: UpstreamErrorLike, opts: ScrubOptions = {}): ScrubbedUpstreamError {
  const rawCode = str(err.code);
  const rawState = str(err.sqlState);
  const sqlState = rawState && SQLSTATE_RE.test(rawState) ? rawState : rawCode && SQLSTATE_RE.test(rawCode) ? rawCode : undefined;
  const code = rawCode && VENDOR_CODE_RE.test(rawCode) ? rawCode : undefined;
  const ids = { ...(sqlState ? { sqlState } : {}), ...(code ? { code } : {}) };
  const cls = sqlState?.slice(0, 2);
  const valueClass = !sqlState || VALUE_CLASSES.has(cls ?? '') || code?.startsWith('100') === true;
  const ref = [code ? `error ${code}` : '', sqlState ? `SQLSTATE ${sqlState}` : ''].filter(Boolean).join(', ');
  const kind = CLASS_NAMES[cls ?? ''] ?? 'error';
  const routine = str(err.routine);

  if ((routine && FREE_TEXT_ROUTINES.has(routine)) || sqlState === 'P0001' || sqlState === 'P0004')
    return {
      ...ids,
      message: `${CLASS_NAMES.P0} (${ref || 'no SQLSTATE'}); its text is the function's own and is withheld`,
      withheld: true,
    };

  const c: Ctx = opts.statement === undefined ? {} : { names: statementNames(opts.statement) };
  const raw = (str(err.message) ?? '').replace(ECHO, '');
  const prefix = PREFIX.exec(raw)?.[0] ?? '';
  const body = raw.slice(prefix.length);

  const readable = raw.length <= MAX_INPUT;
  let message = readable ? applyRules(MESSAGE_RULES, body, c) : undefined;
  let withheld = false;
  if (message === undefined && !valueClass && readable) message = scrubText(body, c).text;
  if (message === undefined) {
    withheld = true;
    message = `${kind} (${ref || 'no SQLSTATE'}); the upstream's message is withheld because it may quote a value`;
  } else message = `${prefix}${message}`;

  const pos = Number(err.position);
  const out: ScrubbedUpstreamError = { ...ids, message: cap(message), withheld, ...(Number.isInteger(pos) && pos > 0 ? { position: pos } : {}) };
  const rawDetail = str(err.detail);
  if (rawDetail && rawDetail.length <= MAX_INPUT) {
    const detail = keyDetail(rawDetail, c) ?? applyRules(DETAIL_RULES, rawDetail, c) ?? (valueClass ? undefined : scrubText(rawDetail, c).text);
    if (detail) out.detail = cap(detail);
  }
  const rawHint = str(err.hint);
  if (rawHint && rawHint.length <= MAX_INPUT && !scrubText(rawHint, c, true).changed) out.hint = cap(rawHint);
  return out;
}

/** A template whose slots may decline (undefined): the whole result is then undefined. */
function fmt(strings: TemplateStringsArray, ...values: Array<string | undefined>): string | undefined {
  if (values.some((v) => v === undefined)) return undefined;
  return strings.reduce((acc, s, i) => acc + s + (i < values.length ? values[i] : ''), '');
}

// ---- AppErrors ----

const UPSTREAM_CODES = new Set(['GATEWAY_UPSTREAM_ERROR', 'GATEWAY_UPSTREAM_PERMISSION', 'GATEWAY_UPSTREAM_UNAVAILABLE', 'GATEWAY_SQL_INVALID']);

/**
 * Stands in for the upstream's own error as an AppError's cause: the scrubbed text and the codes,
 * so nothing that logs or inspects the cause can reach the original message.
 */
export class ScrubbedUpstreamCause extends Error {
  readonly code?: string;
  readonly sqlState?: string;
  readonly detail?: string;
  readonly hint?: string;

  constructor(s: ScrubbedUpstreamError) {
    super(s.message);
    this.name = 'UpstreamError';
    // node-postgres reports the SQLSTATE as `code`: keep that shape for whoever reads `cause.code`.
    const code = s.code ?? s.sqlState;
    if (code) this.code = code;
    if (s.sqlState) this.sqlState = s.sqlState;
    if (s.detail) this.detail = s.detail;
    if (s.hint) this.hint = s.hint;
  }
}

/** The scrubbed upstream text an AppError carries in `details.upstream`, if any. */
export function upstreamText(e: AppError): { message: string; detail?: string; hint?: string; position?: number } | undefined {
  if (!UPSTREAM_CODES.has(e.code)) return undefined;
  const u = e.details.upstream as { message?: unknown; detail?: unknown; hint?: unknown; position?: unknown } | undefined;
  if (!u || typeof u !== 'object' || typeof u.message !== 'string') return undefined;
  return {
    message: u.message,
    ...(typeof u.detail === 'string' ? { detail: u.detail } : {}),
    ...(typeof u.hint === 'string' ? { hint: u.hint } : {}),
    ...(typeof u.position === 'number' ? { position: u.position } : {}),
  };
}

/**
 * A statement the database itself would reject, found by analysis before anything ran (a syntax
 * error, an unknown relation): answered as the database would, with its SQLSTATE, its message
 * scrubbed as an upstream error's (a syntax error quotes a token, which may be a literal) and its
 * position.
 */
export function invalidSql(failure: { sqlstate: string; message: string; position?: number }, statement: string): AppError {
  const s = scrubUpstreamError({ code: failure.sqlstate, message: failure.message, position: failure.position }, { statement });
  const upstream = { message: s.message, ...(s.position ? { position: s.position } : {}) };
  return new AppError('GATEWAY_SQL_INVALID', { message: s.message, details: { sqlstate: failure.sqlstate, upstream } });
}

/**
 * An upstream error (GATEWAY_UPSTREAM_*) whose cause is the upstream's own error, with that error
 * scrubbed: the message gains the scrubbed upstream message, `details.upstream` holds it with its
 * DETAIL and HINT, and the cause is replaced by a {@link ScrubbedUpstreamCause}. Any other error,
 * or one already scrubbed, is returned as it is.
 */
export function withScrubbedUpstream(e: AppError, statement?: string): AppError {
  if (!UPSTREAM_CODES.has(e.code) || e.details.upstream !== undefined || e.cause instanceof ScrubbedUpstreamCause) return e;
  const cause = e.cause as UpstreamErrorLike | undefined;
  if (!cause || typeof cause !== 'object' || typeof cause.message !== 'string') return e;
  const s = scrubUpstreamError(cause, statement === undefined ? {} : { statement });
  if (!s.sqlState && !s.code) return e;
  const upstream = {
    message: s.message,
    ...(s.detail ? { detail: s.detail } : {}),
    ...(s.hint ? { hint: s.hint } : {}),
    ...(s.position ? { position: s.position } : {}),
  };
  return new AppError(e.code, {
    message: `${e.message}: ${s.message}`,
    details: { ...e.details, upstream },
    cause: new ScrubbedUpstreamCause(s),
    retriable: e.retriable,
  });
}
