import type { Analysis, ColumnName, StatementFacts, TableName } from '@phigate/model';
import type { Catalog } from './catalog.js';

/** PostgreSQL's own parser (libpg-query): the parse tree as JSON, and its fingerprint. */
export interface PgParser {
  parse(sql: string): { stmts: Array<{ stmt: Record<string, unknown> }> };
  fingerprint(sql: string): string;
}

type Node = Record<string, unknown>;

const KINDS: Record<string, string> = {
  SelectStmt: 'select',
  InsertStmt: 'insert',
  UpdateStmt: 'update',
  DeleteStmt: 'delete',
  MergeStmt: 'merge',
  DropStmt: 'drop',
  TruncateStmt: 'truncate',
  CreateStmt: 'create',
  CreateTableAsStmt: 'create',
  ViewStmt: 'create',
  IndexStmt: 'create',
  CreateSchemaStmt: 'create',
  CreateFunctionStmt: 'create',
  CreateRoleStmt: 'create',
  AlterTableStmt: 'alter',
  AlterRoleStmt: 'alter',
  AlterSystemStmt: 'alter',
  RenameStmt: 'rename',
  CommentStmt: 'comment',
  VariableSetStmt: 'set',
  VariableShowStmt: 'show',
  DiscardStmt: 'discard',
  CopyStmt: 'copy',
  DoStmt: 'do',
  CallStmt: 'call',
  LockStmt: 'lock',
  ListenStmt: 'listen',
  NotifyStmt: 'notify',
  PrepareStmt: 'prepare',
  ExecuteStmt: 'execute',
  DeallocateStmt: 'deallocate',
  TransactionStmt: 'transaction',
  ExplainStmt: 'explain',
  VacuumStmt: 'vacuum',
  RefreshMatViewStmt: 'refresh',
};
const DML = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

function kindOf(type: string, body: Node): string {
  if (type === 'GrantStmt' || type === 'GrantRoleStmt') return body.is_grant ? 'grant' : 'revoke';
  if (type === 'VariableSetStmt' && typeof body.kind === 'string' && body.kind.startsWith('VAR_RESET')) return 'reset';
  // SELECT … INTO creates a table.
  if (type === 'SelectStmt' && body.intoClause) return 'create';
  return KINDS[type] ?? type.replace(/Stmt$/, '').toLowerCase();
}

function walk(node: unknown, visit: (type: string, body: Node) => boolean | undefined): void {
  if (Array.isArray(node)) {
    for (const x of node) walk(x, visit);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      // Node types are capitalised keys wrapping their body; a false return stops the descent.
      if (/^[A-Z]/.test(k) && v && typeof v === 'object' && !Array.isArray(v)) {
        if (visit(k, v as Node) === false) continue;
      }
      walk(v, visit);
    }
  }
}

const str = (n: unknown): string | undefined => (n as { String?: { sval?: string } })?.String?.sval ?? undefined;

function isTriviallyTrue(expr: unknown): boolean {
  const e = expr as Node | undefined;
  if (!e) return false;
  const c = e.A_Const as Node | undefined;
  if (c) return (c.boolval as { boolval?: boolean } | undefined)?.boolval === true;
  const a = e.A_Expr as Node | undefined;
  if (a && a.kind === 'AEXPR_OP' && str((a.name as unknown[])?.[0]) === '=') {
    // Two equal constants (1 = 1), or a column compared with itself (id = id).
    const strip = (n: unknown) => JSON.stringify(n, (k, v) => (k === 'location' ? undefined : v));
    const l = a.lexpr as Node | undefined;
    const r = a.rexpr as Node | undefined;
    return Boolean(l && r && (l.A_Const || l.ColumnRef) && strip(l) === strip(r));
  }
  const b = e.BoolExpr as Node | undefined;
  if (b && b.boolop === 'OR_EXPR') return (b.args as unknown[]).some(isTriviallyTrue);
  return false;
}

