import { type Analysis, type AnalysisFailure, Channel, type ColumnName, type StatementFacts, type TableName } from '@phigate/model';
import type { Catalog } from './catalog.js';
import { Facts, FILTER, findRel, lookupColumn, type Mode, type Output, outputColumns, PLAIN, type Rel, relColumn, type Scope, Unsupported } from './facts.js';
import { DYNAMIC_SQL_FUNCTIONS, functionFlow, PATTERN_OPERATORS, TEXT_TYPES, TOTAL_FUNCTIONS, TOTAL_OPERATORS } from './flows.js';

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
  DropRoleStmt: 'drop',
  DropdbStmt: 'drop',
  DropOwnedStmt: 'drop',
  CreatedbStmt: 'create',
  AlterRoleSetStmt: 'alter',
  AlterDatabaseStmt: 'alter',
  AlterDatabaseSetStmt: 'alter',
};
const DML = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);
/** Statements that carry a query of their own (judged with it). */
const QUERY_HOLDERS = new Set(['ExplainStmt', 'PrepareStmt', 'DeclareCursorStmt']);

function kindOf(type: string, body: Node): string {
  if (type === 'GrantStmt' || type === 'GrantRoleStmt') return body.is_grant ? 'grant' : 'revoke';
  if (type === 'AlterDefaultPrivilegesStmt') return (obj(body.action)?.is_grant ?? obj(obj(body.action)?.GrantStmt)?.is_grant) ? 'grant' : 'revoke';
  if (type === 'VariableSetStmt' && typeof body.kind === 'string' && body.kind.startsWith('VAR_RESET')) return 'reset';
  // SELECT … INTO creates a table.
  if (type === 'SelectStmt' && body.intoClause) return 'create';
  return KINDS[type] ?? type.replace(/Stmt$/, '').toLowerCase();
}

const obj = (v: unknown): Node | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Node) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
/** A node `{Type: body}` as [Type, body]. */
function unwrap(n: unknown): [string, Node] | undefined {
  const o = obj(n);
  if (!o) return undefined;
  const keys = Object.keys(o);
  if (keys.length !== 1 || !/^[A-Z]/.test(keys[0]!)) return undefined;
  const body = obj(o[keys[0]!]);
  return body ? [keys[0]!, body] : undefined;
}
const str = (n: unknown): string | undefined => (n as { String?: { sval?: string } })?.String?.sval ?? undefined;
const strip = (n: unknown) => JSON.stringify(n, (k, v) => (k === 'location' ? undefined : v));

/** Whether an expression refers to any column (at any depth, subqueries included). */
function dependsOnRow(e: unknown): boolean {
  if (Array.isArray(e)) return e.some(dependsOnRow);
  const o = obj(e);
  if (!o) return false;
  if (o.ColumnRef) return true;
  return Object.values(o).some((v) => v && typeof v === 'object' && dependsOnRow(v));
}

/** Whether a condition can be true for every row: a tautology, or a condition that does not depend on the row. */
function isTriviallyTrue(expr: unknown): boolean {
  const e = expr as Node | undefined;
  if (!e) return false;
  const c = e.A_Const as Node | undefined;
  if (c) return (c.boolval as { boolval?: boolean } | undefined)?.boolval === true || (c.boolval === undefined && !c.isnull);
  const a = e.A_Expr as Node | undefined;
  if (a && a.kind === 'AEXPR_OP' && ['=', '>=', '<='].includes(str((a.name as unknown[])?.[0]) ?? '')) {
    // A value compared with itself (1 = 1, id = id, coalesce(id, 0) = coalesce(id, 0)).
    if (a.lexpr && a.rexpr && strip(a.lexpr) === strip(a.rexpr)) return true;
  }
  const b = e.BoolExpr as Node | undefined;
  if (b && b.boolop === 'OR_EXPR') return (b.args as unknown[]).some(isTriviallyTrue);
  if (b && b.boolop === 'AND_EXPR') return (b.args as unknown[]).every(isTriviallyTrue);
  // A condition that reads no column is the same for every row: all or nothing.
  return !dependsOnRow(e);
}

const funcName = (f: Node): string => arr(f.funcname).map(str).join('.').toLowerCase();

function castType(tc: Node): string {
  const names = arr(obj(tc.typeName)?.names).map(str);
  return (names.at(-1) ?? '').toLowerCase();
}

/**
 * What evaluating an expression can do besides producing a value: raise (`error`) or take a time
 * of its own (`delay`: a sleep, a subquery). Used for conditional constructs (CASE, COALESCE,
 * AND/OR): when a branch is risky, whether it runs, and so whether the statement fails or how long
 * it takes, depends on the condition's value.
 */
function risk(e: unknown): Array<'error' | 'delay'> {
  const found = new Set<'error' | 'delay'>();
  const visit = (x: unknown): void => {
    if (found.size === 2) return;
    if (Array.isArray(x)) {
      for (const y of x) visit(y);
      return;
    }
    const u = unwrap(x);
    if (!u) {
      const o = obj(x);
      if (o) for (const v of Object.values(o)) if (v && typeof v === 'object') visit(v);
      return;
    }
    const [type, body] = u;
    // A subquery takes its time, and raises when a scalar one returns more than one row.
    if (type === 'SubLink' || type === 'SelectStmt') {
      found.add('delay');
      found.add('error');
      return;
    }
    if (type === 'FuncCall') {
      const name = funcName(body);
      const short = name.split('.').at(-1)!;
      const flow = functionFlow(name, 0);
      if (flow?.channel === 'delay') found.add('delay');
      else if (!TOTAL_FUNCTIONS.has(short)) found.add('error');
    } else if (type === 'TypeCast' && !TEXT_TYPES.has(castType(body))) found.add('error');
    else if ((type === 'XmlExpr' && !TOTAL_XML.has(String(body.op))) || type === 'XmlSerialize') found.add('error');
    else if (type === 'A_Expr') {
      const op = str(arr(body.name).at(-1)) ?? '';
      if (body.kind === 'AEXPR_OP' && !TOTAL_OPERATORS.has(op)) found.add('error');
      if (body.kind === 'AEXPR_LIKE' || body.kind === 'AEXPR_ILIKE' || body.kind === 'AEXPR_SIMILAR') found.add('error');
    }
    for (const v of Object.values(body)) if (v && typeof v === 'object') visit(v);
  };
  visit(e);
  return [...found];
}

