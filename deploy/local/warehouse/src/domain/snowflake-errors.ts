/**
 * Errors as Snowflake raises them. The SQL analyser in front of the engine and DuckDB behind it
 * report a failed statement in their own words; this is the one place where those become
 * Snowflake's code, SQLSTATE and message, placed (line, position) in the text the client sent,
 * with names as Snowflake prints them (unquoted upper case, quoted as written). Users' code and
 * the gateway's error mapping read these, as they read Snowflake's.
 *
 * DuckDB reports errors as JSON (the engine sets `errors_as_json`): its class, message, the byte
 * offset in the translated statement and, for some, the name involved. The offset is taken back to
 * the client's text through the translation's map (translate.ts). DuckDB's hints ("Candidate
 * bindings", "Did you mean") are never passed on: they list columns a role may hold no grant on.
 */
import { BindError, SQL } from '@phigate/snowflake-wire';
import { SnowflakeError } from './protocol.js';
import { type MappedText, type Tok, TranslateError, tokenize } from './translate.js';

type Code = { readonly code: string; readonly sqlState: string };

/** Snowflake's codes beyond the shared ones (SQL); the codes and messages are Snowflake's documented ones. */
export const CODES = {
  ...SQL,
  EMPTY: { code: '000900', sqlState: '42000' },
  /** A database or schema: SQLSTATE 02000 (a table: SQL.OBJECT_MISSING, 42S02). */
  CONTAINER_MISSING: { code: '002003', sqlState: '02000' },
  /** USE of an object that does not exist. */
  CANNOT_USE: { code: '002043', sqlState: '02000' },
  UNKNOWN_FUNCTION: { code: '002140', sqlState: '42601' },
  ARGUMENT_TYPES: { code: '001044', sqlState: '42P13' },
  NOT_GROUPED: { code: '001104', sqlState: '42601' },
  DIVISION_BY_ZERO: { code: '100051', sqlState: '22012' },
  BOOLEAN_VALUE: { code: '100037', sqlState: '22018' },
  NUMERIC_RANGE: { code: '100039', sqlState: '22003' },
  DATE_VALUE: { code: '100040', sqlState: '22007' },
  /** Also stands for TIME: Snowflake's own code for an unrecognised time could not be confirmed. */
  TIMESTAMP_VALUE: { code: '100035', sqlState: '22007' },
  NUMBER_OVERFLOW: { code: '100046', sqlState: '22003' },
  SCALAR_SUBQUERY_ROWS: { code: '090150', sqlState: '22000' },
} as const satisfies Record<string, Code>;

/** The message the engine's divisor check raises (translate.ts DIVISOR, engine.ts BOOTSTRAP). */
export const DIVISION_BY_ZERO_MESSAGE = 'Division by zero';

/** A statement as far as it got: the client's Snowflake text and, once translated, the DuckDB text. */
export interface Statement {
  sql: string;
  duck?: MappedText;
}

/** An engine (DuckDB) error, as read from its message. */
export interface EngineError {
  /** DuckDB's class: Parser, Binder, Catalog, Conversion, Invalid Input, Out of Range, Constraint, INTERRUPT, … */
  type: string;
  message: string;
  /** Byte offset in the translated statement. */
  position?: number;
  subtype?: string;
  /** The object a Catalog or Binder error is about, as written. */
  name?: string;
  /** A Catalog error's kind of object: Table, View, Schema, Scalar Function, … */
  entry?: string;
  /** A NO_MATCHING_FUNCTION error's call with its argument types: `upper(INTEGER_LITERAL)`. */
  call?: string;
}

const err = (c: Code, message: string, data: Record<string, unknown> = {}) => new SnowflakeError(c.code, c.sqlState, message, data);
const COMPILATION = { type: 'COMPILATION' };

