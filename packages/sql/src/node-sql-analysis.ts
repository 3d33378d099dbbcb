import { createHash } from 'node:crypto';
import type { Analysis, ColumnName, StatementFacts, TableName } from '@phigate/model';
import type { Catalog } from './catalog.js';

/** The subset of node-sql-parser's result this module reads. */
export interface ParsedSql {
  ast: unknown;
  tableList: string[];
  columnList: string[];
}

/** Parses SQL (node-sql-parser); throws on syntax it does not understand. */
export type SqlParser = (sql: string, dialect: 'postgresql' | 'snowflake') => ParsedSql;

/**
 * Literal-normalised fingerprint: string and numeric literals become `?`, whitespace and case
 * outside quoted identifiers are folded. Equal fingerprints mean the same statement shape.
 */
export function fingerprint(sql: string): string {
  const normalised = sql
    .replace(/'(?:[^']|'')*'/g, '?')
    .replace(/\$\$[\s\S]*?\$\$/g, '?')
    .replace(/\b\d+(?:\.\d+)?\b/g, '?')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/"(?:[^"]|"")*"|[^"]+/g, (m) => (m.startsWith('"') ? m : m.toLowerCase()));
  return createHash('sha256').update(normalised).digest('hex').slice(0, 32);
}

type Node = Record<string, unknown>;

function walk(node: unknown, visit: (n: Node) => void): void {
  if (Array.isArray(node)) {
    for (const x of node) walk(x, visit);
  } else if (node && typeof node === 'object') {
    visit(node as Node);
    for (const v of Object.values(node)) walk(v, visit);
  }
}

function functionName(n: Node): string | undefined {
  if (n.type !== 'function' && n.type !== 'aggr_func') return undefined;
  const name = n.name as unknown;
  if (typeof name === 'string') return name.toLowerCase();
  const parts = (name as { name?: Array<{ value?: unknown }> })?.name;
  if (Array.isArray(parts))
    return parts
      .map((p) => String(p.value))
      .join('.')
      .toLowerCase();
  return undefined;
}

function cteNames(stmt: Node): Set<string> {
  const names = new Set<string>();
  walk(stmt, (n) => {
    const w = n.with;
    if (Array.isArray(w))
      for (const c of w) {
        const nm = (c as { name?: { value?: string } | string }).name;
        const v = typeof nm === 'string' ? nm : nm?.value;
        if (v) names.add(v.toLowerCase());
      }
  });
  return names;
}

function triviallyTrue(where: unknown): boolean {
  if (!where || typeof where !== 'object') return false;
  const w = where as Node;
  if (w.type === 'bool') return w.value === true;
  if (w.type === 'binary_expr' && (w.operator === '=' || w.operator === 'IS')) {
    const l = w.left as Node | undefined;
    const r = w.right as Node | undefined;
    return Boolean(l && r && l.type !== 'column_ref' && l.type === r.type && l.value === r.value);
  }
  if (w.type === 'binary_expr' && w.operator === 'OR') return triviallyTrue(w.left) || triviallyTrue(w.right);
  return false;
}

const KIND_ALIASES: Record<string, string> = { replace: 'insert' };

/**
 * Analyses SQL for policy: statement kinds, tables and columns resolved against the catalog,
 * functions, WHERE/LIMIT. Anything it cannot fully understand yields `understood: false`, which
 * policy denies unless a rule explicitly allows unknown statements.
 */
