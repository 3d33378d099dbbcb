// Result-column provenance for Snowflake upstreams. Snowflake's rowtype names a result column but
// not the table column it came from, so masking by provenance (ADR 3) needs it from the statement:
// for a single plain SELECT over catalog tables, each select item that is a bare column reference
// (aliased or not) or a star is traced to its table column. Anything else — expressions, subqueries,
// CTEs, set operations, names that are ambiguous or unknown — has no source and gets the plan's
// unknown-source strategy (fail closed).
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

/** Snowflake folds unquoted identifiers to upper case; a quoted one is exact. */
function fold(name: string, quoted: boolean): string {
  return quoted ? name : name.toUpperCase();
}

function tableOf(catalog: Catalog, schema: string, table: string): { schema: string; table: string } | undefined {
  const hit = catalog.tables(schema).find((t) => t.name === table);
  return hit ? { schema: hit.schema, table: hit.name } : undefined;
}

/**
 * The source of each result column of `ast` (node-sql-parser's AST of one statement), or
 * undefined when the statement is not a plain SELECT whose select list can be traced.
 */
export function resultSources(ast: unknown, catalog: Catalog, defaultSchema: string): Array<Source | undefined> | undefined {
  const stmts = Array.isArray(ast) ? ast : [ast];
  if (stmts.length !== 1) return undefined;
  const s = stmts[0] as Node | undefined;
  if (s?.type !== 'select' || s.with || s._next || s.union || !Array.isArray(s.from) || !Array.isArray(s.columns)) return undefined;
  const from: FromItem[] = [];
  for (const f of s.from as Node[]) {
    if (typeof f.table !== 'string' || f.expr) return undefined;
    const surround = (f.surround ?? {}) as Record<string, string>;
    const schemaName = typeof f.schema === 'string' ? f.schema : typeof f.db === 'string' && !f.schema ? f.db : undefined;
    const schema = schemaName ? fold(schemaName, surround.schema === '"' || surround.db === '"') : defaultSchema;
    const t = tableOf(catalog, schema, fold(f.table, surround.table === '"'));
    if (!t) return undefined;
    from.push({ ...t, alias: typeof f.as === 'string' ? f.as.toUpperCase() : t.table });
  }
  const out: Array<Source | undefined> = [];
  for (const item of s.columns as Node[]) {
    const expr = item.expr as Node | undefined;
    if (expr?.type !== 'column_ref' || typeof expr.column !== 'string') {
      out.push(undefined);
      continue;
    }
    const qualifier = typeof expr.table === 'string' ? expr.table.toUpperCase() : undefined;
    const scope = qualifier ? from.filter((f) => f.alias === qualifier || f.table === qualifier) : from;
    if (qualifier && scope.length !== 1) return undefined;
    if (expr.column === '*') {
      for (const f of scope) {
        const cols = catalog.columns({ database: catalog.database, schema: f.schema, name: f.table });
        if (!cols) return undefined;
        for (const c of cols) out.push({ schema: f.schema, table: f.table, column: c });
      }
      continue;
    }
    const column = expr.column.toUpperCase();
    const owners = scope.filter((f) => catalog.hasColumn({ database: catalog.database, schema: f.schema, name: f.table }, column));
    out.push(owners.length === 1 ? { schema: owners[0]!.schema, table: owners[0]!.table, column } : undefined);
  }
  return out;
}
