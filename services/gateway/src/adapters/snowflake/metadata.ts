// The Snowflake door's metadata statements, filtered by policy (issue 16, item 3; docs/adr/0009).
// SHOW DATABASES/SCHEMAS/TABLES/VIEWS/OBJECTS/COLUMNS/… KEYS and DESCRIBE TABLE|VIEW are answered
// here, in Snowflake's result shapes, from the warehouse's INFORMATION_SCHEMA.COLUMNS read as the
// mapped role (so the warehouse's grants filter it) and kept to the tables policy would let the
// identity read (each decided as `SELECT * FROM <table>`). A statement naming INFORMATION_SCHEMA
// views runs on the warehouse with each view replaced by the same policy-filtered subquery. Either
// way the client's statement is decided and recorded as any other, and what is read runs through
// the normal execute path (recorded, masked).
import { AppError, isAppError } from '@phigate/errors';
import { UNKNOWN_STATEMENT_RULE } from '@phigate/model';
import type { Prepared, QueryOutcome, QueryRequest, QueryResult, QueryService } from '../../domain/query-service.js';
import { failed } from '../../domain/results.js';
import type { Cell, ResultColumn } from '../../domain/types.js';

// ── tokens ─────────────────────────────────────────────────────────────────────────────────────

export interface Tok {
  type: 'word' | 'qident' | 'string' | 'number' | 'op';
  text: string;
  /** The value: an identifier as Snowflake resolves it (unquoted: upper case), a string unquoted. */
  value: string;
  start: number;
  end: number;
}

/** Tokens of a Snowflake statement, comments dropped (enough for SHOW, DESCRIBE and view references). */
export function tokenize(sql: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if ((c === '-' && sql[i + 1] === '-') || (c === '/' && sql[i + 1] === '/')) {
      const e = sql.indexOf('\n', i);
      i = e < 0 ? sql.length : e + 1;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const e = sql.indexOf('*/', i + 2);
      i = e < 0 ? sql.length : e + 2;
      continue;
    }
    const start = i;
    if (c === "'" || c === '"') {
      let v = '';
      i++;
      while (i < sql.length) {
        if (sql[i] === c && sql[i + 1] === c) {
          v += c;
          i += 2;
        } else if (sql[i] === c) {
          i++;
          break;
        } else if (c === "'" && sql[i] === '\\' && i + 1 < sql.length) {
          v += sql[i + 1];
          i += 2;
        } else v += sql[i++];
      }
      out.push({ type: c === "'" ? 'string' : 'qident', text: sql.slice(start, i), value: v, start, end: i });
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      while (i < sql.length && /[A-Za-z0-9_$]/.test(sql[i]!)) i++;
      const text = sql.slice(start, i);
      out.push({ type: 'word', text, value: text.toUpperCase(), start, end: i });
      continue;
    }
    if (/[0-9]/.test(c)) {
      while (i < sql.length && /[0-9.]/.test(sql[i]!)) i++;
      const text = sql.slice(start, i);
      out.push({ type: 'number', text, value: text, start, end: i });
      continue;
    }
    i++;
    out.push({ type: 'op', text: c, value: c, start, end: i });
  }
  return out;
}

const isWord = (t: Tok | undefined, ...w: string[]): boolean => t?.type === 'word' && w.includes(t.value);
const isName = (t: Tok | undefined): boolean => t?.type === 'word' || t?.type === 'qident';

// ── statements ─────────────────────────────────────────────────────────────────────────────────

export const SHOW_KINDS = ['DATABASES', 'SCHEMAS', 'TABLES', 'VIEWS', 'OBJECTS', 'COLUMNS', 'PRIMARY KEYS', 'UNIQUE KEYS', 'IMPORTED KEYS'] as const;
export type ShowKind = (typeof SHOW_KINDS)[number];

/** Where a SHOW looks: the account, a database, a schema, or one table. */
export interface Scope {
  level: 'account' | 'database' | 'schema' | 'table';
  database?: string;
  schema?: string;
  table?: string;
}