/** Reads a DuckDB error message: the JSON form (`errors_as_json`), else the `<Class> Error: …` text form. */
export function readEngineError(message: string): EngineError | undefined {
  // JSON after at most a few `… Error: ` / `Failed to extract statements: ` prefixes.
  const brace = message.indexOf('{');
  if (brace >= 0 && /^(?:[A-Za-z][A-Za-z ]*: )*$/.test(message.slice(0, brace))) {
    try {
      const j = JSON.parse(message.slice(brace)) as Record<string, unknown>;
      const str = (k: string) => (typeof j[k] === 'string' ? (j[k] as string) : undefined);
      const [type, text, position] = [str('exception_type'), str('exception_message'), str('position')];
      if (type !== undefined && text !== undefined)
        return {
          type,
          message: text,
          ...(position !== undefined && /^\d+$/.test(position) ? { position: Number(position) } : {}),
          ...(str('error_subtype') ? { subtype: str('error_subtype') } : {}),
          ...(str('name') ? { name: str('name') } : {}),
          ...(str('type') ? { entry: str('type') } : {}),
          ...(str('call') ? { call: str('call') } : {}),
        };
    } catch {
      // Not JSON after all: read as text.
    }
  }
  const m = /^(?:Failed to extract statements: )?([A-Za-z][A-Za-z ]*?) Error: ([\s\S]*)$/.exec(message);
  if (!m) return undefined;
  return { type: m[1]!, message: m[2]!.replace(/\n\s*LINE \d+:[\s\S]*$/, '') };
}

/**
 * Snowflake's error for anything a statement raised: a SnowflakeError passes as it is, a bind
 * error keeps its code, an unreadable statement is a syntax error at its end, an engine error is
 * mapped (fromEngine). `stmt` places positions and names in the client's text.
 */
export function toSnowflakeError(e: unknown, stmt: Statement = { sql: '' }): SnowflakeError {
  if (e instanceof SnowflakeError) return e;
  if (e instanceof BindError) return new SnowflakeError(e.code, e.sqlState, e.message);
  if (e instanceof TranslateError) return syntaxError(stmt.sql, -1);
  const x = e as { message?: unknown; bindMismatch?: boolean };
  const message = String(x?.message ?? e);
  if (x?.bindMismatch) return err(CODES.BIND_MISMATCH, message);
  const engine = readEngineError(message);
  return engine ? fromEngine(engine, stmt) : internal(message);
}

/** A DuckDB error in Snowflake's terms. */
export function fromEngine(e: EngineError, stmt: Statement): SnowflakeError {
  const at = sourceOffset(e.position, stmt);
  const first = e.message.split('\n', 1)[0]!.trim();
  switch (e.type) {
    case 'Parser':
      return syntaxError(stmt.sql, at ?? parserTokenOffset(first, stmt.sql));
    case 'Catalog': {
      const entry = e.entry ?? /^(\w[\w ]*?) with name /.exec(first)?.[1] ?? '';
      if (e.subtype === 'MISSING_ENTRY' || /does not exist!$/.test(first)) {
        const name = nameAt(stmt.sql, at) ?? (e.name ? folded(e.name) : undefined);
        if (/Function|Macro/.test(entry) && name) return err(CODES.UNKNOWN_FUNCTION, `SQL compilation error:\nUnknown function ${name}`, COMPILATION);
        if (/^(Table|View)$/.test(entry) && name) return objectMissing(name);
        if (entry === 'Schema' && name) return err(CODES.CONTAINER_MISSING, `SQL compilation error:\nSchema '${name}' does not exist or not authorized.`);
      }
      return compilation(first, stmt.sql, at);
    }
    case 'Binder': {
      const column = e.subtype === 'COLUMN_NOT_FOUND' ? e.name : /does not have a column (?:named|with name) "([^"]*)"/.exec(first)?.[1];
      if (column !== undefined) {
        const place = at ?? findName(stmt.sql, column);
        return positioned(CODES.INVALID_IDENTIFIER, `invalid identifier '${nameAt(stmt.sql, place) ?? folded(column)}'`, stmt.sql, place);
      }
      if (e.subtype === 'NO_MATCHING_FUNCTION' && e.call) {
        const fn = e.name && /^\w+$/.test(e.name) ? e.name.toUpperCase() : (e.name ?? '');
        return positioned(CODES.ARGUMENT_TYPES, `Invalid argument types for function '${fn}': (${argumentTypes(e.call)})`, stmt.sql, at);
      }
      const ungrouped = /^column "([^"]*)" must appear in the GROUP BY clause/.exec(first);
      if (ungrouped) {
        const name = nameAt(stmt.sql, at) ?? folded(ungrouped[1]!);
        return positioned(CODES.NOT_GROUPED, `'${name}' in select clause is neither an aggregate nor in the group by clause.`, stmt.sql, at);
      }
      const catalog = /^Catalog "([^"]*)" does not exist!/.exec(first);
      if (catalog) return err(CODES.CONTAINER_MISSING, `SQL compilation error:\nDatabase '${folded(catalog[1]!)}' does not exist or not authorized.`);
      return compilation(first, stmt.sql, at);
    }
    case 'Not implemented':
      return err(CODES.UNSUPPORTED, `SQL compilation error:\nUnsupported feature '${first}'.`, COMPILATION);
    case 'Conversion':
    case 'Invalid Input':
    case 'Out of Range':
      return valueError(first) ?? (e.type === 'Conversion' ? err(CODES.NUMERIC_VALUE, first) : internal(first));
    case 'Constraint':
      return err(CODES.CONSTRAINT, /^NOT NULL constraint failed/.test(first) ? 'NULL result in a non-nullable column' : first);
    case 'INTERRUPT':
    case 'Interrupt':
      return err(CODES.CANCELED, 'SQL execution canceled');
    default:
      return internal(first);
  }
}