/**
 * Analyses PostgreSQL with PostgreSQL's own grammar, so the gateway cannot disagree with the
 * database about what a statement is. Tables are resolved with the connection's default schema
 * and the catalog; a data-modifying statement nested in another (a writable CTE) is reported as a
 * statement of its own, so policy judges the write.
 */
export function analysePostgres(sql: string, parser: PgParser, catalog: Catalog, defaultSchema: string): Analysis {
  let tree: ReturnType<PgParser['parse']>;
  let fingerprint: string;
  try {
    tree = parser.parse(sql);
    fingerprint = parser.fingerprint(sql);
  } catch (err) {
    const msg = String((err as Error).message ?? err)
      .split('\n')[0]
      ?.slice(0, 160);
    return { dialect: 'postgresql', fingerprint: '', understood: false, error: `syntax not understood: ${msg}`, statements: [] };
  }
  const statements: StatementFacts[] = [];
  let understood = tree.stmts.length > 0;
  let error = '';
  const table = (rv: Node): TableName | undefined => {
    const catalogName = rv.catalogname as string | undefined;
    const t = { database: catalog.database, schema: (rv.schemaname as string | undefined) ?? defaultSchema, name: rv.relname as string };
    if ((catalogName && catalogName !== catalog.database) || !catalog.hasTable(t)) {
      understood = false;
      error = 'the statement references a table the connection does not know';
      return undefined;
    }
    return t;
  };

  for (const { stmt } of tree.stmts) {
    const [rootType, rootBody] = Object.entries(stmt)[0] as [string, Node];
    // The root and every nested data-modifying statement are judged separately.
    const units: Array<[string, Node]> = [[rootType, rootBody]];
    walk(rootBody, (type, body) => {
      if (DML.has(type)) units.push([type, body]);
      return undefined;
    });
    const ctes = new Set<string>();
    walk(rootBody, (type, body) => {
      if (type === 'CommonTableExpr') ctes.add(body.ctename as string);
      return undefined;
    });
    for (const [i, [type, body]] of units.entries()) {
      statements.push(analyseUnit(type, body, i === 0 ? units.slice(1).map(([, b]) => b) : [], ctes, table, catalog));
    }
  }
  return { dialect: 'postgresql', fingerprint, understood, error: understood ? '' : error || 'nothing to analyse', statements };
}