export type MetadataStatement =
  | { type: 'show'; kind: ShowKind; terse: boolean; like?: string; scope: Scope; startsWith?: string; limit?: number; from?: string }
  | { type: 'describe'; table: { database?: string; schema?: string; name: string } }
  | { type: 'information_schema' };

const VIEW_NAMES = new Set(['TABLES', 'COLUMNS', 'SCHEMATA', 'VIEWS']);

/**
 * The metadata statement `sql` is, or undefined for any other (and for a SHOW or DESCRIBE this
 * module does not answer, which then takes the ordinary path: analysed, and refused when unknown).
 */
export function classify(sql: string): MetadataStatement | undefined {
  const t = tokenize(sql);
  while (t.length && t[t.length - 1]!.type === 'op' && t[t.length - 1]!.text === ';') t.pop();
  if (isWord(t[0], 'SHOW')) return parseShow(t);
  if (isWord(t[0], 'DESCRIBE', 'DESC')) return parseDescribe(t);
  if (isWord(t[0], 'SELECT', 'WITH') && viewRefs(t).length > 0) return { type: 'information_schema' };
  return undefined;
}

/** A dotted name from t[k]: its parts and the index after it. */
function dotted(t: Tok[], k: number): { parts: string[]; end: number } | undefined {
  if (!isName(t[k])) return undefined;
  const parts = [t[k]!.value];
  let i = k + 1;
  while (t[i]?.text === '.' && isName(t[i + 1])) {
    parts.push(t[i + 1]!.value);
    i += 2;
  }
  return { parts, end: i };
}

function parseShow(t: Tok[]): MetadataStatement | undefined {
  let k = 1;
  const terse = isWord(t[k], 'TERSE');
  if (terse) k++;
  let kind: ShowKind | undefined;
  if (isWord(t[k], 'PRIMARY', 'UNIQUE', 'IMPORTED') && isWord(t[k + 1], 'KEYS')) {
    kind = `${t[k]!.value} KEYS` as ShowKind;
    k += 2;
  } else if (t[k]?.type === 'word' && (SHOW_KINDS as readonly string[]).includes(t[k]!.value)) {
    kind = t[k]!.value as ShowKind;
    k++;
  }
  if (!kind) return undefined;
  const out: Extract<MetadataStatement, { type: 'show' }> = { type: 'show', kind, terse, scope: { level: 'schema' } };
  let scoped = false;
  while (k < t.length) {
    if (isWord(t[k], 'LIKE') && t[k + 1]?.type === 'string') {
      out.like = t[k + 1]!.value;
      k += 2;
    } else if (isWord(t[k], 'IN')) {
      k++;
      scoped = true;
      if (isWord(t[k], 'ACCOUNT')) {
        out.scope = { level: 'account' };
        k++;
        continue;
      }
      let level: Scope['level'] | undefined;
      if (isWord(t[k], 'DATABASE')) level = 'database';
      else if (isWord(t[k], 'SCHEMA')) level = 'schema';
      else if (isWord(t[k], 'TABLE', 'VIEW')) level = 'table';
      if (level) k++;
      const n = dotted(t, k);
      if (!n) {
        if (level === 'database' || level === 'schema') {
          out.scope = { level };
          continue;
        }
        return undefined;
      }
      k = n.end;
      const p = n.parts;
      const lvl = level ?? (p.length === 1 ? 'database' : p.length === 2 ? 'schema' : 'table');
      if (lvl === 'database' && p.length === 1) out.scope = { level: lvl, database: p[0] };
      else if (lvl === 'schema' && p.length <= 2) out.scope = { level: lvl, ...(p.length === 2 ? { database: p[0] } : {}), schema: p.at(-1) };
      else if (lvl === 'table' && p.length <= 3)
        out.scope = {
          level: lvl,
          ...(p.length === 3 ? { database: p[0] } : {}),
          ...(p.length >= 2 ? { schema: p.at(-2) } : {}),
          table: p.at(-1),
        };
      else return undefined;
    } else if (isWord(t[k], 'STARTS') && isWord(t[k + 1], 'WITH') && t[k + 2]?.type === 'string') {
      out.startsWith = t[k + 2]!.value;
      k += 3;
    } else if (isWord(t[k], 'LIMIT') && t[k + 1]?.type === 'number') {
      out.limit = Number(t[k + 1]!.value);
      k += 2;
      if (isWord(t[k], 'FROM') && t[k + 1]?.type === 'string') {
        out.from = t[k + 1]!.value;
        k += 2;
      }
    } else if (isWord(t[k], 'HISTORY')) k++;
    else return undefined;
  }
  // Without IN: SCHEMAS of the current database, DATABASES of the account, the rest of the current schema.
  if (!scoped) out.scope = { level: kind === 'SCHEMAS' ? 'database' : kind === 'DATABASES' ? 'account' : 'schema' };
  return out;
}

