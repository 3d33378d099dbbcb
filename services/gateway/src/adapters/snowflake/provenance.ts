// Result-column provenance for Snowflake upstreams. Snowflake's rowtype names a result column but
// not the table column it came from, so masking by provenance (ADR 3) needs it from the statement:
// for a single plain SELECT over catalog tables, each select item that is a bare column reference
// (aliased or not) or a star (with an exact EXCLUDE list, or none) is traced to its table column.
// Anything else — expressions, subqueries, CTEs, set operations, names that are ambiguous or
// unknown — has no source and gets the plan's unknown-source strategy (fail closed). A select list
// whose result columns cannot be lined up one for one with its items (a star modifier other than
// EXCLUDE, COLUMNS(…), UNNEST, a `*` inside an expression, a star over a USING or NATURAL join)
// has no sources at all: a source must never land on another result column.
import type { Catalog } from '@phigate/sql';

export interface Source {
  schema: string;
  table: string;
  column: string;
}

interface FromItem {
  schema: string;
  table: string;
  alias: string;
}

type Node = Record<string, unknown>;

/** Snowflake folds unquoted identifiers to upper case; a quoted one is exact (unless the session sets QUOTED_IDENTIFIERS_IGNORE_CASE). */
function fold(name: string, quoted: boolean, quotedIgnoreCase: boolean): string {
  return quoted && !quotedIgnoreCase ? name : name.toUpperCase();
}

function tableOf(catalog: Catalog, schema: string, table: string): { schema: string; table: string } | undefined {
  const hit = catalog.tables(schema).find((t) => t.name === table);
  return hit ? { schema: hit.schema, table: hit.name } : undefined;
}

/** Functions whose one call can yield several result columns (DuckDB, which the local warehouse runs on). */
const EXPANDING = new Set(['columns', 'unnest']);

/**
 * Whether an expression can stand for other than exactly one result column, or hides a `*`: a
 * `*` anywhere but COUNT(*), COLUMNS(…), UNNEST(…), a star modifier.
 */
function expands(e: unknown): boolean {
  if (Array.isArray(e)) return e.some(expands);
  if (!e || typeof e !== 'object') return false;
  const n = e as Node;
  if (n.type === 'column_ref' && (n.column === '*' || n.suffix != null)) return true;
  if (n.type === 'function' || n.type === 'aggr_func' || n.type === 'window_func') {
    const name = n.name;
    const parts =
      typeof name === 'string' ? [name] : Array.isArray((name as Node | null)?.name) ? ((name as Node).name as Node[]).map((p) => String(p?.value)) : [];
    const last = String(parts[parts.length - 1] ?? '').toLowerCase();
    if (EXPANDING.has(last)) return true;
  }
  for (const [k, v] of Object.entries(n)) if (k !== 'loc' && k !== 'tableList' && k !== 'columnList' && expands(v)) return true;
  return false;
}

/** A name in an EXCLUDE list, folded as Snowflake folds it; undefined when it is not a plain name. */
function excludedName(x: unknown, quotedIgnoreCase: boolean): { qualifier?: string; name: string } | undefined {
  const n = x as Node | undefined;
  if (n?.type === 'double_quote_string' && typeof n.value === 'string') return { name: fold(n.value, true, quotedIgnoreCase) };
  if (n?.type !== 'column_ref' || typeof n.column !== 'string' || n.column === '*' || n.schema != null || n.db != null) return undefined;
  if ((Array.isArray(n.notations) && n.notations.some((p) => p !== '.')) || n.array_index != null) return undefined;
  return { ...(typeof n.table === 'string' ? { qualifier: n.table.toUpperCase() } : {}), name: n.column.toUpperCase() };
}

/**
 * The source of each result column of `ast` (node-sql-parser's AST of one statement), or
 * undefined when the statement is not a plain SELECT whose select list can be traced exactly.
 */