/** `IS_XMLPARSE` → `XMLPARSE`, `IS_DOCUMENT` → `IS DOCUMENT`. */
function xmlName(op: string): string {
  return op === 'IS_DOCUMENT' ? 'IS DOCUMENT' : op.replace(/^IS_/, '');
}

/** XML constructors that never raise on their values (they escape them); XMLPARSE, XMLPI, XMLROOT, IS DOCUMENT and XMLSERIALIZE can. */
const TOTAL_XML = new Set(['IS_XMLELEMENT', 'IS_XMLFOREST', 'IS_XMLCONCAT']);

/** Context shared by the statements of one input. */
interface Context {
  catalog: Catalog;
  defaultSchema: string;
  /** Facts of statements nested in the one being analysed (writable CTEs), judged on their own. */
  nested: StatementFacts[];
}

/**
 * One statement (a top-level statement, or a data-modifying statement in a WITH clause), walked
 * with SQL's scoping rules: aliases, CTEs, subqueries, joins, lateral items and select-list names
 * are resolved to catalog columns level by level.
 */
class Unit {
  readonly facts = new Facts();

  constructor(private readonly ctx: Context) {}

  private table(rv: Node): TableName {
    const catalogName = rv.catalogname as string | undefined;
    // A new temporary table lives in the session's temporary schema.
    // PostgreSQL searches pg_catalog before the search path: an unqualified catalog relation is its.
    const system =
      !rv.schemaname &&
      rv.relpersistence !== 't' &&
      this.ctx.catalog.hasTable({ database: this.ctx.catalog.database, schema: 'pg_catalog', name: rv.relname as string });
    const schema = (rv.schemaname as string | undefined) ?? (rv.relpersistence === 't' ? 'pg_temp' : system ? 'pg_catalog' : this.ctx.defaultSchema);
    const t = { database: this.ctx.catalog.database, schema, name: rv.relname as string };
    if (catalogName && catalogName !== this.ctx.catalog.database) throw new Unsupported(`a table in another database: ${catalogName}`);
    return t;
  }

  private known(rv: Node): TableName {
    const t = this.table(rv);
    if (!this.ctx.catalog.hasTable(t)) {
      const written = [rv.schemaname, rv.relname].filter((x) => typeof x === 'string').join('.');
      // A name in the system catalogs exists upstream; the gateway just does not serve it.
      const system = /^(pg_|information_schema$)/.test(String(rv.schemaname ?? '')) || String(rv.relname).startsWith('pg_');
      throw new Unsupported(
        'the statement references a table the connection does not know',
        system ? undefined : { sqlstate: '42P01', message: `relation "${written}" does not exist`, ...position(rv.location) },
      );
    }
    return t;
  }

  /** A table (or a CTE) named in a FROM clause or as a write target. */
  private rangeVar(rv: Node, scope: Scope, role: 'read' | 'write'): Rel {
    const alias = obj(rv.alias);
    const aliasName = (alias?.aliasname as string | undefined) ?? (rv.relname as string);
    const colnames = arr(alias?.colnames).map(str) as string[];
    if (role === 'read' && !rv.schemaname && !rv.catalogname) {
      const cte = this.cte(scope, rv.relname as string);
      if (cte) {
        const cols = cte.cols && colnames.length ? rename(cte.cols, colnames) : cte.cols;
        return cols ? { alias: aliasName, cols } : { alias: aliasName };
      }
    }
    const t = this.known(rv);
    if (role === 'read') this.facts.read(t);
    else this.facts.write(t);
    if (colnames.length) {
      // `FROM patients AS p(a, b)` renames the first columns.
      const cols = new Map<string, ColumnName[]>();
      (this.ctx.catalog.columns(t) ?? []).forEach((c, i) => {
        cols.set(colnames[i] ?? c, [{ table: t, column: c }]);
      });
      return { alias: aliasName, table: t, cols };
    }
    return { alias: aliasName, table: t };
  }

  private cte(scope: Scope | undefined, name: string): Rel | undefined {
    for (let s = scope; s; s = s.parent) {
      const c = s.ctes.get(name);
      if (c) return c;
    }
    return undefined;
  }

  private column(scope: Scope, quals: string[], column: string, mode: Mode): ColumnName[] {
    const hits = lookupColumn(this.ctx.catalog, this.facts, scope, quals, column, mode);
    // A bare table name or alias is a whole-row reference (`SELECT p FROM patients p`): every column.
    if (!hits && !quals.length && findRel(scope, [column])) return this.star(scope, [column], mode).lineage.flat();
    if (!hits) {
      this.facts.resolved = false;
      return [];
    }
    this.facts.use(hits, mode);
    return hits;
  }

  private star(scope: Scope, quals: string[], mode: Mode): Output {
    const rels = quals.length ? [findRel(scope, quals)] : scope.rels;
    const out: Output = { names: [], lineage: [] };
    for (const r of rels) {
      if (!r) {
        this.facts.resolved = false;
        continue;
      }
      if (r.table) {
        this.facts.use([{ table: r.table, column: '*' }], mode);
        const cols = r.cols ?? new Map((this.ctx.catalog.columns(r.table) ?? []).map((c) => [c, [{ table: r.table!, column: c }]]));
        for (const [c, lin] of cols) {
          out.names.push(c);
          out.lineage.push(lin);
        }
      } else if (r.cols) {
        for (const [c, lin] of r.cols) {
          out.names.push(c);
          out.lineage.push(lin);
          this.facts.use(lin, mode);
        }
      } else this.facts.resolved = false;
    }
    return out;
  }

