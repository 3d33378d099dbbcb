import type { AnalysisFailure, Channel, ColumnFlow, ColumnName, StatementFacts, TableName } from '@phigate/model';
import type { Catalog } from './catalog.js';

/** Something an analyser does not fully understand: the input is not understood (fail closed). */
export class Unsupported extends Error {
  /** Set when the database itself would reject the statement so (see Analysis.failure). */
  constructor(
    message: string,
    readonly failure?: AnalysisFailure,
  ) {
    super(message);
  }
}

/** A relation in a FROM clause: a catalog table, or a derived one (CTE, subquery, function, VALUES). */
export interface Rel {
  alias: string;
  table?: TableName;
  /** Derived relations: output column → the real columns its values come from (undefined: unknown columns). */
  cols?: Map<string, ColumnName[]>;
}

/** A query level's name scope. */
export interface Scope {
  rels: Rel[];
  parent?: Scope;
  ctes: Map<string, Rel>;
  /** Select-list names, which some clauses may refer to. */
  outputs?: Map<string, ColumnName[]>;
}

/** A query's result columns: names (undefined for unnamed expressions) and the real columns each carries. */
export interface Output {
  names: Array<string | undefined>;
  lineage: ColumnName[][];
}

/** How a column reference is used: in a predicate (filter), and whether select-list names are visible. */
export interface Mode {
  filter: boolean;
  aliases: boolean;
}

export const PLAIN: Mode = { filter: false, aliases: false };
export const FILTER: Mode = { filter: true, aliases: false };

export const tableKey = (t: TableName) => `${t.database}.${t.schema}.${t.name}`;

export function dedupeCols(cs: ColumnName[]): ColumnName[] {
  const seen = new Map<string, ColumnName>();
  for (const c of cs) seen.set(`${tableKey(c.table)}.${c.column}`, c);
  return [...seen.values()];
}

/** Output columns of a query as a derived relation, renamed by a declared column list. */
export function outputColumns(out: Output, declared: string[]): Map<string, ColumnName[]> {
  const cols = new Map<string, ColumnName[]>();
  out.lineage.forEach((lin, i) => {
    const name = declared[i] ?? out.names[i];
    if (name) cols.set(name, [...(cols.get(name) ?? []), ...lin]);
  });
  return cols;
}

/** Per-statement facts as they are collected. */
export class Facts {
  kind = 'unknown';
  readonly tablesRead = new Map<string, TableName>();
  readonly tablesWritten = new Map<string, TableName>();
  readonly columnsRead: ColumnName[] = [];
  readonly columnsWritten: ColumnName[] = [];
  readonly columnsFiltered: ColumnName[] = [];
  readonly functions = new Set<string>();
  private readonly flowMap = new Map<string, ColumnFlow>();
  resolved = true;
  hasWhere = false;
  whereTriviallyTrue = false;
  hasLimit = false;

  read(t: TableName): void {
    this.tablesRead.set(tableKey(t), t);
  }

  write(t: TableName): void {
    this.tablesWritten.set(tableKey(t), t);
  }

  /** Columns a reference reads; in a predicate they are also filtered on. */
  use(cols: ColumnName[], mode: Mode): void {
    this.columnsRead.push(...cols);
    if (mode.filter) this.columnsFiltered.push(...cols);
  }

  /** The columns `cols` reach `channel` through `via` (they are read, too). */
  flow(cols: readonly ColumnName[], channel: Channel, via: string): void {
    for (const c of cols) {
      const key = `${tableKey(c.table)}.${c.column}|${channel}|${via}`;
      if (!this.flowMap.has(key)) this.flowMap.set(key, { column: c, channel, via });
    }
  }

  done(): StatementFacts {
    return {
      kind: this.kind,
      tablesRead: [...this.tablesRead.values()],
      tablesWritten: [...this.tablesWritten.values()],
      columnsRead: dedupeCols(this.columnsRead),
      columnsWritten: dedupeCols(this.columnsWritten),
      functions: [...this.functions],
      hasWhere: this.hasWhere,
      whereTriviallyTrue: this.whereTriviallyTrue,
      hasLimit: this.hasLimit,
      columnsResolved: this.resolved,
      columnsFiltered: dedupeCols(this.columnsFiltered),
      flows: [...this.flowMap.values()],
    };
  }
}

/** The relation a qualified reference (`alias`, `schema.table`, `db.schema.table`) names, innermost scope first. */
export function findRel(scope: Scope, quals: string[]): Rel | undefined {
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    for (const r of s.rels) {
      if (quals.length === 1 && r.alias === quals[0]) return r;
      if (quals.length === 2 && r.table && r.table.schema === quals[0] && r.table.name === quals[1]) return r;
      if (quals.length === 3 && r.table && r.table.database === quals[0] && r.table.schema === quals[1] && r.table.name === quals[2]) return r;
    }
  }
  return undefined;
}

/** The real columns `column` of a relation stands for: a catalog column, or a derived column's lineage. */
export function relColumn(catalog: Catalog, rel: Rel, column: string): ColumnName[] | undefined {
  if (rel.cols) return rel.cols.get(column);
  if (rel.table) return catalog.hasColumn(rel.table, column) ? [{ table: rel.table, column }] : undefined;
  return undefined;
}

/**
 * Resolves a column reference through the scopes, innermost first. Marks the facts unresolved
 * when a relation whose columns are unknown could be where the name comes from. Undefined: no
 * relation in any scope has it.
 */
export function lookupColumn(catalog: Catalog, facts: Facts, scope: Scope, quals: string[], column: string, mode: Mode): ColumnName[] | undefined {
  if (quals.length) {
    const rel = findRel(scope, quals);
    if (rel && !rel.table && !rel.cols) facts.resolved = false;
    return rel ? relColumn(catalog, rel, column) : undefined;
  }
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    const found: ColumnName[] = [];
    let matched = false;
    let unknown = false;
    for (const r of s.rels) {
      const c = relColumn(catalog, r, column);
      if (c) {
        found.push(...c);
        matched = true;
      }
      if (!r.table && !r.cols) unknown = true;
    }
    const alias = mode.aliases && s === scope ? s.outputs?.get(column) : undefined;
    if (alias) {
      found.push(...alias);
      matched = true;
    }
    if (unknown) facts.resolved = false;
    if (matched || unknown) return found;
  }
  return undefined;
}