/**
 * A statement the SQL analyser could not follow (`error`, its reason), when Snowflake would name
 * the reason itself: a table, schema or database that is not there. Anything else is undefined:
 * the caller has the engine parse the statement to find a syntax error.
 */
export function fromAnalyser(error: string, sql: string, ctx: { database: string; hasSchema(schema: string): boolean }): SnowflakeError | undefined {
  const unknown = /does not know the table (.+)$/.exec(error);
  if (unknown) {
    const dot = unknown[1]!.indexOf('.');
    const [schema, table] = dot < 0 ? [undefined, unknown[1]!] : [unknown[1]!.slice(0, dot), unknown[1]!.slice(dot + 1)];
    const ref = tableReference(sql, schema, table);
    if (ref && ref.length > 1 && !ctx.hasSchema(plain(ref.at(-2)!))) {
      const db = ref.length > 2 ? display(ref[0]!) : ctx.database;
      return err(CODES.CONTAINER_MISSING, `SQL compilation error:\nSchema '${db}.${display(ref.at(-2)!)}' does not exist or not authorized.`);
    }
    return objectMissing(ref ? ref.map(display).join('.') : unknown[1]!);
  }
  const other = /another database: ([^.\s]+)/.exec(error);
  if (other) return err(CODES.CONTAINER_MISSING, `SQL compilation error:\nDatabase '${other[1]}' does not exist or not authorized.`);
  return undefined;
}

/** `syntax error line L at position P unexpected 'T'.` at offset `at` of `sql` (-1 or past the last token: at its end). */
export function syntaxError(sql: string, at: number): SnowflakeError {
  const end = statementEnd(sql);
  let place = end;
  let token = '<EOF>';
  if (at >= 0 && at < end) {
    const t = tokenFrom(sql, at);
    if (t) [place, token] = [t.pos, t.text.length > 100 ? t.text.slice(0, 100) : t.text];
  }
  const { line, column } = lineAndColumn(sql, place);
  return err(CODES.SYNTAX, `SQL compilation error:\nsyntax error line ${line} at position ${column} unexpected '${token}'.`, COMPILATION);
}

function objectMissing(name: string): SnowflakeError {
  return err(CODES.OBJECT_MISSING, `SQL compilation error:\nObject '${name}' does not exist or not authorized.`, COMPILATION);
}

/** `SQL compilation error: error line L at position P` then the message, as Snowflake places an error in the statement. */
function positioned(c: Code, message: string, sql: string, at: number | undefined): SnowflakeError {
  if (at === undefined || at < 0) return err(c, `SQL compilation error:\n${message}`, COMPILATION);
  const { line, column } = lineAndColumn(sql, at);
  return err(c, `SQL compilation error: error line ${line} at position ${column}\n${message}`, COMPILATION);
}

/** Any other compilation error: DuckDB's first line, placed. */
function compilation(first: string, sql: string, at: number | undefined): SnowflakeError {
  return positioned(CODES.SYNTAX, first, sql, at);
}

function internal(message: string): SnowflakeError {
  return err(CODES.INTERNAL, `SQL execution internal error:\n${message.replace(/\n\s*LINE \d+:[\s\S]*$/, '').slice(0, 300)}`, { type: 'EXECUTION' });
}

const DUCK_NUMERIC = /^(?:U?(?:TINY|SMALL|BIG|HUGE)?INT(?:8|16|32|64|128)?|INTEGER|DECIMAL\(\d+,\d+\)|DOUBLE|FLOAT|BIGNUM|VARINT)$/;