function parseDescribe(t: Tok[]): MetadataStatement | undefined {
  if (!isWord(t[1], 'TABLE', 'VIEW')) return undefined;
  const n = dotted(t, 2);
  if (!n || n.parts.length > 3) return undefined;
  let k = n.end;
  if (isWord(t[k], 'TYPE') && t[k + 1]?.text === '=' && isWord(t[k + 2], 'COLUMNS')) k += 3;
  if (k !== t.length) return undefined;
  const p = n.parts;
  return {
    type: 'describe',
    table: { ...(p.length === 3 ? { database: p[0] } : {}), ...(p.length >= 2 ? { schema: p.at(-2) } : {}), name: p.at(-1)! },
  };
}

/** References to `[db.]INFORMATION_SCHEMA.<view>`: their token span, database and view. */
export function viewRefs(t: Tok[]): Array<{ from: number; to: number; database?: string; view: string }> {
  const out: Array<{ from: number; to: number; database?: string; view: string }> = [];
  for (let i = 0; i < t.length; i++) {
    if (!(isName(t[i]) && t[i]!.value === 'INFORMATION_SCHEMA' && t[i + 1]?.text === '.' && isName(t[i + 2]))) continue;
    const view = t[i + 2]!.value;
    if (!VIEW_NAMES.has(view)) continue;
    const qualified = i >= 2 && t[i - 1]?.text === '.' && isName(t[i - 2]);
    out.push({ from: qualified ? i - 2 : i, to: i + 2, ...(qualified ? { database: t[i - 2]!.value } : {}), view });
  }
  return out;
}

// ── what an identity may see ───────────────────────────────────────────────────────────────────

export interface TableRef {
  database: string;
  schema: string;
  name: string;
}

const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Words after a view reference that are not its alias. */
const NOT_ALIAS = new Set([
  'WHERE',
  'ORDER',
  'GROUP',
  'HAVING',
  'LIMIT',
  'JOIN',
  'INNER',
  'LEFT',
  'RIGHT',
  'FULL',
  'CROSS',
  'NATURAL',
  'ON',
  'USING',
  'UNION',
  'EXCEPT',
  'INTERSECT',
  'MINUS',
  'QUALIFY',
  'OFFSET',
  'FETCH',
  'WINDOW',
  'LATERAL',
]);

/** The filter that keeps INFORMATION_SCHEMA rows to the visible tables. */
export function visibleFilter(visible: readonly TableRef[]): string {
  if (visible.length === 0) return '1 = 0';
  const bySchema = new Map<string, string[]>();
  for (const v of visible) bySchema.set(v.schema, [...(bySchema.get(v.schema) ?? []), v.name]);
  return `(${[...bySchema].map(([s, names]) => `(TABLE_SCHEMA = ${literal(s)} AND TABLE_NAME IN (${names.map(literal).join(', ')}))`).join(' OR ')})`;
}