export function resultSources(ast: unknown, catalog: Catalog, defaultSchema: string, quotedIgnoreCase = false): Array<Source | undefined> | undefined {
  const stmts = Array.isArray(ast) ? ast : [ast];
  if (stmts.length !== 1) return undefined;
  const s = stmts[0] as Node | undefined;
  if (s?.type !== 'select' || s.with || s._next || s.union || !Array.isArray(s.from) || !Array.isArray(s.columns)) return undefined;
  const from: FromItem[] = [];
  // A USING or NATURAL join merges its join columns: a star over it has fewer columns than its tables.
  let merged = false;
  for (const f of s.from as Node[]) {
    if (typeof f.table !== 'string' || f.expr) return undefined;
    if (typeof f.as === 'string' && (f.as.toUpperCase() === 'NATURAL' || f.as.includes('('))) return undefined;
    if (f.using != null) merged = true;
    const surround = (f.surround ?? {}) as Record<string, string>;
    const schemaName = typeof f.schema === 'string' ? f.schema : typeof f.db === 'string' && !f.schema ? f.db : undefined;
    const schema = schemaName ? fold(schemaName, surround.schema === '"' || surround.db === '"', quotedIgnoreCase) : defaultSchema;
    const t = tableOf(catalog, schema, fold(f.table, surround.table === '"', quotedIgnoreCase));
    if (!t) return undefined;
    from.push({ ...t, alias: typeof f.as === 'string' ? f.as.toUpperCase() : t.table });
  }
  const columnsOf = (f: FromItem) => catalog.columns({ database: catalog.database, schema: f.schema, name: f.table });
  const out: Array<Source | undefined> = [];
  for (const item of s.columns as Node[]) {
    const expr = item.expr as Node | undefined;
    if (expr?.type === 'column_ref' && expr.column === '*') {
      if (merged || expr.parentheses != null || expr.array_index != null) return undefined;
      const qualifier = typeof expr.table === 'string' ? expr.table.toUpperCase() : undefined;
      if (expr.schema != null || expr.db != null) return undefined;
      const scope = qualifier ? from.filter((f) => f.alias === qualifier || f.table === qualifier) : from;
      if (qualifier && scope.length !== 1) return undefined;
      // EXCLUDE (a, q.b): an unqualified name leaves every relation, a qualified one its own.
      const exclude: Array<{ qualifier?: string; name: string }> = [];
      const suffix = expr.suffix as Node | null | undefined;
      if (suffix != null) {
        const name = ((suffix.name as Node | undefined)?.name as Node[] | undefined)?.map((p) => String(p?.value).toLowerCase());
        if (suffix.type !== 'function' || name?.length !== 1 || name[0] !== 'exclude') return undefined;
        const args = (suffix.args as Node | undefined)?.value;
        if (!Array.isArray(args) || !args.length) return undefined;
        for (const a of args) {
          const x = excludedName(a, quotedIgnoreCase);
          if (!x) return undefined;
          exclude.push(x);
        }
      }
      const tables: Array<{ f: FromItem; cols: string[] }> = [];
      for (const f of scope) {
        const cols = columnsOf(f);
        if (!cols) return undefined;
        tables.push({ f, cols });
      }
      for (const x of exclude) {
        const owners = x.qualifier ? tables.filter((t) => t.f.alias === x.qualifier || t.f.table === x.qualifier) : tables;
        if (x.qualifier && owners.length !== 1) return undefined;
        // A name that matches no column exactly, or matches one only by case (which DuckDB
        // would exclude, Snowflake would not), cannot be traced.
        const exact = owners.reduce((k, t) => k + t.cols.filter((c) => c === x.name).length, 0);
        const loose = owners.reduce((k, t) => k + t.cols.filter((c) => c.toUpperCase() === x.name.toUpperCase()).length, 0);
        if (exact === 0 || loose !== exact) return undefined;
      }
      for (const { f, cols } of tables) {
        for (const c of cols) {
          if (exclude.some((x) => x.name === c && (!x.qualifier || x.qualifier === f.alias || x.qualifier === f.table))) continue;
          out.push({ schema: f.schema, table: f.table, column: c });
        }
      }
      continue;
    }
    if (expr?.type === 'double_quote_string' && typeof expr.value === 'string') {
      // The grammar reads a bare quoted name as a string; in Snowflake double quotes always make an identifier.
      const column = fold(expr.value, true, quotedIgnoreCase);
      const owners = from.filter((f) => (columnsOf(f) ?? []).includes(column));
      out.push(owners.length === 1 ? { schema: owners[0]!.schema, table: owners[0]!.table, column } : undefined);
      continue;
    }
    if (expands(expr)) return undefined;
    const notations = Array.isArray(expr?.notations) ? (expr.notations as unknown[]) : [];
    if (
      expr?.type !== 'column_ref' ||
      typeof expr.column !== 'string' ||
      expr.schema != null ||
      expr.db != null ||
      expr.array_index != null ||
      notations.some((p) => p !== '.')
    ) {
      out.push(undefined);
      continue;
    }
    const qualifier = typeof expr.table === 'string' ? expr.table.toUpperCase() : undefined;
    const scope = qualifier ? from.filter((f) => f.alias === qualifier || f.table === qualifier) : from;
    if (qualifier && scope.length !== 1) return undefined;
    const column = expr.column.toUpperCase();
    const owners = scope.filter((f) => catalog.hasColumn({ database: catalog.database, schema: f.schema, name: f.table }, column));
    // A column whose name differs from another's only by case: which one a quoted name meant is lost.
    const unique = owners.length === 1 && (columnsOf(owners[0]!) ?? []).filter((c) => c.toUpperCase() === column).length === 1;
    out.push(unique ? { schema: owners[0]!.schema, table: owners[0]!.table, column } : undefined);
  }
  return out;
}