/** The value errors of execution: conversions, ranges, division by zero, a scalar subquery's rows. */
function valueError(first: string): SnowflakeError | undefined {
  if (first === DIVISION_BY_ZERO_MESSAGE) return err(CODES.DIVISION_BY_ZERO, DIVISION_BY_ZERO_MESSAGE);
  const convert = /^Could not convert string (['"])([\s\S]*)\1 to ([A-Z][A-Z0-9_]*(?:\(\d+,\d+\))?)/.exec(first);
  if (convert) {
    const [value, to] = [convert[2]!.trim(), convert[3]!];
    if (to === 'BOOL' || to === 'BOOLEAN') return err(CODES.BOOLEAN_VALUE, `Boolean value '${value}' is not recognized`);
    if (to === 'DATE') return err(CODES.DATE_VALUE, `Date '${value}' is not recognized`);
    if (to.startsWith('TIMESTAMP')) return err(CODES.TIMESTAMP_VALUE, `Timestamp '${value}' is not recognized`);
    if (to === 'TIME') return err(CODES.TIMESTAMP_VALUE, `Time '${value}' is not recognized`);
    if (DUCK_NUMERIC.test(to)) return err(CODES.NUMERIC_VALUE, `Numeric value '${value}' is not recognized`);
    return undefined;
  }
  const temporal =
    /^(date|time|timestamp) field value out of range: "([\s\S]*?)"(?:, expected format is [\s\S]*)?$/.exec(first) ??
    /^invalid (date|time|timestamp) field format: "([\s\S]*?)"(?:, expected format is [\s\S]*)?$/.exec(first);
  if (temporal) {
    const [kind, value] = [temporal[1]!, temporal[2]!.trim()];
    if (kind === 'date') return err(CODES.DATE_VALUE, `Date '${value}' is not recognized`);
    return err(CODES.TIMESTAMP_VALUE, `${kind === 'time' ? 'Time' : 'Timestamp'} '${value}' is not recognized`);
  }
  const range =
    /^Casting value "([\s\S]*)" to type [^"]+ failed: value is out of range!$/.exec(first) ??
    /^Type \w+ with value ([\s\S]*) can't be cast because the value is out of range for the destination type \w+/.exec(first) ??
    /^Could not cast value ([\s\S]*) to (?:DECIMAL|U?(?:TINY|SMALL|BIG|HUGE)?INT)/.exec(first);
  if (range) return err(CODES.NUMERIC_RANGE, `Numeric value '${range[1]!.trim()}' is out of range`);
  if (/^Overflow in (?:addition|subtraction|multiplication|division)/.test(first)) return err(CODES.NUMBER_OVERFLOW, 'Number out of representable range');
  if (/^More than one row returned by a subquery used as an expression/.test(first))
    return err(CODES.SCALAR_SUBQUERY_ROWS, 'Single-row subquery returns more than one row.');
  return undefined;
}

/** DuckDB argument types as Snowflake names them, for an argument-types error. */
function argumentTypes(call: string): string {
  const inner = /\(([\s\S]*)\)$/.exec(call)?.[1] ?? '';
  if (!inner.trim()) return '';
  return inner
    .split(/,\s*(?![^()]*\))/)
    .map((t) => {
      const x = t.trim();
      const decimal = /^DECIMAL\((\d+),\s*(\d+)\)$/.exec(x);
      if (decimal) return `NUMBER(${decimal[1]},${decimal[2]})`;
      if (/^(INTEGER_LITERAL|U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?)$/.test(x)) return 'NUMBER(38,0)';
      if (/^(DOUBLE|FLOAT)$/.test(x)) return 'FLOAT';
      if (/^(VARCHAR|STRING_LITERAL)$/.test(x)) return 'VARCHAR';
      if (x === 'TIMESTAMP') return 'TIMESTAMP_NTZ';
      if (x === 'TIMESTAMP WITH TIME ZONE') return 'TIMESTAMP_LTZ';
      if (x === 'BLOB') return 'BINARY';
      if (x === 'JSON') return 'VARIANT';
      return x;
    })
    .join(', ');
}

// ---- places and names in the client's text --------------------------------------------------

/** The offset in the client's text of DuckDB's byte offset in the translation (-1: its end; undefined: not known). */
function sourceOffset(bytes: number | undefined, stmt: Statement): number | undefined {
  if (bytes === undefined || !stmt.duck) return undefined;
  const chars = Buffer.from(stmt.duck.text, 'utf8').subarray(0, bytes).toString('utf8').length;
  return stmt.duck.source(chars);
}

/** Where the token DuckDB names in `syntax error at or near "X"` is (no position given), else the end. */
function parserTokenOffset(first: string, sql: string): number {
  const near = /at or near "([\s\S]*)"$/.exec(first)?.[1];
  const t = near === undefined ? undefined : tokens(sql).find((x) => x.text === near || x.text.toUpperCase() === near.toUpperCase());
  return t ? t.pos : -1;
}

function tokens(sql: string): Tok[] {
  try {
    return tokenize(sql);
  } catch {
    return [];
  }
}

const significant = (t: Tok) => t.kind !== 'ws' && t.kind !== 'comment';

/** The token at or (past white space and comments) after offset `at`. */
function tokenFrom(sql: string, at: number): Tok | undefined {
  const all = tokens(sql);
  const i = all.findIndex((t) => t.pos + t.text.length > at);
  if (i < 0) return undefined;
  return all.slice(i).find(significant);
}

/** Where the statement ends: before trailing white space, comments and semicolons. */
function statementEnd(sql: string): number {
  const all = tokens(sql).filter(significant);
  for (let i = all.length - 1; i >= 0; i--) if (all[i]!.text !== ';') return all[i]!.pos + all[i]!.text.length;
  return sql.trimEnd().length;
}

/** 1-based line and 0-based position in the line, as Snowflake counts them. */
export function lineAndColumn(sql: string, at: number): { line: number; column: number } {
  const before = sql.slice(0, Math.max(0, at));
  const lines = before.split('\n');
  return { line: lines.length, column: lines.at(-1)!.length };
}

const isName = (t: Tok | undefined): t is Tok => t?.kind === 'word' || t?.kind === 'qident';
const isDot = (t: Tok | undefined) => t?.kind === 'op' && t.text === '.';

/** A name part as resolved: unquoted folds to upper case, quoted stays as written. */
function plain(t: Tok): string {
  return t.kind === 'qident' ? t.text.slice(1, -1).replace(/""/g, '"') : t.text.toUpperCase();
}

/** A name part as Snowflake prints it: bare when it reads the same unquoted, else quoted. */
function display(t: Tok): string {
  const p = plain(t);
  return /^[A-Z_][A-Z0-9_$]*$/.test(p) ? p : `"${p.replace(/"/g, '""')}"`;
}

/** A name DuckDB reports (as written, quotes gone) as Snowflake prints an unquoted one. */
function folded(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_$]*$/.test(name) ? name.toUpperCase() : `"${name.replace(/"/g, '""')}"`;
}

/** The dotted name (`a.b.c`) that the token at or after `at` belongs to, printed as Snowflake prints it. */
function nameAt(sql: string, at: number | undefined): string | undefined {
  if (at === undefined || at < 0) return undefined;
  const all = tokens(sql);
  let i = all.findIndex((t) => t.pos + t.text.length > at && significant(t));
  if (i < 0 || !isName(all[i])) return undefined;
  while (isDot(all[i - 1]) && isName(all[i - 2])) i -= 2;
  const parts = [all[i]!];
  for (let j = i + 1; isDot(all[j]) && isName(all[j + 1]); j += 2) parts.push(all[j + 1]!);
  return parts.map(display).join('.');
}

/** The first place the client's text names `name` (as DuckDB reports it: quotes gone, case as written). */
function findName(sql: string, name: string): number | undefined {
  const t = tokens(sql).find((x) => isName(x) && (x.kind === 'word' ? x.text.toUpperCase() === name.toUpperCase() : plain(x) === name));
  return t?.pos;
}

/** The parts of the first reference to `schema.table` in the client's text (schema undefined: any). */
function tableReference(sql: string, schema: string | undefined, table: string): Tok[] | undefined {
  const all = tokens(sql).filter(significant);
  for (let i = 0; i < all.length; i++) {
    if (!isName(all[i]) || plain(all[i]!) !== table || isDot(all[i + 1])) continue;
    const parts = [all[i]!];
    for (let j = i - 1; isDot(all[j]) && isName(all[j - 1]) && parts.length < 3; j -= 2) parts.unshift(all[j - 1]!);
    if (parts.length === 1 || schema === undefined || plain(parts.at(-2)!) === schema) return parts;
  }
  return undefined;
}