  // ---- expressions ----------------------------------------------------------------------------

  private expr(e: unknown, scope: Scope, mode: Mode): ColumnName[] {
    if (Array.isArray(e)) return e.flatMap((x) => this.expr(x, scope, mode));
    const u = unwrap(e);
    if (!u) {
      const o = obj(e);
      return o ? this.generic(o, scope, mode) : [];
    }
    const [type, body] = u;
    switch (type) {
      case 'ColumnRef': {
        const fields = arr(body.fields);
        const star = Boolean(obj(fields.at(-1))?.A_Star);
        const names = fields.map(str);
        if (names.slice(0, star ? -1 : undefined).some((x) => x === undefined)) {
          this.facts.resolved = false;
          return [];
        }
        const quals = names.slice(0, -1) as string[];
        if (star) return this.star(scope, quals, mode).lineage.flat();
        return this.column(scope, quals, names.at(-1)!, mode);
      }
      case 'SubLink':
        return [...this.expr(body.testexpr, scope, mode), ...this.query(body.subselect, scope, mode).lineage.flat()];
      case 'SelectStmt':
        return this.select(body, scope, mode).lineage.flat();
      case 'FuncCall':
        return this.funcCall(body, scope, mode);
      case 'TypeCast': {
        const lin = this.expr(body.arg, scope, mode);
        const to = castType(body);
        if (!TEXT_TYPES.has(to)) this.facts.flow(lin, Channel.ERROR, `cast to ${to}`);
        return lin;
      }
      case 'A_Expr':
        return this.operator(body, scope, mode);
      case 'BoolExpr': {
        const parts = arr(body.args).map((a) => this.expr(a, scope, mode));
        const all = parts.flat();
        if (body.boolop !== 'NOT_EXPR') {
          // AND/OR stop early and turn NULL into TRUE/FALSE: which operand decides is the value's.
          if (!mode.filter) this.facts.flow(all, Channel.VALUE, body.boolop === 'AND_EXPR' ? 'AND' : 'OR');
          for (const r of risk(body.args)) this.facts.flow(all, r, body.boolop === 'AND_EXPR' ? 'AND' : 'OR');
        }
        return all;
      }
      case 'CaseExpr': {
        const whens = arr(body.args).map((w) => obj(obj(w)?.CaseWhen) ?? {});
        const cond = [...this.expr(body.arg, scope, mode), ...whens.flatMap((w) => this.expr(w.expr, scope, mode))];
        const results = [...whens.flatMap((w) => this.expr(w.result, scope, mode)), ...this.expr(body.defresult, scope, mode)];
        // Which branch runs is the condition's value: it decides the result's value (NULL or not
        // included), and whether a risky branch raises or takes its time.
        if (!mode.filter) this.facts.flow(cond, Channel.VALUE, 'CASE');
        for (const r of risk([whens.map((w) => w.result), whens.slice(1).map((w) => w.expr), body.defresult])) this.facts.flow(cond, r, 'CASE');
        return [...cond, ...results];
      }
      case 'CoalesceExpr': {
        const args = arr(body.args);
        const parts = args.map((a) => this.expr(a, scope, mode));
        // Later arguments run only when the earlier ones are NULL.
        for (const r of risk(args.slice(1))) this.facts.flow(parts.slice(0, -1).flat(), r, 'COALESCE');
        return parts.flat();
      }
      case 'XmlExpr':
      case 'XmlSerialize': {
        const lin = this.generic(body, scope, mode);
        if (type === 'XmlSerialize' || !TOTAL_XML.has(String(body.op)))
          this.facts.flow(lin, Channel.ERROR, type === 'XmlSerialize' ? 'XMLSERIALIZE' : xmlName(String(body.op)));
        return lin;
      }
      case 'RangeVar':
        throw new Unsupported('a table reference in an unexpected place');
      default:
        if (DML.has(type)) throw new Unsupported('a data-modifying statement in an unexpected place');
        return this.generic(body, scope, mode);
    }
  }

  /** A function call: its arguments' flows by what the function does with them; aggregate ORDER BY, FILTER and OVER clauses. */
  private funcCall(body: Node, scope: Scope, mode: Mode): ColumnName[] {
    const name = funcName(body);
    this.facts.functions.add(name);
    const short = name.toLowerCase().split('.').at(-1)!;
    if (DYNAMIC_SQL_FUNCTIONS.has(short)) throw new Unsupported(`a function that runs SQL given as text or reads a table by name (${short})`);
    const out: ColumnName[] = [];
    arr(body.args).forEach((a, i) => {
      const lin = this.expr(a, scope, mode);
      const flow = functionFlow(name, i);
      if (flow) this.facts.flow(lin, flow.channel, flow.via);
      out.push(...lin);
    });
    out.push(...this.sortItems(body.agg_order, scope, mode, undefined, 'aggregate ORDER BY'));
    // An aggregate's FILTER (WHERE …) is a predicate.
    out.push(...this.expr(body.agg_filter, scope, FILTER));
    const over = obj(body.over);
    if (over) out.push(...this.windowDef(over, scope, mode));
    out.push(...this.generic(body, scope, mode, ['funcname', 'args', 'agg_order', 'agg_filter', 'over']));
    return out;
  }