function analyseUnit(
  type: string,
  body: Node,
  nested: Node[],
  ctes: Set<string>,
  table: (rv: Node) => TableName | undefined,
  catalog: Catalog,
): StatementFacts {
  const kind = kindOf(type, body);
  const isNested = (n: Node) => nested.includes(n);
  // Targets this statement writes.
  const writeTargets = new Set<Node>();
  for (const key of ['relation']) if (DML.has(type) && body[key]) writeTargets.add(body[key] as Node);
  if (type === 'TruncateStmt') for (const r of (body.relations as Node[]) ?? []) if (r.RangeVar) writeTargets.add(r.RangeVar as Node);
  if (type === 'AlterTableStmt' && body.relation) writeTargets.add(body.relation as Node);

  const tablesRead: TableName[] = [];
  const tablesWritten: TableName[] = [];
  const aliases = new Map<string, TableName | null>();
  const scanRelations = (rv: Node, written: boolean) => {
    if (!rv.schemaname && ctes.has(rv.relname as string)) {
      aliases.set(((rv.alias as Node)?.aliasname as string) ?? (rv.relname as string), null);
      return;
    }
    const t = table(rv);
    if (!t) return;
    (written ? tablesWritten : tablesRead).push(t);
    aliases.set(((rv.alias as Node)?.aliasname as string) ?? t.name, t);
  };
  for (const rv of writeTargets) scanRelations(rv, true);
  // DROP names its objects as lists of strings.
  if (type === 'DropStmt') {
    for (const o of (body.objects as Node[]) ?? []) {
      const parts = (((o.List as Node)?.items as unknown[]) ?? []).map(str).filter((s): s is string => Boolean(s));
      if (parts.length)
        tablesWritten.push({ database: catalog.database, schema: parts.length > 1 ? parts[parts.length - 2]! : 'public', name: parts[parts.length - 1]! });
    }
  }
  const functions = new Set<string>();
  const columnRefs: unknown[][] = [];
  const filterRefs: unknown[][] = [];
  // Columns inside WHERE and HAVING, at any depth (subqueries included).
  const collectFilters = (b: Node) => {
    for (const clause of [b.whereClause, b.havingClause]) {
      walk(clause, (t2, b2) => {
        if (t2 === 'ColumnRef') filterRefs.push((b2.fields as unknown[]) ?? []);
        return undefined;
      });
    }
  };
  collectFilters(body);
  walk(body, (t, b) => {
    if (t === 'SelectStmt') collectFilters(b);
    if (isNested(b)) return false; // judged as its own statement
    if (t === 'RangeVar') {
      if (!writeTargets.has(b)) scanRelations(b, false);
      return false;
    }
    if (t === 'FuncCall') functions.add(((b.funcname as unknown[]) ?? []).map(str).join('.').toLowerCase());
    if (t === 'ColumnRef') columnRefs.push((b.fields as unknown[]) ?? []);
    if (t === 'RangeSubselect' || t === 'RangeFunction') {
      const alias = (b.alias as Node)?.aliasname as string | undefined;
      if (alias) aliases.set(alias, null);
    }
    return undefined;
  });

  let resolved = true;
  const all = [...tablesRead, ...tablesWritten];
  const resolve = (refs: unknown[][]): ColumnName[] => {
    const out: ColumnName[] = [];
    for (const fields of refs) {
      const names = fields.map(str);
      const star = Boolean((fields.at(-1) as Node)?.A_Star);
      const column = star ? '*' : names.at(-1);
      if (!column) {
        resolved = false;
        continue;
      }
      let targets: TableName[];
      if (fields.length === 1) {
        targets = star ? all : all.filter((t) => catalog.hasColumn(t, column));
        // `*` over a CTE or subquery, or a name no table has (an output alias): not pinned.
        if (star && [...aliases.values()].some((v) => v === null)) resolved = false;
      } else {
        const qualifier = names.at(-2)!;
        const viaAlias = aliases.get(qualifier);
        targets = viaAlias ? [viaAlias] : viaAlias === null ? [] : all.filter((t) => t.name === qualifier && (fields.length < 3 || t.schema === names.at(-3)));
      }
      if (!targets.length || (!star && targets.some((t) => !catalog.hasColumn(t, column)))) {
        resolved = false;
        continue;
      }
      for (const t of targets) out.push({ table: t, column });
    }
    return out;
  };
  const columnsRead = resolve(columnRefs);
  const columnsFiltered = resolve(filterRefs);
  const columnsWritten: ColumnName[] = [];
  const target = tablesWritten[0];
  if (target && (type === 'InsertStmt' || type === 'UpdateStmt')) {
    const list = (type === 'InsertStmt' ? body.cols : body.targetList) as Node[] | undefined;
    for (const rt of list ?? []) {
      const name = (rt.ResTarget as Node)?.name as string | undefined;
      if (name) columnsWritten.push({ table: target, column: name });
    }
    if (type === 'InsertStmt' && !list?.length) columnsWritten.push({ table: target, column: '*' });
  }
  return {
    kind,
    tablesRead: dedupe(tablesRead),
    tablesWritten: dedupe(tablesWritten),
    columnsRead: dedupeCols(columnsRead),
    columnsWritten: dedupeCols(columnsWritten),
    functions: [...functions],
    hasWhere: Boolean(body.whereClause),
    whereTriviallyTrue: isTriviallyTrue(body.whereClause),
    hasLimit: Boolean(body.limitCount),
    columnsResolved: resolved,
    columnsFiltered: dedupeCols(columnsFiltered),
  };
}

function dedupe(ts: TableName[]): TableName[] {
  return [...new Map(ts.map((t) => [`${t.database}.${t.schema}.${t.name}`, t])).values()];
}

function dedupeCols(cs: ColumnName[]): ColumnName[] {
  return [...new Map(cs.map((c) => [`${c.table.schema}.${c.table.name}.${c.column}`, c])).values()];
}