/** The filter on one INFORMATION_SCHEMA view that keeps it to the visible tables (SCHEMATA: to their schemas). */
function viewFilter(view: string, visible: readonly TableRef[]): string {
  if (view !== 'SCHEMATA') return `TABLE_SCHEMA <> 'INFORMATION_SCHEMA' AND ${visibleFilter(visible)}`;
  const schemas = [...new Set(visible.map((v) => v.schema))];
  return schemas.length ? `SCHEMA_NAME IN (${schemas.map(literal).join(', ')})` : '1 = 0';
}

const CLAUSE_AFTER_WHERE = new Set(['GROUP', 'HAVING', 'QUALIFY', 'ORDER', 'LIMIT', 'OFFSET', 'FETCH', 'WINDOW']);

/**
 * A single SELECT over one view and nothing else (what tools send: `SELECT … FROM
 * information_schema.columns ic WHERE … ORDER BY …`): the filter joins its WHERE, so its result
 * columns still trace to the view's columns (masking by provenance). Undefined for anything else.
 */
function injectWhere(sql: string, t: Tok[], r: { from: number; to: number; view: string }, visible: readonly TableRef[]): string | undefined {
  let depth = 0;
  const top = new Set<number>();
  for (let i = 0; i < t.length; i++) {
    if (t[i]!.text === '(') depth++;
    else if (t[i]!.text === ')') depth--;
    else if (depth === 0) top.add(i);
  }
  if (depth !== 0 || !isWord(t[0], 'SELECT') || !isWord(t[r.from - 1], 'FROM') || !top.has(r.from)) return undefined;
  if (t.some((x, i) => top.has(i) && isWord(x, 'UNION', 'EXCEPT', 'INTERSECT', 'MINUS'))) return undefined;
  let k = r.to + 1;
  if (isWord(t[k], 'AS')) k++;
  if (isName(t[k]) && !(t[k]!.type === 'word' && (NOT_ALIAS.has(t[k]!.value) || CLAUSE_AFTER_WHERE.has(t[k]!.value)))) k++;
  // The clause after the WHERE (or where a WHERE goes): the first top-level clause keyword, a final `;`, or the end.
  let e = k;
  while (e < t.length && !(top.has(e) && t[e]!.type === 'word' && CLAUSE_AFTER_WHERE.has(t[e]!.value)) && t[e]!.text !== ';') e++;
  const end = e < t.length ? t[e]!.start : sql.length;
  const filter = `(${viewFilter(r.view, visible)})`;
  // The newline: a line comment ending the client's condition must not swallow the closing parenthesis.
  if (isWord(t[k], 'WHERE')) return `${sql.slice(0, t[k]!.start)}WHERE ${filter} AND (${sql.slice(t[k]!.end, end).trim()}\n) ${sql.slice(end)}`.trimEnd();
  // Anything else after the view (a join, another table) is not this simple form.
  if (k !== e) return undefined;
  return `${sql.slice(0, end).trimEnd()} WHERE ${filter} ${sql.slice(end)}`.trimEnd();
}

/**
 * `sql` with each INFORMATION_SCHEMA view it names kept to the visible tables: in a single SELECT
 * over one view, by joining its WHERE; otherwise by replacing each view with a filtered subquery of
 * it (under the view's name when the statement gave it no alias), whose result columns then have no
 * provenance and are masked when the identity has masks (fail closed).
 */
export function rewriteViews(sql: string, database: string, visible: readonly TableRef[]): string {
  const t = tokenize(sql);
  const refs = viewRefs(t);
  if (refs.length === 1 && (refs[0]!.database === undefined || refs[0]!.database === database)) {
    const injected = injectWhere(sql, t, refs[0]!, visible);
    if (injected !== undefined) return injected;
  }
  let out = '';
  let at = 0;
  for (const r of refs) {
    const view = `${quote(r.database ?? database)}.INFORMATION_SCHEMA.${r.view}`;
    const next = t[r.to + 1];
    const aliased = isWord(next, 'AS') || (isName(next) && !(next!.type === 'word' && NOT_ALIAS.has(next!.value)));
    out += `${sql.slice(at, t[r.from]!.start)}(SELECT * FROM ${view} WHERE ${viewFilter(r.view, visible)})${aliased ? '' : ` AS ${r.view}`}`;
    at = t[r.to]!.end;
  }
  return out + sql.slice(at);
}