  /** An operator: arithmetic can raise (overflow, division by zero), a pattern can be invalid, a comparison with a list can be NULL. */
  private operator(body: Node, scope: Scope, mode: Mode): ColumnName[] {
    const op = (str(arr(body.name).at(-1)) ?? '').toLowerCase();
    const l = this.expr(body.lexpr, scope, mode);
    const r = this.expr(body.rexpr, scope, mode);
    switch (body.kind) {
      case 'AEXPR_OP':
        if (PATTERN_OPERATORS.has(op)) {
          this.facts.flow(r, Channel.ERROR, `pattern ${op}`);
          // A regular expression can backtrack: how long matching takes depends on the value.
          if (op.includes('~') && !op.startsWith('~~') && !op.startsWith('!~~')) this.facts.flow(l, Channel.DELAY, `regular expression ${op}`);
        } else if (!TOTAL_OPERATORS.has(op)) this.facts.flow([...l, ...r], Channel.ERROR, `operator ${op}`);
        break;
      case 'AEXPR_LIKE':
      case 'AEXPR_ILIKE':
      case 'AEXPR_SIMILAR':
        if (body.kind === 'AEXPR_SIMILAR') this.facts.flow(l, Channel.DELAY, 'SIMILAR TO');
        this.facts.flow(r, Channel.ERROR, body.kind === 'AEXPR_SIMILAR' ? 'SIMILAR TO pattern' : `${body.kind === 'AEXPR_LIKE' ? 'LIKE' : 'ILIKE'} pattern`);
        break;
      case 'AEXPR_NULLIF':
        if (!mode.filter) this.facts.flow([...l, ...r], Channel.VALUE, 'NULLIF');
        break;
      case 'AEXPR_BETWEEN':
      case 'AEXPR_NOT_BETWEEN':
      case 'AEXPR_BETWEEN_SYM':
      case 'AEXPR_NOT_BETWEEN_SYM':
        // A NULL bound turns the answer into NULL or not depending on the value.
        if (!mode.filter) this.facts.flow([...l, ...r], Channel.VALUE, 'BETWEEN');
        break;
      case 'AEXPR_IN':
      case 'AEXPR_OP_ANY':
      case 'AEXPR_OP_ALL':
        // TRUE, FALSE or NULL (a NULL in the list): the NULL tells whether the value matched.
        if (!mode.filter) this.facts.flow([...l, ...r], Channel.VALUE, body.kind === 'AEXPR_IN' ? 'IN' : 'ANY/ALL');
        if (!TOTAL_OPERATORS.has(op)) this.facts.flow([...l, ...r], Channel.ERROR, `operator ${op}`);
        break;
      default:
        break;
    }
    return [...l, ...r];
  }

  /** A window: PARTITION BY and ORDER BY put rows in an order the values decide. */
  private windowDef(w: Node, scope: Scope, mode: Mode): ColumnName[] {
    const part = this.expr(w.partitionClause, scope, mode);
    this.facts.flow(part, Channel.ORDER, 'PARTITION BY');
    const order = this.sortItems(w.orderClause, scope, mode, undefined, 'window ORDER BY');
    return [...part, ...order, ...this.expr([w.startOffset, w.endOffset], scope, mode)];
  }

  /**
   * ORDER BY-like items (SortBy nodes or plain expressions): an ordinal position names an output
   * column (`ORDER BY 2`), anything else is an expression; their lineage flows to `channel`.
   */
  private sortItems(items: unknown, scope: Scope, mode: Mode, out: Output | undefined, via: string, channel: Channel = Channel.ORDER): ColumnName[] {
    const lin: ColumnName[] = [];
    for (const item of arr(items)) {
      const sb = obj(obj(item)?.SortBy);
      const node = sb ? sb.node : item;
      const pos = obj(obj(obj(node)?.A_Const)?.ival)?.ival;
      if (out && typeof pos === 'number') lin.push(...(out.lineage[pos - 1] ?? []));
      else lin.push(...this.expr(node, scope, mode));
      if (sb) lin.push(...this.expr(sb.useOp, scope, mode));
    }
    this.facts.flow(lin, channel, via);
    return lin;
  }

  private generic(body: Node, scope: Scope, mode: Mode, skip: string[] = []): ColumnName[] {
    const out: ColumnName[] = [];
    for (const [k, v] of Object.entries(body)) if (!skip.includes(k) && k !== 'location' && v && typeof v === 'object') out.push(...this.expr(v, scope, mode));
    return out;
  }

  // ---- queries --------------------------------------------------------------------------------

  /** A wrapped query node: `{SelectStmt: …}`, or a data-modifying statement (its own unit). */
  private query(n: unknown, scope: Scope, mode: Mode): Output {
    const u = unwrap(n);
    if (!u) throw new Unsupported('a query the analyser cannot read');
    if (u[0] === 'SelectStmt') return this.select(u[1], scope, mode);
    if (DML.has(u[0])) return this.nestedDml(u[0], u[1], scope);
    throw new Unsupported(`a ${u[0]} where a query was expected`);
  }

  /** A data-modifying statement inside another (a writable CTE): judged as its own statement; its RETURNING flows on. */
  private nestedDml(type: string, body: Node, scope: Scope): Output {
    const unit = new Unit(this.ctx);
    const out = unit.dml(type, body, scope);
    this.ctx.nested.push(unit.facts.done());
    return out;
  }

  private withClause(w: unknown, scope: Scope, mode: Mode): void {
    for (const c of arr(obj(w)?.ctes)) {
      const cte = unwrap(c);
      if (cte?.[0] !== 'CommonTableExpr') throw new Unsupported('a WITH item the analyser cannot read');
      const name = cte[1].ctename as string;
      const declared = arr(cte[1].aliascolnames).map(str) as string[];
      // Visible in its own body (recursive CTEs), with columns not yet known.
      const placeholder: Rel = { alias: name };
      if (declared.length) placeholder.cols = new Map(declared.map((d) => [d, []]));
      scope.ctes.set(name, placeholder);
      const cteMode: Mode = { filter: mode.filter, aliases: false };
      if (!obj(w)?.recursive) {
        scope.ctes.set(name, { alias: name, cols: outputColumns(this.query(cte[1].ctequery, scope, cteMode), declared) });
        continue;
      }
      // A recursive CTE reads its own rows: walk it again with the lineage its last walk found,
      // until nothing new flows in, so `substr(s, 2)` in the recursive term carries patients.ssn.
      const resolvedBefore = this.facts.resolved;
      let cols = placeholder.cols;
      for (let pass = 0; ; pass++) {
        if (pass > 0) this.facts.resolved = resolvedBefore;
        const next = mergeCols(cols, outputColumns(this.query(cte[1].ctequery, scope, cteMode), declared));
        if (cols && sameCols(cols, next)) break;
        cols = next;
        scope.ctes.set(name, { alias: name, cols });
        if (pass === 4) {
          this.facts.resolved = false;
          break;
        }
      }
    }
  }