export function analyse(sql: string, dialect: 'postgresql' | 'snowflake', parse: SqlParser, catalog: Catalog, defaultSchema: string): Analysis {
  const fp = fingerprint(sql);
  let parsed: ParsedSql;
  try {
    parsed = parse(sql, dialect);
  } catch (err) {
    return {
      dialect,
      fingerprint: fp,
      understood: false,
      error: `syntax not understood: ${String((err as Error).message)
        .split('\n')[0]
        ?.slice(0, 160)}`,
      statements: [],
    };
  }
  const asts = (Array.isArray(parsed.ast) ? parsed.ast : [parsed.ast]) as Node[];
  const fold = (s: string) => (dialect === 'snowflake' ? s.toUpperCase() : s.toLowerCase());
  const toTable = (schema: string | null, name: string): TableName => ({
    database: catalog.database,
    schema: schema && schema !== 'null' ? fold(schema) : defaultSchema,
    name: fold(name),
  });
  const tableEntries = parsed.tableList.map((e) => {
    const [kind = '', schema = 'null', name = ''] = e.split('::');
    return { kind: kind.toLowerCase(), table: toTable(schema, name) };
  });
  const columnEntries = parsed.columnList.map((e) => {
    const [kind = '', table = 'null', column = ''] = e.split('::');
    return { kind: kind.toLowerCase(), table: table === 'null' ? null : fold(table), column: column === '(.*)' ? '*' : fold(column) };
  });

  const statements: StatementFacts[] = [];
  let understood = true;
  for (const stmt of asts) {
    const kind = KIND_ALIASES[String(stmt.type).toLowerCase()] ?? String(stmt.type ?? 'unknown').toLowerCase();
    const ctes = cteNames(stmt);
    // A data-modifying statement inside another (a writable CTE) would hide a write behind a
    // SELECT; the analyser does not model it, so it is unknown: fail closed.
    let nestedWrite = false;
    walk(Object.values(stmt), (n) => {
      if (
        typeof n.type === 'string' &&
        ['insert', 'update', 'delete', 'replace'].includes(n.type.toLowerCase()) &&
        (n.table !== undefined || n.values !== undefined || n.set !== undefined)
      )
        nestedWrite = true;
    });
    if (nestedWrite) understood = false;
    // node-sql-parser reports tables per whole input; attribute them to the statement of the same kind.
    const mine = asts.length === 1 ? tableEntries : tableEntries.filter((t) => t.kind === kind || (kind !== 'select' && t.kind === 'select'));
    const real = mine.filter((t) => !ctes.has(t.table.name.toLowerCase()));
    const tablesRead = dedupe(real.filter((t) => t.kind === 'select').map((t) => t.table));
    const tablesWritten = dedupe(real.filter((t) => t.kind !== 'select').map((t) => t.table));
    const all = [...tablesRead, ...tablesWritten];
    const unknownTable = all.find((t) => !catalog.hasTable(t));
    if (unknownTable) understood = false;

    let resolved = true;
    const columnsRead: ColumnName[] = [];
    const columnsWritten: ColumnName[] = [];
    const cols = asts.length === 1 ? columnEntries : [];
    if (asts.length > 1) resolved = false;
    for (const c of cols) {
      const target = c.kind === 'select' ? columnsRead : columnsWritten;
      if (c.column === '*') {
        const over = c.table ? all.filter((t) => t.name === c.table) : c.kind === 'select' ? tablesRead : tablesWritten;
        for (const t of over.length ? over : all) target.push({ table: t, column: '*' });
        continue;
      }
      const candidates = (c.table ? all.filter((t) => t.name === c.table) : all).filter((t) => catalog.hasColumn(t, c.column));
      if (!candidates.length) {
        // An alias, a CTE column or an output name: not a column we can pin to a table.
        resolved = false;
        continue;
      }
      for (const t of candidates) target.push({ table: t, column: c.column });
    }
    const functions = new Set<string>();
    walk(stmt, (n) => {
      const f = functionName(n);
      if (f) functions.add(f);
    });
    statements.push({
      kind,
      tablesRead,
      tablesWritten,
      columnsRead: dedupeCols(columnsRead),
      columnsWritten: dedupeCols(columnsWritten),
      functions: [...functions],
      hasWhere: Boolean(stmt.where),
      whereTriviallyTrue: triviallyTrue(stmt.where),
      hasLimit: Boolean((stmt.limit as { value?: unknown[] } | undefined)?.value?.length),
      columnsResolved: resolved,
      // Not modelled for this dialect yet: an empty list with columnsResolved false fails closed.
      columnsFiltered: [],
    });
  }
  return {
    dialect,
    fingerprint: fp,
    understood,
    error: understood ? '' : 'the statement references a table the connection does not know, or nests a data-modifying statement',
    statements,
  };
}

function dedupe(ts: TableName[]): TableName[] {
  const seen = new Map<string, TableName>();
  for (const t of ts) seen.set(`${t.database}.${t.schema}.${t.name}`, t);
  return [...seen.values()];
}

function dedupeCols(cs: ColumnName[]): ColumnName[] {
  const seen = new Map<string, ColumnName>();
  for (const c of cs) seen.set(`${c.table.schema}.${c.table.name}.${c.column}`, c);
  return [...seen.values()];
}