// ── answers ────────────────────────────────────────────────────────────────────────────────────

/** One column as the warehouse's INFORMATION_SCHEMA.COLUMNS describes it. */
export interface ColumnInfo {
  database: string;
  schema: string;
  table: string;
  column: string;
  position: number;
  dataType: string;
  charLength: number | null;
  precision: number | null;
  scale: number | null;
  datetimePrecision: number | null;
  nullable: boolean;
  default: string | null;
}

const COLUMNS_SQL = (db: string) =>
  'SELECT TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, ' +
  `NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, IS_NULLABLE, COLUMN_DEFAULT FROM ${quote(db)}.INFORMATION_SCHEMA.COLUMNS ` +
  "WHERE TABLE_SCHEMA <> 'INFORMATION_SCHEMA' ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION";

function toColumnInfo(r: Cell[]): ColumnInfo {
  const n = (v: Cell | undefined) => (v === null || v === undefined || v === '' ? null : Number(v));
  return {
    database: r[0] ?? '',
    schema: r[1] ?? '',
    table: r[2] ?? '',
    column: r[3] ?? '',
    position: Number(r[4]),
    dataType: (r[5] ?? 'TEXT').toUpperCase(),
    charLength: n(r[6]),
    precision: n(r[7]),
    scale: n(r[8]),
    datetimePrecision: n(r[9]),
    nullable: (r[10] ?? 'YES').toUpperCase() === 'YES',
    default: r[11] ?? null,
  };
}

/** Snowflake's SQL type text of a column (DESCRIBE's `type`). */
export function sqlType(c: ColumnInfo): string {
  switch (c.dataType) {
    case 'NUMBER':
      return `NUMBER(${c.precision ?? 38},${c.scale ?? 0})`;
    case 'TEXT':
      return `VARCHAR(${c.charLength ?? 16777216})`;
    case 'TIME':
    case 'TIMESTAMP_NTZ':
    case 'TIMESTAMP_LTZ':
    case 'TIMESTAMP_TZ':
      return `${c.dataType}(${c.datetimePrecision ?? 9})`;
    default:
      return c.dataType;
  }
}

/** SHOW COLUMNS' `data_type`: the JSON the JDBC driver parses. */
export function typeJson(c: ColumnInfo): string {
  switch (c.dataType) {
    case 'NUMBER':
      return JSON.stringify({ type: 'FIXED', precision: c.precision ?? 38, scale: c.scale ?? 0, nullable: c.nullable });
    case 'FLOAT':
      return JSON.stringify({ type: 'REAL', nullable: c.nullable });
    case 'TEXT': {
      const length = c.charLength ?? 16777216;
      return JSON.stringify({ type: 'TEXT', length, byteLength: Math.min(length * 4, 16777216), nullable: c.nullable, fixed: false });
    }
    case 'TIME':
    case 'TIMESTAMP_NTZ':
    case 'TIMESTAMP_LTZ':
    case 'TIMESTAMP_TZ':
      return JSON.stringify({ type: c.dataType, precision: 0, scale: c.datetimePrecision ?? 9, nullable: c.nullable });
    default:
      return JSON.stringify({ type: c.dataType, nullable: c.nullable });
  }
}

const EPOCH = '1970-01-01 00:00:00.000';
const text = (name: string): ResultColumn => ({ name, type: 'text', nullable: true });
const num = (name: string): ResultColumn => ({ name, type: 'fixed', precision: 38, scale: 0, nullable: true });
const ltz = (name: string): ResultColumn => ({ name, type: 'timestamp_ltz', precision: 0, scale: 3, nullable: true });