  select(body: Node, parent: Scope | undefined, mode: Mode, top = false): Output {
    const scope: Scope = { rels: [], ctes: new Map() };
    if (parent) scope.parent = parent;
    const inner: Mode = { filter: mode.filter, aliases: false };
    if (body.withClause) this.withClause(body.withClause, scope, mode);
    if (top) {
      this.facts.hasWhere = Boolean(body.whereClause);
      this.facts.whereTriviallyTrue = Boolean(body.whereClause) && isTriviallyTrue(body.whereClause);
      this.facts.hasLimit = Boolean(body.limitCount);
    }
    if (body.op && body.op !== 'SETOP_NONE') {
      const l = this.select(obj(body.larg)!, scope, mode);
      const r = this.select(obj(body.rarg)!, scope, mode);
      const out: Output = { names: l.names, lineage: l.lineage.map((lin, i) => [...lin, ...(r.lineage[i] ?? [])]) };
      // UNION, INTERSECT and EXCEPT compare whole rows: how many come out depends on every value.
      if (!(body.op === 'SETOP_UNION' && body.all)) this.facts.flow(out.lineage.flat(), Channel.ROWS, String(body.op).replace('SETOP_', ''));
      const named: Scope = { rels: [], ctes: new Map(), parent: scope, outputs: outputColumns(out, []) };
      this.sortItems(body.sortClause, named, { filter: mode.filter, aliases: true }, out, 'ORDER BY');
      this.limits(body, scope, inner);
      return out;
    }
    if (body.valuesLists) {
      const out: Output = { names: [], lineage: [] };
      for (const row of arr(body.valuesLists)) {
        const items = arr(obj(obj(row)?.List)?.items);
        items.forEach((x, i) => {
          out.lineage[i] = [...(out.lineage[i] ?? []), ...this.expr(x, scope, inner)];
        });
      }
      out.names = out.lineage.map((_, i) => `column${i + 1}`);
      return out;
    }
    for (const item of arr(body.fromClause)) this.fromItem(item, scope, inner);
    const out: Output = { names: [], lineage: [] };
    for (const t of arr(body.targetList)) {
      const rt = obj(obj(t)?.ResTarget);
      if (!rt) throw new Unsupported('a select list the analyser cannot read');
      const ref = obj(obj(rt.val)?.ColumnRef);
      const fields = arr(ref?.fields);
      if (ref && obj(fields.at(-1))?.A_Star) {
        const s = this.star(scope, fields.slice(0, -1).map(str) as string[], inner);
        out.names.push(...s.names);
        out.lineage.push(...s.lineage);
        continue;
      }
      out.lineage.push(this.expr(rt.val, scope, inner));
      out.names.push((rt.name as string | undefined) ?? (ref ? str(fields.at(-1)) : undefined));
    }
    scope.outputs = outputColumns(out, []);
    const withAliases: Mode = { filter: mode.filter, aliases: true };
    this.expr(body.whereClause, scope, FILTER);
    this.expr(body.havingClause, scope, FILTER);
    this.sortItems(body.groupClause, scope, withAliases, out, 'GROUP BY', Channel.ROWS);
    const distinct = arr(body.distinctClause);
    if (distinct.length === 1 && obj(distinct[0]) && !Object.keys(obj(distinct[0])!).length) {
      // Plain DISTINCT: duplicates of whole output rows are dropped.
      this.facts.flow(out.lineage.flat(), Channel.ROWS, 'DISTINCT');
    } else if (distinct.length) {
      // DISTINCT ON keeps the first row of each group, in an order the expressions decide.
      const on = this.sortItems(distinct, scope, withAliases, out, 'DISTINCT ON');
      this.facts.flow(on, Channel.ROWS, 'DISTINCT ON');
    }
    this.sortItems(body.sortClause, scope, withAliases, out, 'ORDER BY');
    for (const w of arr(body.windowClause)) this.windowDef(obj(obj(w)?.WindowDef) ?? {}, scope, inner);
    this.limits(body, scope, inner);
    return out;
  }

  /** LIMIT, OFFSET and FETCH: how many rows come out. */
  private limits(body: Node, scope: Scope, mode: Mode): void {
    this.facts.flow(this.expr(body.limitCount, scope, mode), Channel.ROWS, 'LIMIT');
    this.facts.flow(this.expr(body.limitOffset, scope, mode), Channel.ROWS, 'OFFSET');
  }

  private fromItem(item: unknown, scope: Scope, mode: Mode): void {
    const u = unwrap(item);
    if (!u) throw new Unsupported('a FROM item the analyser cannot read');
    const [type, body] = u;
    const alias = obj(body.alias);
    const aliasName = (alias?.aliasname as string | undefined) ?? '';
    const colnames = arr(alias?.colnames).map(str) as string[];
    switch (type) {
      case 'RangeVar':
        scope.rels.push(this.rangeVar(body, scope, 'read'));
        return;
      case 'RangeSubselect':
        scope.rels.push({ alias: aliasName, cols: outputColumns(this.query(body.subquery, scope, mode), colnames) });
        return;
      case 'RangeFunction': {
        const input: ColumnName[] = [];
        const names: string[] = [];
        for (const f of arr(body.functions)) {
          const items = arr(obj(obj(f)?.List)?.items);
          const args = this.expr(items[0], scope, mode);
          // A function in FROM decides how many rows it yields.
          const fn0 = obj(obj(items[0])?.FuncCall);
          this.facts.flow(args, Channel.ROWS, fn0 ? funcName(fn0) : 'a function in FROM');
          input.push(...args);
          for (const d of arr(items[1])) {
            const cd = obj(obj(d)?.ColumnDef);
            if (cd?.colname) names.push(cd.colname as string);
          }
          const fn = obj(obj(items[0])?.FuncCall);
          if (fn) names.push(str(arr(fn.funcname).at(-1)) ?? '');
        }
        for (const d of arr(body.coldeflist)) {
          const cd = obj(obj(d)?.ColumnDef);
          if (cd?.colname) names.push(cd.colname as string);
        }
        // A function's output columns carry its arguments' values. A scalar function's one column takes the alias's name.
        const cols = new Map<string, ColumnName[]>();
        for (const n of [...colnames, ...names, aliasName]) if (n) cols.set(n, input);
        scope.rels.push({ alias: aliasName, cols });
        return;
      }
      case 'JoinExpr': {
        const before = scope.rels.length;
        this.fromItem(body.larg, scope, mode);
        const middle = scope.rels.length;
        this.fromItem(body.rarg, scope, mode);
        this.expr(body.quals, scope, FILTER);
        const using = arr(body.usingClause).map(str) as string[];
        if (body.isNatural) {
          // NATURAL JOIN joins on every column name the two sides share.
          const left = new Set(scope.rels.slice(before, middle).flatMap((r) => this.relNames(r)));
          for (const n of new Set(scope.rels.slice(middle).flatMap((r) => this.relNames(r)))) if (left.has(n)) using.push(n);
        }
        for (const col of using) {
          for (const r of scope.rels.slice(before)) {
            const c = relColumn(this.ctx.catalog, r, col);
            if (c) this.facts.use(c, FILTER);
          }
        }
        if (aliasName) {
          // `(a JOIN b) AS j`: the joined columns are visible only through j.
          const joined = scope.rels.splice(before);
          const cols = new Map<string, ColumnName[]>();
          for (const r of joined) for (const n of this.relNames(r)) cols.set(n, [...(cols.get(n) ?? []), ...(relColumn(this.ctx.catalog, r, n) ?? [])]);
          if (joined.some((r) => !r.table && !r.cols)) this.facts.resolved = false;
          scope.rels.push({ alias: aliasName, cols });
        }
        return;
      }
      case 'RangeTableSample':
        this.fromItem(body.relation, scope, mode);
        this.facts.flow(this.expr([body.args, body.repeatable], scope, mode), Channel.ROWS, 'TABLESAMPLE');
        return;
      default:
        throw new Unsupported(`the FROM item ${type}`);
    }
  }

  private relNames(r: Rel): string[] {
    if (r.cols) return [...r.cols.keys()];
    if (r.table) return this.ctx.catalog.columns(r.table) ?? [];
    return [];
  }

  // ---- statements -----------------------------------------------------------------------------

  /** INSERT, UPDATE, DELETE and MERGE: the target is written; everything else in them is read. */
  dml(type: string, body: Node, parent?: Scope): Output {
    const f = this.facts;
    f.kind = kindOf(type, body);
    const scope: Scope = { rels: [], ctes: new Map() };
    if (parent) scope.parent = parent;
    if (body.withClause) this.withClause(body.withClause, scope, PLAIN);
    const rv = obj(body.relation);
    if (!rv) throw new Unsupported('a data-modifying statement without a target');
    const target = this.rangeVar(rv, scope, 'write');
    const t = target.table!;
    const written = (cols: string[]) => {
      if (!cols.length) f.columnsWritten.push({ table: t, column: '*' });
      for (const c of cols) {
        if (!this.ctx.catalog.hasColumn(t, c)) f.resolved = false;
        f.columnsWritten.push({ table: t, column: c });
      }
    };
    const resNames = (list: unknown) => arr(list).map((x) => obj(obj(x)?.ResTarget)?.name as string);
    switch (type) {
      case 'InsertStmt': {
        written(resNames(body.cols));
        if (body.selectStmt) this.facts.flow(this.query(body.selectStmt, scope, PLAIN).lineage.flat(), Channel.VALUE, 'INSERT');
        const oc = obj(body.onConflictClause);
        if (oc) {
          // ON CONFLICT … DO UPDATE: the target and the proposed row (`excluded`) are in scope.
          const conflict: Scope = { rels: [target, { alias: 'excluded', table: t }], ctes: new Map(), parent: scope };
          for (const x of arr(oc.targetList)) {
            const rt = obj(obj(x)?.ResTarget)!;
            written([rt.name as string]);
            this.facts.flow(this.expr(rt.val, conflict, PLAIN), Channel.VALUE, 'INSERT … ON CONFLICT');
          }
          this.expr(oc.whereClause, conflict, FILTER);
          this.expr(obj(oc.infer)?.whereClause, conflict, FILTER);
        }
        break;
      }
      case 'UpdateStmt': {
        scope.rels.push(target);
        for (const item of arr(body.fromClause)) this.fromItem(item, scope, PLAIN);
        for (const x of arr(body.targetList)) {
          const rt = obj(obj(x)?.ResTarget)!;
          written([rt.name as string]);
          this.facts.flow(this.expr(rt.val, scope, PLAIN), Channel.VALUE, 'UPDATE');
        }
        this.where(body.whereClause, scope);
        break;
      }
      case 'DeleteStmt':
        scope.rels.push(target);
        for (const item of arr(body.usingClause)) this.fromItem(item, scope, PLAIN);
        this.where(body.whereClause, scope);
        break;
      case 'MergeStmt': {
        scope.rels.push(target);
        this.fromItem(body.sourceRelation, scope, PLAIN);
        // The join condition is what bounds a MERGE: reported as its WHERE.
        f.hasWhere = true;
        f.whereTriviallyTrue = isTriviallyTrue(body.joinCondition);
        this.expr(body.joinCondition, scope, FILTER);
        for (const w of arr(body.mergeWhenClauses)) {
          const clause = obj(obj(w)?.MergeWhenClause)!;
          this.expr(clause.condition, scope, FILTER);
          if (clause.commandType === 'CMD_UPDATE' || clause.commandType === 'CMD_INSERT') written(resNames(clause.targetList));
          for (const x of arr(clause.targetList)) this.facts.flow(this.expr(obj(obj(x)?.ResTarget)?.val, scope, PLAIN), Channel.VALUE, 'MERGE');
          this.facts.flow(this.expr(clause.values, scope, PLAIN), Channel.VALUE, 'MERGE');
        }
        break;
      }
    }
    const returning = arr(obj(body.returningClause)?.exprs ?? body.returningList);
    const out: Output = { names: [], lineage: [] };
    const own: Scope = { rels: [target], ctes: new Map(), parent: scope };
    for (const x of returning) {
      const rt = obj(obj(x)?.ResTarget)!;
      const ref = obj(obj(rt.val)?.ColumnRef);
      if (ref && obj(arr(ref.fields).at(-1))?.A_Star) {
        const s = this.star(own, arr(ref.fields).slice(0, -1).map(str) as string[], PLAIN);
        out.names.push(...s.names);
        out.lineage.push(...s.lineage);
        continue;
      }
      out.lineage.push(this.expr(rt.val, type === 'InsertStmt' || type === 'MergeStmt' ? own : scope, PLAIN));
      out.names.push((rt.name as string | undefined) ?? (ref ? str(arr(ref.fields).at(-1)) : undefined));
    }
    return out;
  }