function shape(names: string): ResultColumn[] {
  return names.split(' ').map((n) => {
    const [name, t] = n.split(':') as [string, string | undefined];
    return t === 'n' ? num(name) : t === 'ts' ? ltz(name) : text(name);
  });
}

/** Snowflake's SHOW and DESCRIBE result columns, in its order. */
export const SHAPES = {
  DATABASES: shape('created_on:ts name is_default is_current origin owner comment options retention_time kind budget owner_role_type'),
  SCHEMAS: shape('created_on:ts name is_default is_current database_name owner comment options retention_time owner_role_type budget'),
  TABLES: shape(
    'created_on:ts name database_name schema_name kind comment cluster_by rows:n bytes:n owner retention_time automatic_clustering change_tracking ' +
      'search_optimization search_optimization_progress search_optimization_bytes:n is_external enable_schema_evolution owner_role_type is_event ' +
      'budget is_hybrid is_iceberg is_dynamic is_immutable',
  ),
  VIEWS: shape('created_on:ts name reserved database_name schema_name owner comment text is_secure is_materialized owner_role_type change_tracking'),
  OBJECTS: shape(
    'created_on:ts name database_name schema_name kind comment cluster_by rows:n bytes:n owner retention_time owner_role_type budget is_hybrid is_dynamic is_iceberg',
  ),
  TERSE: shape('created_on:ts name kind database_name schema_name'),
  COLUMNS: shape('table_name schema_name column_name data_type null? default kind expression comment database_name autoincrement schema_evolution_record'),
  'PRIMARY KEYS': shape('created_on:ts database_name schema_name table_name column_name key_sequence:n constraint_name rely comment'),
  'UNIQUE KEYS': shape('created_on:ts database_name schema_name table_name column_name key_sequence:n constraint_name rely comment'),
  'IMPORTED KEYS': shape(
    'created_on:ts pk_database_name pk_schema_name pk_table_name pk_column_name fk_database_name fk_schema_name fk_table_name fk_column_name ' +
      'key_sequence:n update_rule delete_rule fk_name pk_name deferrability rely comment',
  ),
  DESCRIBE: shape('name type kind null? default primary_key unique_key check expression comment policy_name privacy_domain').map((c) => ({
    ...c,
    name: c.name.includes('_') ? c.name.replace('_', ' ') : c.name,
  })),
} as const;

/** Snowflake's LIKE in SHOW: case-insensitive, % and _ . */
export function likeMatches(pattern: string | undefined, name: string): boolean {
  if (pattern === undefined) return true;
  const re = pattern
    .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    .replaceAll('%', '.*')
    .replaceAll('_', '.');
  return new RegExp(`^${re}$`, 'is').test(name);
}

/** The session's context for unqualified names. */
export interface Context {
  database: string;
  schema: string;
}

/**
 * The rows of a SHOW, from the visible columns. Comments are never served (a comment is free text
 * that no masking rule covers; it could hold PHI): `comment` is NULL. Owners are not served either.
 */