  private where(where: unknown, scope: Scope): void {
    this.facts.hasWhere = Boolean(where);
    this.facts.whereTriviallyTrue = Boolean(where) && isTriviallyTrue(where);
    this.expr(where, scope, FILTER);
  }

  /** A new or dropped object: it need not be in the catalog, but must be in this database. */
  private object(parts: string[]): TableName {
    const db = this.ctx.catalog.database;
    if (parts.length === 1) return { database: db, schema: this.ctx.defaultSchema, name: parts[0]! };
    if (parts.length === 2) return { database: db, schema: parts[0]!, name: parts[1]! };
    if (parts.length === 3 && parts[0] === db) return { database: db, schema: parts[1]!, name: parts[2]! };
    throw new Unsupported(`an object in another database: ${parts.join('.')}`);
  }

  /** A schema-wide statement touches every table the catalog knows in the schema (none known: not understood). */
  private schemaTables(schema: string | undefined): void {
    const tables = schema ? this.ctx.catalog.tables(schema) : [];
    if (!tables.length) throw new Unsupported(`a statement on schema ${schema ?? '?'}, where the connection knows no table`);
    for (const t of tables) this.facts.write(t);
  }

  private databaseTables(db: string | undefined): void {
    if (db !== this.ctx.catalog.database) throw new Unsupported(`a statement on another database: ${db ?? '?'}`);
    for (const t of this.ctx.catalog.tables()) this.facts.write(t);
  }

  run(type: string, body: Node): void {
    const f = this.facts;
    f.kind = kindOf(type, body);
    const root: Scope = { rels: [], ctes: new Map() };
    if (DML.has(type)) {
      this.dml(type, body);
      return;
    }
    switch (type) {
      case 'SelectStmt': {
        const into = obj(obj(body.intoClause)?.rel);
        if (into) f.write(this.table(into));
        const out = this.select(body, undefined, PLAIN, true);
        if (into) f.flow(out.lineage.flat(), Channel.VALUE, 'SELECT INTO');
        return;
      }
      case 'CreateStmt':
        f.write(this.table(obj(body.relation)!));
        return;
      case 'CreateTableAsStmt': {
        f.write(this.table(obj(obj(body.into)?.rel)!));
        const q = unwrap(body.query);
        if (q?.[0] === 'ExecuteStmt') f.resolved = false;
        else f.flow(this.query(body.query, root, PLAIN).lineage.flat(), Channel.VALUE, 'CREATE TABLE AS');
        return;
      }
      case 'ViewStmt':
        f.write(this.table(obj(body.view)!));
        f.flow(this.query(body.query, root, PLAIN).lineage.flat(), Channel.VALUE, 'CREATE VIEW');
        return;
      case 'IndexStmt':
      case 'AlterTableStmt':
      case 'RefreshMatViewStmt':
        f.write(this.known(obj(body.relation)!));
        return;
      case 'RenameStmt': {
        const rv = obj(body.relation);
        if (rv) {
          f.write(this.known(rv));
          if (body.renameType === 'OBJECT_TABLE' || body.renameType === 'OBJECT_VIEW') f.write(this.table({ ...rv, relname: body.newname }));
        }
        return;
      }
      case 'TruncateStmt':
        for (const r of arr(body.relations)) f.write(this.known(obj(obj(r)?.RangeVar)!));
        return;
      case 'DropStmt': {
        const objectType = String(body.removeType);
        if (objectType === 'OBJECT_SCHEMA') for (const o of arr(body.objects)) this.schemaTables(str(o));
        if (['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE'].includes(objectType)) {
          for (const o of arr(body.objects)) f.write(this.object(arr(obj(obj(o)?.List)?.items).map(str) as string[]));
        }
        return;
      }
      case 'DropdbStmt':
        this.databaseTables(body.dbname as string);
        return;
      case 'GrantStmt': {
        // A privilege on a table changes that table's access: reported as written. Schema- and
        // database-wide privileges are reported on every table the catalog knows there.
        const objtype = String(body.objtype);
        if (body.targtype === 'ACL_TARGET_ALL_IN_SCHEMA') {
          if (objtype === 'OBJECT_TABLE') for (const o of arr(body.objects)) this.schemaTables(str(o));
        } else if (objtype === 'OBJECT_TABLE') for (const o of arr(body.objects)) f.write(this.known(obj(obj(o)?.RangeVar)!));
        else if (objtype === 'OBJECT_SCHEMA') for (const o of arr(body.objects)) this.schemaTables(str(o));
        else if (objtype === 'OBJECT_DATABASE') for (const o of arr(body.objects)) this.databaseTables(str(o));
        return;
      }
      case 'AlterDefaultPrivilegesStmt':
        // Privileges on tables created later: every table the catalog knows stands for them.
        for (const t of this.ctx.catalog.tables()) f.write(t);
        return;
      case 'CopyStmt': {
        const rv = obj(body.relation);
        if (rv) {
          const t = this.known(rv);
          const cols = arr(body.attlist).map(str) as string[];
          const list = cols.length ? cols.map((c) => ({ table: t, column: c })) : [{ table: t, column: '*' }];
          if (body.is_from) {
            f.write(t);
            f.columnsWritten.push(...list);
          } else {
            f.read(t);
            f.columnsRead.push(...list);
          }
          for (const c of cols) if (!this.ctx.catalog.hasColumn(t, c)) f.resolved = false;
          if (body.whereClause) this.expr(body.whereClause, { rels: [{ alias: t.name, table: t }], ctes: new Map() }, FILTER);
        }
        if (body.query) this.query(body.query, root, PLAIN);
        return;
      }
      case 'CallStmt': {
        const call = obj(body.funccall);
        if (!call) throw new Unsupported('CALL of something other than a procedure');
        this.expr({ FuncCall: call }, root, PLAIN);
        return;
      }
      case 'ExecuteStmt':
        // A statement prepared earlier: what it does is not in this input.
        f.resolved = false;
        this.generic(body, root, PLAIN);
        return;
      default:
        if (QUERY_HOLDERS.has(type)) {
          this.query(body.query, root, PLAIN);
          return;
        }
        this.fallback(body);
    }
  }