export function showRows(
  s: Extract<MetadataStatement, { type: 'show' }>,
  cols: readonly ColumnInfo[],
  ctx: Context,
): { columns: ResultColumn[]; rows: Cell[][] } {
  const db = s.scope.database ?? ctx.database;
  const inScope = (c: ColumnInfo) =>
    (s.scope.level === 'account' || c.database === db) &&
    (s.scope.level === 'account' || s.scope.level === 'database' || c.schema === (s.scope.schema ?? ctx.schema)) &&
    (s.scope.level !== 'table' || c.table === s.scope.table);
  const scoped = cols.filter(inScope);
  const tables = [...new Map(scoped.map((c) => [`${c.database}.${c.schema}.${c.table}`, c])).values()];
  let columns: ResultColumn[];
  let rows: Cell[][];
  let name: (r: Cell[]) => string;
  switch (s.kind) {
    case 'DATABASES': {
      columns = SHAPES.DATABASES;
      const dbs = [...new Set(cols.map((c) => c.database))];
      rows = dbs.map((d) => [EPOCH, d, d === ctx.database ? 'Y' : 'N', d === ctx.database ? 'Y' : 'N', '', '', null, '', '1', 'STANDARD', null, 'ROLE']);
      name = (r) => r[1] ?? '';
      break;
    }
    case 'SCHEMAS': {
      const schemas = [...new Map(cols.filter((c) => s.scope.level === 'account' || c.database === db).map((c) => [`${c.database}.${c.schema}`, c])).values()];
      if (s.terse) {
        columns = SHAPES.TERSE;
        rows = schemas.map((c) => [EPOCH, c.schema, 'SCHEMA', c.database, null]);
      } else {
        columns = SHAPES.SCHEMAS;
        rows = schemas.map((c) => {
          const current = c.database === ctx.database && c.schema === ctx.schema ? 'Y' : 'N';
          return [EPOCH, c.schema, 'N', current, c.database, '', null, '', '1', 'ROLE', null];
        });
      }
      name = (r) => r[1] ?? '';
      break;
    }
    case 'TABLES':
    case 'OBJECTS':
      if (s.terse) {
        columns = SHAPES.TERSE;
        rows = tables.map((c) => [EPOCH, c.table, 'TABLE', c.database, c.schema]);
      } else if (s.kind === 'TABLES') {
        columns = SHAPES.TABLES;
        rows = tables.map((c) => [
          EPOCH,
          c.table,
          c.database,
          c.schema,
          'TABLE',
          null,
          '',
          null,
          null,
          '',
          '1',
          'OFF',
          'OFF',
          'OFF',
          null,
          null,
          'N',
          'N',
          'ROLE',
          'N',
          null,
          'N',
          'N',
          'N',
          'N',
        ]);
      } else {
        columns = SHAPES.OBJECTS;
        rows = tables.map((c) => [EPOCH, c.table, c.database, c.schema, 'TABLE', null, '', null, null, '', '1', 'ROLE', null, 'N', 'N', 'N']);
      }
      name = (r) => r[1] ?? '';
      break;
    case 'VIEWS':
      // The warehouse's tables are all tables; a view would be listed here the same way.
      columns = s.terse ? SHAPES.TERSE : SHAPES.VIEWS;
      rows = [];
      name = (r) => r[1] ?? '';
      break;
    case 'COLUMNS':
      columns = SHAPES.COLUMNS;
      rows = scoped.map((c) => [
        c.table,
        c.schema,
        c.column,
        typeJson(c),
        c.nullable ? 'true' : 'false',
        c.default ?? '',
        'COLUMN',
        '',
        null,
        c.database,
        '',
        null,
      ]);
      name = (r) => r[2] ?? '';
      break;
    default:
      // No keys are declared in the warehouse: the shape, no rows.
      columns = SHAPES[s.kind];
      rows = [];
      name = () => '';
  }
  rows = rows.filter((r) => likeMatches(s.like, name(r)));
  if (s.startsWith !== undefined) rows = rows.filter((r) => name(r).startsWith(s.startsWith!));
  if (s.from !== undefined) rows = rows.filter((r) => name(r) > s.from!);
  if (s.limit !== undefined) rows = rows.slice(0, s.limit);
  return { columns, rows };
}

/** DESCRIBE TABLE's rows (comments never served: see showRows). */
export function describeRows(cols: readonly ColumnInfo[]): { columns: ResultColumn[]; rows: Cell[][] } {
  return {
    columns: SHAPES.DESCRIBE,
    rows: cols.map((c) => [c.column, sqlType(c), 'COLUMN', c.nullable ? 'Y' : 'N', c.default, 'N', 'N', null, null, null, null, null]),
  };
}

// ── the service ────────────────────────────────────────────────────────────────────────────────

export type MetadataQueries = Pick<QueryService, 'prepare' | 'execute' | 'decide' | 'submit' | 'catalog' | 'recordOrFail'>;