  /** Statements without a model of their own: every table they name is reported, as read. */
  private fallback(body: unknown): void {
    if (Array.isArray(body)) {
      for (const x of body) this.fallback(x);
      return;
    }
    const o = obj(body);
    if (!o) return;
    // A RangeVar, wrapped or not (`relation` fields are not).
    if (typeof o.relname === 'string' && 'relpersistence' in o) {
      this.facts.read(this.known(o));
      return;
    }
    for (const [k, v] of Object.entries(o)) {
      if (k === 'FuncCall' && obj(v)) this.facts.functions.add(arr(obj(v)!.funcname).map(str).join('.').toLowerCase());
      if (DML.has(k) || k === 'SelectStmt') throw new Unsupported(`a ${k} inside a statement the analyser does not model`);
      if (v && typeof v === 'object') this.fallback(v);
    }
  }
}

const colKey = (c: ColumnName) => `${c.table.schema}.${c.table.name}.${c.column}`;

function mergeCols(a: Map<string, ColumnName[]> | undefined, b: Map<string, ColumnName[]>): Map<string, ColumnName[]> {
  const out = new Map<string, ColumnName[]>();
  for (const [k, lin] of b) {
    const all = [...(a?.get(k) ?? []), ...lin];
    out.set(k, [...new Map(all.map((c) => [colKey(c), c])).values()]);
  }
  return out;
}

function sameCols(a: Map<string, ColumnName[]>, b: Map<string, ColumnName[]>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, lin] of a) {
    const other = b.get(k);
    if (!other || other.length !== lin.length || !lin.every((c) => other.some((o) => colKey(o) === colKey(c)))) return false;
  }
  return true;
}

function rename(cols: Map<string, ColumnName[]>, names: string[]): Map<string, ColumnName[]> {
  const out = new Map<string, ColumnName[]>();
  [...cols.entries()].forEach(([c, lin], i) => {
    out.set(names[i] ?? c, lin);
  });
  return out;
}

/**
 * Analyses PostgreSQL with PostgreSQL's own grammar, so the gateway cannot disagree with the
 * database about what a statement is. Tables are resolved with the connection's default schema
 * and the catalog, columns through each query level's scope; a data-modifying statement nested
 * in another (a writable CTE) is reported as a statement of its own, so policy judges the write.
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
    const cursor = (err as { sqlDetails?: { cursorPosition?: unknown } }).sqlDetails?.cursorPosition;
    const failure = { sqlstate: '42601', message: msg ?? 'syntax error', ...position(cursor) };
    return { dialect: 'postgresql', fingerprint: '', understood: false, error: `syntax not understood: ${msg}`, failure, statements: [] };
  }
  const statements: StatementFacts[] = [];
  const errors: string[] = [];
  let failure: AnalysisFailure | undefined;
  const count = tree.stmts.length;
  for (const [i, { stmt }] of tree.stmts.entries()) {
    const [type, body] = Object.entries(stmt)[0] as [string, Node];
    const ctx: Context = { catalog, defaultSchema, nested: [] };
    const unit = new Unit(ctx);
    try {
      unit.run(type, body);
      // SET search_path changes how the statements after it resolve table names.
      if (type === 'VariableSetStmt' && ['search_path', 'schema'].includes(String(body.name)) && i < count - 1)
        throw new Unsupported('SET search_path changes how the statements after it resolve names');
    } catch (err) {
      const msg = err instanceof Unsupported ? err.message : `the analyser failed: ${String((err as Error)?.message ?? err).slice(0, 120)}`;
      if (!errors.length && err instanceof Unsupported) failure = err.failure;
      errors.push(count > 1 ? `statement ${i + 1}: ${msg}` : msg);
    }
    statements.push(unit.facts.done(), ...ctx.nested);
  }
  const understood = count > 0 && errors.length === 0;
  return {
    dialect: 'postgresql',
    fingerprint,
    understood,
    error: understood ? '' : (errors[0] ?? 'nothing to analyse'),
    ...(understood || !failure ? {} : { failure }),
    statements,
  };
}

/** PostgreSQL's 1-based position from a 0-based parser offset (none when there is none). */
function position(offset: unknown): { position?: number } {
  return typeof offset === 'number' && offset >= 0 ? { position: offset + 1 } : {};
}