/**
 * Answers metadata statements for the Snowflake door. `submit` takes the place of
 * QueryService.submit for a statement `classify` recognised.
 */
export class Metadata {
  constructor(private readonly q: MetadataQueries) {}

  /** The catalog's tables the identity may read: each decided as `SELECT * FROM` it, as policy would decide it. */
  async visible(req: QueryRequest): Promise<TableRef[]> {
    const catalog = await this.q.catalog(req.connection);
    const out: TableRef[] = [];
    for (const t of catalog.tables()) {
      if (t.schema === 'INFORMATION_SCHEMA') continue;
      const decision = await this.q.decide({
        requestId: req.requestId,
        frontDoor: req.frontDoor,
        identity: req.identity,
        connection: req.connection,
        ...(req.purpose ? { purpose: req.purpose } : {}),
        sql: `SELECT * FROM ${quote(catalog.database)}.${quote(t.schema)}.${quote(t.name)}`,
      });
      if (decision.action !== 'deny') out.push({ database: catalog.database, schema: t.schema, name: t.name });
    }
    return out;
  }

  async submit(req: QueryRequest, m: MetadataStatement, ctx: Context): Promise<QueryOutcome> {
    if (m.type === 'information_schema') {
      // Decided and recorded as the client wrote it; what runs is it over the filtered views.
      const visible = await this.visible(req);
      const catalog = await this.q.catalog(req.connection);
      return this.q.submit({ ...req, upstreamSql: rewriteViews(req.sql, catalog.database, visible) });
    }
    const prepared = await this.q.prepare(req).catch((err: unknown) => {
      throw m.type === 'describe' ? hidden(err, m.table.name) : err;
    });
    const visible = await this.visible(req);
    const keep = new Set(visible.map((v) => `${v.database}.${v.schema}.${v.name}`));
    if (m.type === 'describe') {
      const name = `${m.table.database ?? ctx.database}.${m.table.schema ?? ctx.schema}.${m.table.name}`;
      if (!keep.has(name)) {
        // Not there and not readable read the same, as Snowflake answers both.
        const e = notVisible(m.table.name, req.requestId);
        await this.q.recordOrFail(prepared.ctx, [failed(e, 'upstream')]);
        throw e;
      }
      keep.clear();
      keep.add(name);
    }
    const read = await this.q.execute({ ...withoutAnalysis(prepared), sql: COLUMNS_SQL(ctx.database) });
    const cols = read.rows.map(toColumnInfo).filter((c) => keep.has(`${c.database}.${c.schema}.${c.table}`));
    const answer = m.type === 'describe' ? describeRows(cols) : showRows(m, cols, ctx);
    const result: QueryResult = { ...read, columns: answer.columns, rows: answer.rows, rowCount: answer.rows.length, truncated: false, command: 'SELECT' };
    return { kind: 'result', result };
  }
}

/**
 * DESCRIBE of a table the catalog does not hold is not understood, so policy denies it as an
 * unknown statement (recorded so): it reads as Snowflake's 002003, the same as a table that exists
 * but policy hides, so the answer does not tell the two apart.
 */
function hidden(err: unknown, table: string): unknown {
  const unknown =
    isAppError(err) &&
    ((err.code === 'GATEWAY_POLICY_DENIED' && JSON.stringify(err.details.ruleIds) === JSON.stringify([UNKNOWN_STATEMENT_RULE])) ||
      err.code === 'GATEWAY_UPSTREAM_ERROR');
  return unknown ? notVisible(table, err.details.requestId) : err;
}

function notVisible(table: string, requestId: unknown): AppError {
  return new AppError('GATEWAY_SF_OBJECT_NOT_VISIBLE', { message: `Table '${table}' does not exist or not authorized.`, details: { requestId } });
}

function withoutAnalysis(p: Prepared): Omit<Prepared, 'analysis'> {
  const { analysis: _, ...rest } = p;
  return rest;
}
