import { createHash } from 'node:crypto';
import { type Analysis, Channel, type ColumnName, type StatementFacts, type TableName } from '@phigate/model';
import type { Catalog } from './catalog.js';
import { Facts, FILTER, findRel, lookupColumn, type Mode, type Output, outputColumns, PLAIN, type Rel, relColumn, type Scope, Unsupported } from './facts.js';
import { functionFlow, PATTERN_OPERATORS, ROW_FUNCTIONS, TEXT_TYPES, TOTAL_FUNCTIONS, TOTAL_OPERATORS } from './flows.js';
import {
  isOp,
  isWord,
  LexError,
  lex,
  PLACEHOLDER,
  type Prepared,
  prepare,
  quotedIndex,
  render,
  splitStatements,
  type Token,
  tokenFingerprint,
  upper,
} from './snowflake-lexer.js';

/** The subset of node-sql-parser's result this module reads. */
export interface ParsedSql {
  ast: unknown;
  tableList: string[];
  columnList: string[];
}

/** Parses SQL (node-sql-parser); throws on syntax it does not understand. */
export type SqlParser = (sql: string, dialect: 'postgresql' | 'snowflake') => ParsedSql;

/** How a client's session changes name resolution (Snowflake session parameters). */
export interface AnalysisOptions {
  /** QUOTED_IDENTIFIERS_IGNORE_CASE = TRUE: quoted names resolve as if unquoted (upper case). */
  quotedIdentifiersIgnoreCase?: boolean;
}

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

const obj = (v: unknown): Node | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Node) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Snowflake date and time parts: the first argument of DATEADD and friends is a part, never a column. */
const DATE_PARTS = new Set(
  'YEAR YEARS Y YY YYY YYYY YR YRS MONTH MONTHS MM MON MONS DAY DAYS D DD DAYOFMONTH DAYOFWEEK WEEKDAY DOW DW DAYOFWEEKISO WEEKDAY_ISO DOW_ISO DW_ISO DAYOFYEAR YEARDAY DOY DY WEEK W WK WEEKOFYEAR WOY WY WEEKISO WEEK_ISO WEEKOFYEARISO WEEKOFYEAR_ISO QUARTER Q QTR QTRS QUARTERS YEAROFWEEK YEAROFWEEKISO HOUR HOURS H HH HR HRS MINUTE MINUTES M MI MIN MINS SECOND SECONDS S SEC SECS MILLISECOND MILLISECONDS MS MSEC MICROSECOND MICROSECONDS US USEC NANOSECOND NANOSECONDS NS NSEC NANOSEC NSECOND NANOSECS NSECONDS EPOCH_SECOND EPOCH EPOCH_SECONDS EPOCH_MILLISECOND EPOCH_MILLISECONDS EPOCH_MICROSECOND EPOCH_MICROSECONDS EPOCH_NANOSECOND EPOCH_NANOSECONDS TIMEZONE_HOUR TZH TIMEZONE_MINUTE TZM'.split(
    ' ',
  ),
);
const DATE_PART_FUNCTIONS = new Set(['dateadd', 'datediff', 'timeadd', 'timediff', 'timestampadd', 'timestampdiff', 'date_trunc', 'time_trunc', 'date_part']);
/** Grammar artefacts node-sql-parser reports as functions. */
const NOT_FUNCTIONS = new Set(['not', 'exists', 'any', 'all', 'some', 'table', 'identifier']);
const FLATTEN_COLUMNS = ['SEQ', 'KEY', 'PATH', 'INDEX', 'VALUE', 'THIS'];
const SPLIT_COLUMNS = ['SEQ', 'INDEX', 'VALUE'];

/**
 * Snowflake functions total in their first argument only, besides the shared list (flows.ts): a
 * digest size can make them raise. (TRY_* functions are value flows: flows.ts.)
 */
const FIRST_ARGUMENT_TOTAL_SF = new Set(['sha2', 'sha2_hex', 'sha2_binary']);
/** Snowflake system functions with side effects (logging, events, notifications, return values, cancellation). */
const SIDE_EFFECT_PREFIXES = ['system$set_', 'system$log', 'system$send_', 'system$add_event', 'system$cancel_', 'system$abort_', 'pg_advisory_'];
/** Set-returning functions besides the shared list. */
const ROW_FUNCTIONS_SF = new Set(['json_tree']);
/**
 * Conditional functions (judged as CASE is): which argument positions decide whether the later
 * ones are evaluated, for `n` arguments; `compares`: whether the deciders are compared with
 * something (their value, not only their NULL-ness, steers the result).
 */
const CONDITIONAL: Record<string, { decides: (i: number, n: number) => boolean; compares: boolean }> = {
  iff: { decides: (i) => i === 0, compares: true },
  if: { decides: (i) => i === 0, compares: true },
  // DECODE(expr, search1, result1, …, [default]): the expression and the searches decide.
  decode: { decides: (i, n) => i === 0 || (i % 2 === 1 && i < n - 1), compares: true },
  nvl2: { decides: (i) => i === 0, compares: false },
  coalesce: { decides: (i, n) => i < n - 1, compares: false },
  nvl: { decides: (i, n) => i < n - 1, compares: false },
  ifnull: { decides: (i, n) => i < n - 1, compares: false },
};
/**
 * Operators that never raise besides the shared ones (flows.ts): the value side of the pattern
 * operators is judged separately, and AND/OR, IN and BETWEEN for the NULLs they can make.
 */
const SAFE_OPERATORS = new Set([
  ...[...TOTAL_OPERATORS].map((o) => o.toUpperCase()),
  'IS',
  'IS NOT',
  'IS DISTINCT FROM',
  'IS NOT DISTINCT FROM',
  'AND',
  'OR',
  'IN',
  'NOT IN',
  'BETWEEN',
  'NOT BETWEEN',
]);
/** Operators whose result can be NULL for some values of a non-NULL operand (a NULL in a list, a bound, the other operand). */
const NULLING_OPERATORS = new Set(['AND', 'OR', 'IN', 'NOT IN', 'BETWEEN', 'NOT BETWEEN']);
/** Pattern operators: the pattern side can raise (an invalid pattern); a regular expression can also backtrack. */
const PATTERNS = new Set([
  ...[...PATTERN_OPERATORS].map((o) => o.toUpperCase()),
  'NOT LIKE',
  'NOT ILIKE',
  'NOT RLIKE',
  'NOT REGEXP',
  'SIMILAR TO',
  'NOT SIMILAR TO',
]);
const REGULAR_EXPRESSIONS = new Set(['RLIKE', 'NOT RLIKE', 'REGEXP', 'NOT REGEXP', 'SIMILAR TO', 'NOT SIMILAR TO', '~', '~*', '!~', '!~*']);
/** GROUP BY constructs whose arguments are grouping items. */
const GROUPING_CONSTRUCTS = new Set(['rollup', 'cube', 'grouping sets']);

/** A query's result columns; `open`: some select item expands to columns the analyser cannot name (COLUMNS(…)), carrying these. */
interface Out extends Output {
  open?: ColumnName[];
}

/**
 * A derived relation's columns when some of its columns cannot be named (COLUMNS(…)): any name
 * resolves, to the columns the unnamed ones may carry.
 */
class OpenColumns extends Map<string, ColumnName[]> {
  constructor(
    entries: Iterable<readonly [string, ColumnName[]]>,
    private readonly rest: ColumnName[],
  ) {
    super(entries);
  }

  override get(name: string): ColumnName[] {
    return super.get(name) ?? this.rest;
  }
}

/** Passes over recursive CTE bodies allowed per statement (their lineage is computed to a fixpoint). */
const MAX_CTE_PASSES = 64;

const colKey = (c: ColumnName) => `${c.table.database}.${c.table.schema}.${c.table.name}.${c.column}`;

function sameColumns(a: Map<string, ColumnName[]> | undefined, b: Map<string, ColumnName[]>): boolean {
  if (!a || a.size !== b.size) return false;
  for (const [k, v] of b) {
    const x = a.get(k);
    if (!x) return false;
    const ks = new Set(x.map(colKey));
    const vs = new Set(v.map(colKey));
    if (ks.size !== vs.size || [...vs].some((y) => !ks.has(y))) return false;
  }
  return true;
}
const SELECT_KEYS = new Set([
  'with',
  'type',
  'options',
  'distinct',
  'columns',
  'into',
  'from',
  'where',
  'groupby',
  'having',
  'qualify',
  'orderby',
  'limit',
  'top',
  'window',
  '_next',
  'set_op',
  'parentheses_symbol',
  '_parentheses',
  'collate',
  'loc',
]);

/**
 * Whether an expression can be true for every row: a tautology, or a condition that does not
 * depend on the row. `canon` spells an expression with its names resolved ("ID" and id alike).
 */
function triviallyTrue(e: unknown, canon: (x: unknown) => string): boolean {
  const n = obj(e);
  if (!n) return false;
  if (n.type === 'bool') return n.value === true;
  if (n.type === 'binary_expr') {
    const op = String(n.operator).toUpperCase();
    if (op === 'OR') return triviallyTrue(n.left, canon) || triviallyTrue(n.right, canon);
    if (op === 'AND') return triviallyTrue(n.left, canon) && triviallyTrue(n.right, canon);
    if (['=', '>=', '<=', 'IS', 'IS NOT DISTINCT FROM'].includes(op) && canon(n.left) === canon(n.right)) return true;
  }
  return !dependsOnRow(n);
}

/** Whether an expression refers to any column (at any depth, subqueries included). */
function dependsOnRow(e: unknown): boolean {
  let found = false;
  const visit = (v: unknown): void => {
    if (found) return;
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') {
      const n = v as Node;
      if (n.type === 'column_ref' || (n.type === 'var' && n.prefix === '$' && /^\d+$/.test(String(n.name)))) {
        found = true;
        return;
      }
      for (const [k, x] of Object.entries(n)) if (k !== 'tableList' && k !== 'columnList') visit(x);
    }
  };
  visit(e);
  return found;
}

/** How many bind parameters node-sql-parser read. */
function countParams(ast: unknown): number {
  let n = 0;
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') {
      if ((v as Node).type === 'param') n++;
      for (const [k, x] of Object.entries(v)) if (k !== 'tableList' && k !== 'columnList') visit(x);
    }
  };
  visit(ast);
  return n;
}

/**
 * Splits `db.sch."Tbl"` (the argument of IDENTIFIER()) into names, folded as Snowflake folds them
 * (quoted ones too when the session sets QUOTED_IDENTIFIERS_IGNORE_CASE).
 */
function identifierChain(s: string, quotedIgnoreCase: boolean): string[] {
  if (s.includes(PLACEHOLDER)) throw new Unsupported('IDENTIFIER() of a literal with escapes');
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    if (s[i] === '"') {
      let j = i + 1;
      let v = '';
      for (;;) {
        const k = s.indexOf('"', j);
        if (k < 0) throw new Unsupported('IDENTIFIER() of an unterminated quoted name');
        v += s.slice(j, k);
        if (s[k + 1] === '"') {
          v += '"';
          j = k + 2;
          continue;
        }
        i = k + 1;
        break;
      }
      if (!v) throw new Unsupported('IDENTIFIER() of an empty name');
      parts.push(quotedIgnoreCase ? v.toUpperCase() : v);
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(s.slice(i));
      if (!m) throw new Unsupported(`IDENTIFIER() of something that is not a name: ${JSON.stringify(s.slice(0, 80))}`);
      parts.push(m[0].toUpperCase());
      i += m[0].length;
    }
    if (i === s.length) break;
    if (s[i] !== '.') throw new Unsupported(`IDENTIFIER() of something that is not a name: ${JSON.stringify(s.slice(0, 80))}`);
    i++;
  }
  return parts;
}

/** Node-sql-parser statement types for each leading keyword. */
const PARSED_KINDS: Record<string, string> = {
  SELECT: 'select',
  WITH: 'select',
  '(': 'select',
  INSERT: 'insert',
  UPDATE: 'update',
  CREATE: 'create',
  ALTER: 'alter',
  CALL: 'call',
  SET: 'set',
};

/**
 * Analyses one Snowflake statement: the statement's own tokens, lexed and rewritten by
 * snowflake-lexer, parsed by node-sql-parser (or, for the statements its grammar lacks, recognised
 * by a strict token-level recogniser), then walked with SQL's scoping rules: aliases, CTEs,
 * subqueries, lateral FLATTEN and select-list aliases are resolved to catalog columns.
 */
class StatementAnalyser {
  private readonly facts = new Facts();
  private tokens: Token[] = [];
  private prepared: Prepared = { replace: [], quoted: [], bind: [] };
  /** Error-channel constructs visited so far (with or without a column), subqueries and sleeps: what could make a branch raise. */
  private raises = 0;
  /** Sleeps and subqueries visited so far: what could make a branch slow. */
  private slows = 0;
  /** COLUMNS(…) expansions visited so far. */
  private expansions = 0;
  /** CTEs referred to (a CTE referring to itself is recursive). */
  private readonly cteHits = new Set<Rel>();
  private ctePasses = 0;

  constructor(
    private readonly parse: SqlParser,
    private readonly catalog: Catalog,
    private readonly defaultSchema: string,
    private readonly options: AnalysisOptions,
  ) {}

  run(tokens: Token[], statementCount: number): StatementFacts {
    this.tokens = tokens;
    this.prepared = prepare(tokens);
    const first = tokens[0];
    const kw = isOp(first, '(') ? '(' : upper(first);
    const second = upper(tokens[1]);
    const f = this.facts;
    switch (kw) {
      case 'DELETE':
        this.delete();
        break;
      case 'MERGE':
        this.merge();
        break;
      case 'COPY':
        this.copy();
        break;
      case 'DROP':
        this.drop();
        break;
      case 'TRUNCATE':
        this.truncate();
        break;
      case 'USE':
        this.use();
        break;
      case 'SHOW':
        f.kind = 'show';
        if (!tokens.slice(1).every((t) => t.type === 'word' || t.type === 'qident' || t.type === 'string' || t.type === 'number' || isOp(t, '.')))
          throw new Unsupported('SHOW with an unexpected clause');
        break;
      case 'DESCRIBE':
      case 'DESC':
        this.describe();
        break;
      case 'GRANT':
      case 'REVOKE':
        this.grant(kw);
        break;
      case 'BEGIN':
      case 'START':
      case 'COMMIT':
      case 'ROLLBACK':
        this.transaction(kw);
        break;
      case 'EXECUTE':
        if (second !== 'IMMEDIATE' && second !== 'TASK') throw new Unsupported('EXECUTE of something other than IMMEDIATE or TASK');
        // Dynamic SQL (or a task's stored SQL) cannot be analysed: judged by its kind alone.
        f.kind = 'execute';
        f.resolved = false;
        break;
      case 'UNSET':
        f.kind = 'reset';
        if (!tokens.slice(1).every((t) => t.type === 'word' || isOp(t, '(', ')', ','))) throw new Unsupported('UNSET of something other than variables');
        break;
      case 'GET':
      case 'PUT':
        throw new Unsupported(`${kw} is only recognised as a single statement in its plain form`);
      case 'CREATE':
      case 'ALTER':
        if (second === 'USER' || second === 'ROLE' || (kw === 'ALTER' && second === 'SESSION')) {
          // Role, user and session management: no table is involved; judged by kind.
          f.kind = kw.toLowerCase();
          break;
        }
        this.parsed(kw);
        break;
      default:
        if (!PARSED_KINDS[kw]) throw new Unsupported(`statement ${JSON.stringify((first?.text ?? '').slice(0, 40))} is not recognised`);
        this.parsed(kw);
    }
    // USE and ALTER SESSION change how later statements resolve and fold names, which this
    // analysis of each statement against the connection's defaults would not follow.
    if (statementCount > 1 && (f.kind === 'use' || (kw === 'ALTER' && second === 'SESSION')))
      throw new Unsupported(`${kw} changes how the statements after it resolve names`);
    return f.done();
  }

  // ---- names --------------------------------------------------------------------------------

  private trivially(where: unknown): boolean {
    const canon = (x: unknown) =>
      JSON.stringify(x, (k, v) => {
        if ((k === 'column' || k === 'table' || k === 'schema') && typeof v === 'string' && v !== '*') {
          try {
            return this.ident(v);
          } catch {
            return v;
          }
        }
        return v;
      });
    return triviallyTrue(where, canon);
  }

  /** A name from node-sql-parser: a quoted identifier's placeholder maps back exactly, anything else folds to upper case. */
  private ident(raw: unknown): string {
    const s = typeof raw === 'string' ? raw : obj(raw) && typeof obj(raw)!.value === 'string' ? (obj(raw)!.value as string) : undefined;
    if (s === undefined || s === '') throw new Unsupported('a name the analyser cannot read');
    const q = quotedIndex(s);
    if (q !== undefined) return this.prepared.quoted[q]!;
    if (s.includes(PLACEHOLDER)) throw new Unsupported('a quoted name in an unexpected place');
    if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(s)) throw new Unsupported(`a name the analyser cannot read: ${s.slice(0, 40)}`);
    return s.toUpperCase();
  }

  private tableName(parts: string[]): TableName {
    const db = this.catalog.database;
    if (parts.length === 1) return { database: db, schema: this.defaultSchema, name: parts[0]! };
    if (parts.length === 2) return { database: db, schema: parts[0]!, name: parts[1]! };
    if (parts.length === 3) {
      if (parts[0] !== db) throw new Unsupported(`a table in another database: ${parts.join('.')}`);
      return { database: db, schema: parts[1]!, name: parts[2]! };
    }
    throw new Unsupported('a name with more than three parts');
  }

  private known(t: TableName): TableName {
    if (!this.catalog.hasTable(t)) throw new Unsupported(`the connection does not know the table ${t.schema}.${t.name}`);
    return t;
  }

  /** The parts of a node-sql-parser table reference, or of IDENTIFIER('…') / TABLE('…'). */
  private itemParts(item: Node): string[] {
    if (typeof item.table === 'string') {
      if (item.schema != null) return [this.ident(item.db ?? item.catalog), this.ident(item.schema), this.ident(item.table)];
      if (item.db != null) return [this.ident(item.db), this.ident(item.table)];
      return [this.ident(item.table)];
    }
    const e = obj(item.expr);
    if (e?.type === 'function') {
      const name = this.functionName(e);
      if (name === 'identifier' || name === 'table') {
        const args = arr(obj(e.args)?.value);
        const a = obj(args[0]);
        if (args.length !== 1 || a?.type !== 'single_quote_string' || typeof a.value !== 'string')
          throw new Unsupported(`${name.toUpperCase()}() of something other than a string literal`);
        return identifierChain(a.value, this.options.quotedIdentifiersIgnoreCase === true);
      }
    }
    throw new Unsupported('a table reference the analyser cannot read');
  }

  private functionName(n: Node): string {
    const name = n.name;
    if (typeof name === 'string') return name.toLowerCase();
    const parts = arr(obj(name)?.name);
    if (!parts.length) throw new Unsupported('a function name the analyser cannot read');
    return parts
      .map((p) => {
        const v = obj(p)?.value;
        const q = typeof v === 'string' ? quotedIndex(v) : undefined;
        return q !== undefined ? this.prepared.quoted[q]! : String(v);
      })
      .join('.')
      .toLowerCase();
  }

  // ---- scopes and columns -------------------------------------------------------------------

  private tableRel(item: Node, scope: Scope, role: 'read' | 'write'): Rel {
    const parts = this.itemParts(item);
    const alias = item.as != null ? this.ident(item.as) : parts[parts.length - 1]!;
    if (parts.length === 1 && role === 'read') {
      const cte = this.cte(scope, parts[0]!);
      if (cte) {
        this.cteHits.add(cte);
        return { alias, cols: cte.cols };
      }
    }
    const t = this.known(this.tableName(parts));
    if (role === 'read') this.facts.read(t);
    else this.facts.write(t);
    return { alias, table: t };
  }

  private cte(scope: Scope | undefined, name: string): Rel | undefined {
    for (let s = scope; s; s = s.parent) {
      const c = s.ctes.get(name);
      if (c) return c;
    }
    return undefined;
  }

  /** A column reference: the real columns it reads (recorded as read, and as filtered in a predicate). */
  private column(scope: Scope, quals: string[], column: string, mode: Mode): ColumnName[] {
    const hits = lookupColumn(this.catalog, this.facts, scope, quals, column, mode);
    if (!hits) {
      // A relation's name where a column is expected is its whole row (DuckDB, which the local
      // warehouse runs on, answers `SELECT p FROM patients p` with every column as a struct).
      if (!quals.length && findRel(scope, [column])) return this.star(scope, [column], mode).lineage.flat();
      // An unknown column or qualifier: Snowflake would refuse it, or it is something we do not model.
      this.facts.resolved = false;
      return [];
    }
    this.facts.columnsRead.push(...hits);
    if (mode.filter) this.facts.columnsFiltered.push(...hits);
    return hits;
  }

  /**
   * `*` or `q.*`: every column of the relations in scope, but those EXCLUDEd (a qualified
   * exclusion applies to its relation only, an unqualified one to every relation).
   */
  private star(scope: Scope, quals: string[], mode: Mode, exclude: Array<{ rel?: Rel; name: string }> = [], rels?: Rel[]): Out {
    const targets: Array<Rel | undefined> = rels ?? (quals.length ? [findRel(scope, quals)] : scope.rels);
    const out: Out = { names: [], lineage: [] };
    const excluded = (r: Rel, c: string) => exclude.some((x) => x.name === c && (!x.rel || x.rel === r));
    for (const r of targets) {
      if (!r) {
        this.facts.resolved = false;
        continue;
      }
      if (r.table) {
        // The `*` covers the whole table, EXCLUDE or not: reported as `*`.
        const all = { table: r.table, column: '*' };
        this.facts.columnsRead.push(all);
        if (mode.filter) this.facts.columnsFiltered.push(all);
        for (const c of this.catalog.columns(r.table) ?? []) {
          if (excluded(r, c)) continue;
          out.names.push(c);
          out.lineage.push([{ table: r.table, column: c }]);
        }
      } else if (r.cols) {
        for (const [c, lin] of r.cols) {
          if (excluded(r, c)) continue;
          out.names.push(c);
          out.lineage.push(lin);
          this.facts.columnsRead.push(...lin);
          if (mode.filter) this.facts.columnsFiltered.push(...lin);
        }
      } else this.facts.resolved = false;
    }
    return out;
  }

  /**
   * A column that cannot be pinned: positional `$1`, IDENTIFIER($var), COLUMNS(…). Every column
   * of every relation in scope (the enclosing queries' too, to be safe), as whole rows (`*`): a
   * superset of what it reads, so the statement's columns stay resolved (policy sees each table's
   * every column read, filtered, ordered … wherever the reference stands).
   */
  private anyColumn(scope: Scope, mode: Mode): ColumnName[] {
    const rels: Rel[] = [];
    for (let s: Scope | undefined = scope; s; s = s.parent) rels.push(...s.rels);
    return this.star(scope, [], mode, [], rels).lineage.flat();
  }

  // ---- flows --------------------------------------------------------------------------------

  private flow(cols: readonly ColumnName[], channel: Channel, via: string): void {
    if (cols.length) this.facts.flow(cols, channel, via);
  }

  /** An error-channel construct: whether it raises depends on `cols` (counted even without a column: a branch that can raise). */
  private raise(cols: readonly ColumnName[], via: string): void {
    this.raises++;
    this.flow(cols, Channel.ERROR, via);
  }

  /** A value that decides whether another becomes NULL (CASE conditions, IN, AND/OR …): outside predicates masking leaves that NULL visible. */
  private steer(cols: readonly ColumnName[], mode: Mode, via: string): void {
    if (!mode.filter) this.flow(cols, Channel.VALUE, via);
  }

  /**
   * Expressions evaluated in order where some decide whether the later ones are evaluated at all
   * (CASE, IFF, COALESCE …): when a later one can raise, or is a sleep or a subquery, the deciders
   * reach the error (delay) channel. Returns the lineage of all, and that of the deciders.
   */
  private conditional(items: Array<{ e: unknown; decides: boolean }>, scope: Scope, mode: Mode, via: string): { all: ColumnName[]; deciders: ColumnName[] } {
    const all: ColumnName[] = [];
    const deciders: ColumnName[] = [];
    for (const it of items) {
      const r0 = this.raises;
      const s0 = this.slows;
      const lin = this.expr(it.e, scope, mode);
      if (this.raises > r0) this.flow(deciders, Channel.ERROR, via);
      if (this.slows > s0) this.flow(deciders, Channel.DELAY, via);
      if (it.decides) deciders.push(...lin);
      all.push(...lin);
    }
    return { all, deciders };
  }

  /** A subquery: it can raise (more than one row) and take time, which matters inside a conditional. */
  private subquery(ast: Node, scope: Scope, mode: Mode): Out {
    this.raises++;
    this.slows++;
    return this.select(ast, scope, mode);
  }

  /** A function's arguments (lineage per argument) reach the channels the function calls for (flows.ts, and Snowflake's own). */
  private functionFlows(name: string, args: ColumnName[][]): void {
    args.forEach((lin, i) => {
      // A qualified name is a user-defined function (which may raise), whatever its last part.
      let f = name.includes('.') ? { channel: Channel.ERROR, via: name } : functionFlow(name, i);
      if (SIDE_EFFECT_PREFIXES.some((p) => name.startsWith(p))) f = { channel: Channel.VALUE, via: name };
      else if (ROW_FUNCTIONS_SF.has(name)) f = { channel: Channel.ROWS, via: name };
      else if (FIRST_ARGUMENT_TOTAL_SF.has(name)) f = i === 0 ? undefined : { channel: Channel.ERROR, via: name };
      if (!f) return;
      // Anything but a total function can make a branch raise; a sleep, take its time.
      this.raises++;
      if (f.channel === Channel.DELAY) this.slows++;
      this.flow(lin, f.channel, f.via);
    });
    if (!args.length && !TOTAL_FUNCTIONS.has(name) && !ROW_FUNCTIONS.has(name)) this.raises++;
  }

  // ---- expressions ----------------------------------------------------------------------------

  private expr(e: unknown, scope: Scope, mode: Mode): ColumnName[] {
    if (Array.isArray(e)) return e.flatMap((x) => this.expr(x, scope, mode));
    const n = obj(e);
    if (!n) return [];
    if (n.ast !== undefined) return this.subquery(obj(n.ast)!, scope, mode).lineage.flat();
    const spec = obj(n.window_specification);
    if (spec) {
      // A window (inline, or named in a WINDOW clause): its partitions and order shape the rows' order.
      const partition = this.expr(spec.partitionby, scope, mode);
      this.flow(partition, Channel.ORDER, 'PARTITION BY');
      const order = this.expr(spec.orderby, scope, mode);
      this.flow(order, Channel.ORDER, 'window ORDER BY');
      return [
        ...partition,
        ...order,
        ...this.generic(spec, scope, mode, ['partitionby', 'orderby']),
        ...this.generic(n, scope, mode, ['window_specification']),
      ];
    }
    switch (n.type) {
      case 'select':
        return this.subquery(n, scope, mode).lineage.flat();
      case 'column_ref':
        return this.columnRef(n, scope, mode);
      case 'var':
        if (n.prefix === '$' && /^\d+$/.test(String(n.name))) return this.anyColumn(scope, mode);
        return [];
      case 'function':
        return this.call(n, scope, mode);
      case 'aggr_func': {
        const name = typeof n.name === 'string' ? n.name.toLowerCase() : '';
        if (name) this.facts.functions.add(name);
        const a = obj(n.args);
        const input = a ? this.generic(a, scope, mode, ['orderby']) : [];
        const order = [...this.expr(a?.orderby, scope, mode), ...this.expr(n.within_group_orderby, scope, mode)];
        this.flow(order, Channel.ORDER, 'aggregate ORDER BY');
        const rest = this.generic(n, scope, mode, ['name', 'args', 'within_group_orderby']);
        this.functionFlows(name || 'an aggregate', [input]);
        return [...input, ...order, ...rest];
      }
      case 'window_func': {
        const name = typeof n.name === 'string' ? n.name.toLowerCase() : '';
        if (name) this.facts.functions.add(name);
        const a = obj(n.args);
        const args = arr(a?.value).map((x) => this.expr(x, scope, mode));
        const rest = [...(a ? this.generic(a, scope, mode, ['value']) : []), ...this.generic(n, scope, mode, ['name', 'args'])];
        this.functionFlows(name || 'a window function', args);
        return [...args.flat(), ...rest];
      }
      case 'flatten': {
        this.facts.functions.add('flatten');
        const input = this.generic(n, scope, mode, ['name']);
        this.functionFlows('flatten', [input]);
        return input;
      }
      case 'extract': {
        // EXTRACT(part FROM x) converts x to a date or time first.
        const input = this.generic(n, scope, mode, []);
        this.raise(input, 'extract');
        return input;
      }
      case 'cast': {
        const input = this.generic(n, scope, mode, ['target']);
        if (String(n.keyword).toLowerCase() === 'try_cast') {
          // NULL instead of an error: whether the result is NULL depends on the value.
          this.steer(input, mode, 'TRY_CAST');
          return input;
        }
        // A cast to text never raises; a cast to VARCHAR(n) does in Snowflake (it refuses to truncate).
        const target = arr(n.target)
          .map(obj)
          .find((t) => !TEXT_TYPES.has(String(t?.dataType ?? '').toLowerCase()) || t?.length != null);
        if (target !== undefined || !arr(n.target).length)
          this.raise(input, `cast to ${String(target?.dataType ?? 'a type').toLowerCase()}${target?.length != null ? `(${String(target.length)})` : ''}`);
        return input;
      }
      case 'binary_expr':
        return this.operator(n, scope, mode);
      case 'unary_expr': {
        const op = String(n.operator).toUpperCase();
        const input = this.generic(n, scope, mode, []);
        if (op === '-' || op === '~') this.raise(input, `operator ${op}`);
        return input;
      }
      case 'case': {
        // CASE [operand] WHEN … THEN … ELSE … END: the operand and the conditions decide which result is evaluated.
        const items: Array<{ e: unknown; decides: boolean }> = [{ e: n.expr, decides: true }];
        for (const a of arr(n.args)) {
          const arm = obj(a);
          if (arm?.type === 'when') items.push({ e: arm.cond, decides: true });
          items.push({ e: arm?.result, decides: false });
        }
        const { all, deciders } = this.conditional(items, scope, mode, 'CASE');
        this.steer(deciders, mode, 'CASE');
        return [...all, ...this.generic(n, scope, mode, ['expr', 'args'])];
      }
      default:
        return this.generic(n, scope, mode, []);
    }
  }

  /**
   * A binary operator: arithmetic and anything not known to be total can raise, a pattern can be
   * invalid (and a regular expression backtrack), AND/OR, IN and BETWEEN can make a NULL.
   */
  private operator(n: Node, scope: Scope, mode: Mode): ColumnName[] {
    const op = String(n.operator).toUpperCase();
    const r0 = this.raises;
    const s0 = this.slows;
    const left = this.expr(n.left, scope, mode);
    const right = this.expr(n.right, scope, mode);
    const all = [...left, ...right];
    // `x LIKE ANY (…)`, `x = ALL (…)`: a NULL in the list makes a NULL.
    const quantified = obj(n.right)?.type === 'function' && ['any', 'all', 'some'].includes(this.functionName(obj(n.right)!));
    if (PATTERNS.has(op)) {
      this.raise(right, `${op} pattern`);
      if (REGULAR_EXPRESSIONS.has(op)) {
        this.slows++;
        this.flow(left, Channel.DELAY, `regular expression ${op}`);
      }
    } else if (!SAFE_OPERATORS.has(op)) this.raise(all, `operator ${op}`);
    if (NULLING_OPERATORS.has(op) || quantified) this.steer(all, mode, quantified ? 'ANY/ALL' : op.replace('NOT ', ''));
    if (op === 'AND' || op === 'OR') {
      // Either operand may be evaluated first, and decide whether the other is: when one can
      // raise or take its time, both reach that channel.
      if (this.raises > r0) this.flow(all, Channel.ERROR, op);
      if (this.slows > s0) this.flow(all, Channel.DELAY, op);
    }
    return all;
  }

  /** A function call: its value's lineage, and the channels its arguments reach. */
  private call(n: Node, scope: Scope, mode: Mode): ColumnName[] {
    const name = this.functionName(n);
    if (!NOT_FUNCTIONS.has(name)) this.facts.functions.add(name);
    const args = arr(obj(n.args)?.value);
    if (name === 'identifier') {
      const a = obj(args[0]);
      if (args.length === 1 && a?.type === 'single_quote_string' && typeof a.value === 'string') {
        const parts = identifierChain(a.value, this.options.quotedIdentifiersIgnoreCase === true);
        return this.column(scope, parts.slice(0, -1), parts[parts.length - 1]!, mode);
      }
      return this.anyColumn(scope, mode);
    }
    if (name === 'columns' || name.endsWith('.columns')) {
      // DuckDB's COLUMNS(regex | lambda | *): columns chosen by name at run time, possibly many.
      this.expansions++;
      this.expr(args, scope, mode);
      return [...this.anyColumn(scope, mode), ...this.generic(n, scope, mode, ['name', 'args'])];
    }
    let rest: unknown[] = args;
    const a0 = obj(args[0]);
    if (DATE_PART_FUNCTIONS.has(name) && a0?.type === 'column_ref' && !a0.table && typeof a0.column === 'string' && DATE_PARTS.has(a0.column.toUpperCase()))
      rest = args.slice(1);
    const other = this.generic(n, scope, mode, ['name', 'args']);
    if (NOT_FUNCTIONS.has(name)) return [...this.expr(rest, scope, mode), ...other];
    const conditional = CONDITIONAL[name];
    if (conditional) {
      const { all, deciders } = this.conditional(
        rest.map((e, i) => ({ e, decides: conditional.decides(i, rest.length) })),
        scope,
        mode,
        name.toUpperCase(),
      );
      if (conditional.compares) this.steer(deciders, mode, name.toUpperCase());
      return [...all, ...other];
    }
    const lins = rest.map((x) => this.expr(x, scope, mode));
    // NULLIF(a, b): NULL when they are equal.
    if (name === 'nullif') this.steer(lins.flat(), mode, 'NULLIF');
    else this.functionFlows(name, lins);
    return [...lins.flat(), ...other];
  }

  private generic(n: Node, scope: Scope, mode: Mode, skip: string[]): ColumnName[] {
    // A table reference anywhere but a FROM clause is something this walker does not model.
    if (typeof n.table === 'string' && ('surround' in n || 'db' in n) && n.type !== 'column_ref')
      throw new Unsupported('a table reference in an unexpected place');
    const out: ColumnName[] = [];
    for (const [k, v] of Object.entries(n)) {
      if (skip.includes(k) || k === 'tableList' || k === 'columnList' || k === 'as' || k === 'loc') continue;
      if (v && typeof v === 'object') out.push(...this.expr(v, scope, mode));
    }
    return out;
  }

  private columnRef(n: Node, scope: Scope, mode: Mode): ColumnName[] {
    let column = n.column;
    const ce = obj(obj(column)?.expr);
    if (ce && typeof ce.value === 'string') column = ce.value;
    if (typeof column !== 'string') throw new Unsupported('a column reference the analyser cannot read');
    if (n.db != null) throw new Unsupported('a column reference with too many parts');
    if (n.suffix != null && column !== '*') throw new Unsupported('a column reference with a modifier');
    const raw = [n.schema, n.table].filter((p) => p != null && p !== '') as unknown[];
    const notations = arr(n.notations).map(String);
    let parts: unknown[] = [...raw, column];
    // `col:path`: what is read is the column before the first `:`; the rest are JSON keys.
    const colon = notations.indexOf(':');
    if (colon >= 0) parts = parts.slice(0, colon + 1);
    const extra = arr(n.array_index).flatMap((x) => this.expr(obj(x)?.index, scope, mode));
    const names = parts.map((p, i) => (i === parts.length - 1 && p === '*' ? '*' : this.ident(p)));
    const col = names[names.length - 1]!;
    const quals = names.slice(0, -1);
    if (col === '*') {
      // `*` as an argument (OBJECT_CONSTRUCT(*), HASH(*), COUNT(t.*)): every column it covers; a
      // modifier there is something the analyser does not model.
      if (n.suffix != null) throw new Unsupported('a * modifier inside an expression');
      return [...this.star(scope, quals, mode).lineage.flat(), ...extra];
    }
    return [...this.column(scope, quals, col, mode), ...extra];
  }

  // ---- queries --------------------------------------------------------------------------------

  /** A derived relation's columns: named outputs, unnamed ones under names no reference can spell, COLUMNS(…) expansions open. */
  private derivedColumns(out: Out, declared: string[]): Map<string, ColumnName[]> {
    const cols = outputColumns(out, declared);
    out.lineage.forEach((lin, i) => {
      if (!(declared[i] ?? out.names[i])) cols.set(`\u0000${i + 1}`, lin);
    });
    if (!out.open) return cols;
    const open = out.open;
    // Positions are unknown once a select item expands: every name may carry the expansion.
    return new OpenColumns(
      [...cols].map(([k, v]) => [k, [...v, ...open]] as const),
      out.lineage.flat(),
    );
  }

  /** The lineage of the result column at a 1-based ordinal position (ORDER BY 2, GROUP BY 1). */
  private ordinal(out: Out, v: unknown): ColumnName[] {
    const i = Number(v);
    if (!Number.isInteger(i)) return [];
    // After an expansion the positions are unknown: any column.
    if (out.open) return out.lineage.flat();
    return out.lineage[i - 1] ?? [];
  }

  private groupItem(e: unknown, out: Out, scope: Scope, mode: Mode): ColumnName[] {
    const n = obj(e);
    if (!n) return this.expr(e, scope, mode);
    if (n.type === 'number') return this.ordinal(out, n.value);
    // GROUP BY ALL: the select list's columns.
    if (n.type === 'origin' && String(n.value).toUpperCase() === 'ALL') return out.lineage.flat();
    if (n.type === 'function') {
      const name = this.functionName(n);
      if (GROUPING_CONSTRUCTS.has(name)) {
        this.facts.functions.add(name);
        return arr(obj(n.args)?.value).flatMap((x) => this.groupItem(x, out, scope, mode));
      }
    }
    return this.expr(n, scope, mode);
  }

  private orderItem(item: unknown, out: Out, scope: Scope, mode: Mode): ColumnName[] {
    const o = obj(item);
    const e = obj(o?.expr);
    if (e?.type === 'number') return [...this.ordinal(out, e.value), ...this.generic(o!, scope, mode, ['expr'])];
    return this.expr(item, scope, mode);
  }

  private withItem(cte: Node, scope: Scope, mode: Mode): void {
    const name = this.ident(obj(cte.name)?.value ?? cte.name);
    const declared = arr(cte.columns).map((c) => this.ident(obj(c)?.column ?? c));
    // Visible in its own body (recursive CTEs), with columns not yet known.
    const placeholder: Rel = { alias: name };
    if (declared.length) placeholder.cols = new Map(declared.map((c) => [c, []]));
    scope.ctes.set(name, placeholder);
    const stmt = obj(cte.stmt);
    const body = obj(stmt?.ast) ?? stmt;
    if (!body) throw new Unsupported('a CTE without a query');
    const resolved = this.facts.resolved;
    let out = this.select(body, scope, mode);
    if (this.cteHits.has(placeholder)) {
      // A recursive CTE: its body is walked again with the columns it produced, until they no
      // longer change, so that references to itself carry the real lineage.
      let prev = placeholder;
      for (;;) {
        const cols = this.derivedColumns(out, declared);
        if (sameColumns(prev.cols, cols)) break;
        if (++this.ctePasses > MAX_CTE_PASSES) throw new Unsupported('recursive CTEs the analyser cannot follow');
        prev = { alias: name, cols };
        scope.ctes.set(name, prev);
        this.facts.resolved = resolved;
        out = this.select(body, scope, mode);
      }
      this.flow(out.lineage.flat(), Channel.ROWS, 'recursive CTE');
    }
    scope.ctes.set(name, { alias: name, cols: this.derivedColumns(out, declared) });
  }

  private select(ast: Node, parent: Scope | undefined, mode: Mode, top = false, branch = false): Out {
    if (ast.type !== 'select') throw new Unsupported(`a ${String(ast.type)} where a query was expected`);
    const scope: Scope = { rels: [], ctes: new Map() };
    if (parent) scope.parent = parent;
    const inner: Mode = { filter: mode.filter, aliases: false };
    for (const w of arr(ast.with)) this.withItem(obj(w)!, scope, inner);
    if (obj(ast.into)?.expr != null) throw new Unsupported('SELECT … INTO');
    for (const item of arr(ast.from)) this.fromItem(obj(item)!, scope, inner);
    const out: Out = { names: [], lineage: [] };
    const columns = ast.columns;
    if (!Array.isArray(columns)) throw new Unsupported('a select list the analyser cannot read');
    for (const c of columns) {
      const item = obj(c)!;
      const e = obj(item.expr);
      if (e?.type === 'column_ref' && e.column === '*') {
        const suffix = obj(e.suffix);
        const exclude: Array<{ rel?: Rel; name: string }> = [];
        if (suffix) {
          if (suffix.type !== 'function' || this.functionName(suffix) !== 'exclude') throw new Unsupported('a * modifier other than EXCLUDE');
          for (const x of arr(obj(suffix.args)?.value)) {
            const ref = obj(x);
            if (ref?.type !== 'column_ref' || typeof ref.column !== 'string' || ref.schema != null || ref.db != null || arr(ref.array_index).length)
              throw new Unsupported('an EXCLUDE item the analyser cannot read');
            if (arr(ref.notations).some((p) => p !== '.')) throw new Unsupported('an EXCLUDE item the analyser cannot read');
            if (ref.table != null) {
              const rel = findRel(scope, [this.ident(ref.table)]);
              if (!rel) throw new Unsupported('an EXCLUDE item of an unknown relation');
              exclude.push({ rel, name: this.ident(ref.column) });
            } else exclude.push({ name: this.ident(ref.column) });
          }
        }
        const quals = [e.schema, e.table].filter((p) => p != null && p !== '').map((p) => this.ident(p));
        const s = this.star(scope, quals, inner, exclude);
        out.names.push(...s.names);
        out.lineage.push(...s.lineage);
        continue;
      }
      const x0 = this.expansions;
      const lineage = this.expr(e, scope, inner);
      if (this.expansions > x0) out.open = [...(out.open ?? []), ...lineage];
      out.names.push(item.as != null ? this.ident(item.as) : e?.type === 'column_ref' && typeof e.column === 'string' ? this.ident(e.column) : undefined);
      out.lineage.push(lineage);
    }
    scope.outputs = new Map();
    out.names.forEach((nm, i) => {
      if (nm) scope.outputs!.set(nm, [...(scope.outputs!.get(nm) ?? []), ...out.lineage[i]!]);
    });
    if (String(obj(ast.distinct)?.type ?? '').toUpperCase() === 'DISTINCT') this.flow(out.lineage.flat(), Channel.ROWS, 'DISTINCT');
    const filter: Mode = { filter: true, aliases: true };
    const withAliases: Mode = { filter: mode.filter, aliases: true };
    if (ast.where) this.expr(ast.where, scope, filter);
    const groupby = obj(ast.groupby);
    for (const g of arr(groupby ? groupby.columns : ast.groupby)) this.flow(this.groupItem(g, out, scope, withAliases), Channel.ROWS, 'GROUP BY');
    if (ast.having) this.expr(ast.having, scope, filter);
    if (ast.qualify) this.expr(ast.qualify, scope, filter);
    for (const o of arr(ast.orderby)) this.flow(this.orderItem(o, out, scope, withAliases), Channel.ORDER, 'ORDER BY');
    this.expr(ast.window, scope, withAliases);
    const limit = obj(ast.limit);
    const limits = arr(limit?.value);
    limits.forEach((v, i) => {
      // `LIMIT n OFFSET m` reads [n, m]; a lone `OFFSET m` reads [m].
      const offset = i === 1 || (limits.length === 1 && String(limit?.seperator).toLowerCase() === 'offset');
      this.flow(this.expr(v, scope, inner), Channel.ROWS, offset ? 'OFFSET' : 'LIMIT');
    });
    this.flow(this.expr(ast.top, scope, inner), Channel.ROWS, 'TOP');
    for (const [k, v] of Object.entries(ast)) if (!SELECT_KEYS.has(k) && v && typeof v === 'object') this.expr(v, scope, inner);
    if (top) {
      this.facts.hasWhere = Boolean(ast.where);
      this.facts.whereTriviallyTrue = Boolean(ast.where) && this.trivially(ast.where);
      this.facts.hasLimit = limits.length > 0 || obj(ast.top)?.value != null;
    }
    return branch ? out : this.setOperation(ast, out, parent, scope, mode, top);
  }

  /**
   * The branches of a set operation (`a UNION b UNION ALL c`, left-associative): their result
   * columns merged by position. UNION (not ALL) removes duplicates: the number of rows depends on
   * every column of the branches it combines.
   */
  private setOperation(head: Node, first: Out, parent: Scope | undefined, scope: Scope, mode: Mode, top: boolean): Out {
    const branches: Out[] = [first];
    const ops: string[] = [];
    let node = head;
    for (let next = obj(node._next); next; next = obj(node._next)) {
      ops.push(String(node.set_op ?? '').toLowerCase());
      // Later branches of a set operation see the first branch's CTEs.
      const branchScope: Scope = { rels: [], ctes: scope.ctes };
      if (parent) branchScope.parent = parent;
      branches.push(this.select(next, branchScope, mode, false, true));
      if (top && arr(obj(next.limit)?.value).length) this.facts.hasLimit = true;
      node = next;
    }
    if (branches.length === 1) return first;
    const out: Out = { names: [...first.names], lineage: [] };
    for (const b of branches) {
      b.lineage.forEach((lin, i) => {
        out.lineage[i] = [...(out.lineage[i] ?? []), ...lin];
      });
    }
    // A branch whose select list expands has no fixed positions: every column may carry it.
    if (branches.some((b) => b.open)) out.open = out.lineage.flat();
    ops.forEach((op, j) => {
      if (op === 'union all') return;
      const via = op.startsWith('intersect') ? 'INTERSECT' : op.startsWith('except') || op.startsWith('minus') ? 'EXCEPT' : 'UNION';
      for (const b of branches.slice(0, j + 2)) this.flow(b.lineage.flat(), Channel.ROWS, via);
    });
    // The last branch's ORDER BY orders the whole result: ordinals and the first branch's names
    // stand for the merged columns.
    for (const o of arr(node.orderby)) {
      const e = obj(obj(o)?.expr);
      if (e?.type === 'number') this.flow(this.ordinal(out, e.value), Channel.ORDER, 'ORDER BY');
      for (const name of this.bareNames(e)) {
        out.names.forEach((nm, i) => {
          if (nm === name) this.flow(out.lineage[i]!, Channel.ORDER, 'ORDER BY');
        });
      }
    }
    return out;
  }

  /** Unqualified column names an expression mentions (outside subqueries). */
  private bareNames(e: unknown): string[] {
    const names: string[] = [];
    const visit = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(visit);
      else if (v && typeof v === 'object') {
        const n = v as Node;
        if (n.ast !== undefined || n.type === 'select') return;
        if (n.type === 'column_ref' && n.table == null && typeof n.column === 'string' && n.column !== '*') {
          try {
            names.push(this.ident(n.column));
          } catch {
            // not a name
          }
        }
        for (const [k, x] of Object.entries(n)) if (k !== 'tableList' && k !== 'columnList') visit(x);
      }
    };
    visit(e);
    return names;
  }

  private fromItem(item: Node, scope: Scope, mode: Mode): void {
    if (item.operator != null) throw new Unsupported('PIVOT / UNPIVOT');
    // node-sql-parser reads NATURAL JOIN as a table aliased `natural`: its implicit join columns are unknown.
    if (typeof item.as === 'string' && item.as.toUpperCase() === 'NATURAL') throw new Unsupported('NATURAL JOIN');
    const e = obj(item.expr);
    let rel: Rel;
    const aliasSpec = typeof item.as === 'string' ? /^([^()]+?)\s*\((.*)\)$/.exec(item.as) : null;
    const alias = aliasSpec ? this.ident(aliasSpec[1]!.trim()) : item.as != null ? this.ident(item.as) : '';
    const renamed = aliasSpec ? aliasSpec[2]!.split(',').map((c) => this.ident(c.trim())) : [];
    if (typeof item.table === 'string') {
      if (aliasSpec) throw new Unsupported('a table alias with a column list');
      rel = this.tableRel(item, scope, 'read');
    } else if (e && e.ast !== undefined) {
      rel = { alias, cols: this.derivedColumns(this.select(obj(e.ast)!, scope, mode), renamed) };
    } else if (e?.type === 'values') {
      const out: Output = { names: [], lineage: [] };
      for (const row of arr(e.values)) {
        arr(obj(row)?.value).forEach((x, i) => {
          out.lineage[i] = [...(out.lineage[i] ?? []), ...this.expr(x, scope, mode)];
        });
      }
      out.names = out.lineage.map((_, i) => `COLUMN${i + 1}`);
      rel = { alias, cols: outputColumns(out, renamed) };
    } else if (e?.type === 'flatten') {
      rel = this.tableFunction(e, alias, scope, mode);
    } else if (e?.type === 'function') {
      const name = this.functionName(e);
      const args = arr(obj(e.args)?.value);
      const a0 = obj(args[0]);
      if (name === 'identifier' || (name === 'table' && a0?.type === 'single_quote_string')) {
        if (aliasSpec) throw new Unsupported('a table alias with a column list');
        const t = this.known(this.tableName(this.itemParts(item)));
        this.facts.read(t);
        rel = { alias: item.as != null ? alias : t.name, table: t };
      } else if (name === 'table' && args.length === 1 && a0 && (a0.type === 'flatten' || a0.type === 'function')) {
        rel = this.tableFunction(a0, alias, scope, mode);
      } else rel = this.tableFunction(e, alias, scope, mode);
    } else throw new Unsupported('a FROM item the analyser does not model');
    scope.rels.push(rel);
    const filter: Mode = FILTER;
    if (item.on) this.expr(item.on, scope, filter);
    for (const u of arr(item.using)) {
      const col = this.ident(obj(u)?.value ?? u);
      let hits = 0;
      for (const r of scope.rels) {
        const c = relColumn(this.catalog, r, col);
        if (c) {
          hits++;
          this.facts.columnsRead.push(...c);
          this.facts.columnsFiltered.push(...c);
        }
      }
      if (hits < 2) this.facts.resolved = false;
    }
    if (item.tablesample) this.flow(this.expr(item.tablesample, scope, mode), Channel.ROWS, 'SAMPLE');
  }

  private tableFunction(e: Node, alias: string, scope: Scope, mode: Mode): Rel {
    const name = e.type === 'flatten' ? 'flatten' : this.functionName(e);
    this.facts.functions.add(name);
    const input = e.type === 'flatten' ? this.generic(obj(e.args) ?? {}, scope, mode, []) : this.expr(obj(e.args)?.value, scope, mode);
    if (name !== 'flatten' && name !== 'split_to_table' && name !== 'strtok_split_to_table') throw new Unsupported(`the table function ${name}`);
    // The rows a table function yields depend on its input.
    this.functionFlows(name, [input]);
    return this.pseudo(alias, name === 'flatten' ? FLATTEN_COLUMNS : SPLIT_COLUMNS, input);
  }

  /** A table function's output: every column carries the values of its input columns. */
  private pseudo(alias: string, columns: string[], input: ColumnName[]): Rel {
    return { alias, cols: new Map(columns.map((c) => [c, input])) };
  }

  // ---- statements node-sql-parser parses ------------------------------------------------------

  /**
   * Parses text rendered from tokens [from, to) and checks the parser read it as intended: one
   * statement, of the expected type, with every bind read as a bind (a grammar that backtracks can
   * otherwise read `TOP :1` as a JSON path on a column named TOP).
   */
  private parseOne(text: string, expected: string, from = 0, to = this.tokens.length): Node {
    let parsed: ParsedSql;
    try {
      parsed = this.parse(text, 'snowflake');
    } catch (err) {
      throw new Unsupported(
        `syntax not understood: ${String((err as Error).message)
          .split('\n')[0]
          ?.slice(0, 160)}`,
      );
    }
    const asts = Array.isArray(parsed.ast) ? parsed.ast : [parsed.ast];
    const ast = obj(asts[0]);
    if (asts.length !== 1 || !ast) throw new Unsupported('the parser saw a different number of statements');
    if (String(ast.type).toLowerCase() !== expected) throw new Unsupported(`the parser read a ${String(ast.type)} where a ${expected} was expected`);
    const binds = this.prepared.bind.slice(from, to).filter(Boolean).length;
    if (countParams(ast) !== binds) throw new Unsupported('the parser did not read every bind as a bind');
    return ast;
  }

  private parsed(kw: string): void {
    const expected = PARSED_KINDS[kw]!;
    const ast = this.parseOne(render(this.tokens, this.prepared), expected);
    const f = this.facts;
    f.kind = expected;
    const root: Scope = { rels: [], ctes: new Map() };
    const plain = PLAIN;
    switch (expected) {
      case 'select':
        this.select(ast, undefined, plain, true);
        return;
      case 'insert': {
        const targets = arr(ast.table);
        if (targets.length !== 1) throw new Unsupported('INSERT into more than one table');
        for (const k of ['set', 'on_duplicate_update', 'returning', 'partition']) if (ast[k] != null) throw new Unsupported(`INSERT … ${k}`);
        const t = this.tableRel(obj(targets[0])!, root, 'write').table!;
        const cols = arr(ast.columns).map((c) => this.ident(obj(c)?.column ?? c));
        this.written(t, cols);
        // The inserted values land in the target's columns, where they are not masked as their sources.
        const values = obj(ast.values);
        if (values?.type === 'values') for (const row of arr(values.values)) this.flow(this.expr(obj(row)?.value, root, plain), Channel.VALUE, 'INSERT');
        else if (values) this.flow(this.select(obj(values.ast) ?? values, undefined, plain).lineage.flat(), Channel.VALUE, 'INSERT');
        return;
      }
      case 'update': {
        const targets = arr(ast.table);
        if (targets.length !== 1) throw new Unsupported('UPDATE of more than one table');
        if (arr(ast.orderby).length || arr(obj(ast.limit)?.value).length) throw new Unsupported('UPDATE … ORDER BY / LIMIT');
        const target = this.tableRel(obj(targets[0])!, root, 'write');
        root.rels.push(target);
        for (const item of arr(ast.from)) this.fromItem(obj(item)!, root, plain);
        const cols: string[] = [];
        for (const s of arr(ast.set)) {
          const set = obj(s)!;
          if (set.table != null) {
            const q = this.ident(set.table);
            if (q !== target.alias && q !== target.table!.name) throw new Unsupported('UPDATE SET of another table’s column');
          }
          cols.push(this.ident(set.column));
          this.flow(this.expr(set.value, root, plain), Channel.VALUE, 'UPDATE');
        }
        this.written(target.table!, cols);
        this.where(ast.where, root);
        return;
      }
      case 'create':
        this.create(ast);
        return;
      case 'alter': {
        const targets = arr(ast.table);
        if (targets.length !== 1) throw new Unsupported('ALTER of something other than one table');
        this.tableRel(obj(targets[0])!, root, 'write');
        for (const a of arr(ast.expr)) {
          const action = obj(a)!;
          if (action.action === 'rename' && typeof action.table === 'string') this.facts.write(this.tableName([this.ident(action.table)]));
        }
        return;
      }
      case 'call': {
        const e = obj(ast.expr);
        if (e?.type !== 'function') throw new Unsupported('CALL of something other than a procedure');
        // A procedure's arguments go wherever it puts them.
        this.flow(this.expr(e, root, plain), Channel.VALUE, this.functionName(e));
        return;
      }
      case 'set':
        // A session variable holds the value unmasked, for any later statement to read.
        for (const a of arr(ast.expr)) this.flow(this.expr(obj(a)?.right, root, plain), Channel.VALUE, 'SET');
        return;
    }
  }

  private written(t: TableName, cols: string[]): void {
    if (!cols.length) this.facts.columnsWritten.push({ table: t, column: '*' });
    for (const c of cols) {
      if (!this.catalog.hasColumn(t, c)) this.facts.resolved = false;
      this.facts.columnsWritten.push({ table: t, column: c });
    }
  }

  private where(where: unknown, scope: Scope): void {
    this.facts.hasWhere = Boolean(where);
    this.facts.whereTriviallyTrue = Boolean(where) && this.trivially(where);
    if (where) this.expr(where, scope, FILTER);
  }

  private create(ast: Node): void {
    const keyword = String(ast.keyword).toLowerCase();
    const plain = PLAIN;
    if (keyword === 'table') {
      const targets = arr(ast.table);
      if (targets.length !== 1) throw new Unsupported('CREATE of more than one table');
      // A new table need not be in the catalog; its name must still be in this database.
      this.facts.write(this.tableName(this.itemParts(obj(targets[0])!)));
      for (const k of ['like', 'clone']) if (ast[k] != null) throw new Unsupported(`CREATE TABLE … ${k.toUpperCase()}`);
      const q = obj(ast.query_expr);
      // CREATE TABLE … AS: the values land in a new table, where they are not masked as their sources.
      if (q) this.flow(this.select(obj(q.ast) ?? q, undefined, plain).lineage.flat(), Channel.VALUE, 'CREATE TABLE');
      return;
    }
    if (keyword === 'view') {
      const v = obj(ast.view);
      if (!v || typeof v.view !== 'string') throw new Unsupported('a view name the analyser cannot read');
      const parts = v.schema != null ? [v.db, v.schema, v.view] : v.db != null ? [v.db, v.view] : [v.view];
      this.facts.write(this.tableName(parts.map((p) => this.ident(p))));
      const q = obj(ast.select);
      if (!q) throw new Unsupported('a view without a query');
      this.flow(this.select(obj(q.ast) ?? q, undefined, plain).lineage.flat(), Channel.VALUE, 'CREATE VIEW');
      return;
    }
    throw new Unsupported(`CREATE ${keyword.toUpperCase()}`);
  }

  // ---- statements recognised from tokens -----------------------------------------------------

  /** `name`, `a.b.c`, `"Q".b` or IDENTIFIER('…') at token k. */
  private objectName(k: number): { parts: string[]; end: number } {
    const t = this.tokens;
    if (isWord(t[k], 'IDENTIFIER') && isOp(t[k + 1], '(')) {
      const s = t[k + 2];
      if (s?.type !== 'string' || !s.simple || !isOp(t[k + 3], ')')) throw new Unsupported('IDENTIFIER() of something other than a string literal');
      return { parts: identifierChain(s.value!, this.options.quotedIdentifiersIgnoreCase === true), end: k + 4 };
    }
    const parts: string[] = [];
    let m = k;
    for (;;) {
      const p = t[m];
      if (p?.type === 'word') parts.push(p.text.toUpperCase());
      else if (p?.type === 'qident') parts.push(p.value!);
      else throw new Unsupported('expected a name');
      m++;
      if (!isOp(t[m], '.')) break;
      m++;
    }
    if (parts.length > 3) throw new Unsupported('a name with more than three parts');
    return { parts, end: m };
  }

  /** An optional `[AS] alias` at token k that is not one of `stop`. */
  private alias(k: number, stop: string[]): { alias?: string; end: number } {
    const t = this.tokens;
    let m = k;
    const as = isWord(t[m], 'AS');
    if (as) m++;
    const a = t[m];
    if (a?.type === 'qident') return { alias: a.value!, end: m + 1 };
    if (a?.type === 'word' && !stop.includes(a.text.toUpperCase())) return { alias: a.text.toUpperCase(), end: m + 1 };
    if (as) throw new Unsupported('AS without an alias');
    return { end: k };
  }

  /** Index of the first token at nesting depth 0 in [from, to) matching `pred` (CASE … END counts as nesting). */
  private scan(from: number, to: number, pred: (t: Token) => boolean): number {
    let depth = 0;
    for (let k = from; k < to; k++) {
      const t = this.tokens[k]!;
      if (depth === 0 && pred(t)) return k;
      if (isOp(t, '(', '[') || isWord(t, 'CASE')) depth++;
      else if (isOp(t, ')', ']') || isWord(t, 'END')) depth--;
      if (depth < 0) throw new Unsupported('unbalanced parentheses');
    }
    return -1;
  }

  /** Splits [from, to) at depth-0 commas. */
  private commaList(from: number, to: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let start = from;
    for (;;) {
      const c = this.scan(start, to, (t) => isOp(t, ','));
      if (c < 0) {
        out.push([start, to]);
        return out;
      }
      out.push([start, c]);
      start = c + 1;
    }
  }

  private text(from: number, to: number): string {
    if (from >= to) throw new Unsupported('an empty clause');
    // A clause must be balanced, so that wrapping it in parentheses cannot change its extent.
    this.scan(from, to, () => false);
    if (this.depthAt(from, to) !== 0) throw new Unsupported('unbalanced parentheses');
    return render(this.tokens, this.prepared, from, to);
  }

  private depthAt(from: number, to: number): number {
    let depth = 0;
    for (let k = from; k < to; k++) {
      const t = this.tokens[k]!;
      if (isOp(t, '(', '[') || isWord(t, 'CASE')) depth++;
      else if (isOp(t, ')', ']') || isWord(t, 'END')) depth--;
    }
    return depth;
  }

  /** A synthetic SELECT built from the statement's own clauses, checked to have exactly the intended shape. */
  private synthetic(sql: string, items: number, fromItems: number): Node {
    const ast = this.parseOne(sql, 'select');
    const columns = arr(ast.columns);
    const extra = ['with', '_next', 'groupby', 'having', 'qualify', 'orderby', 'window', 'top'].filter((k) => {
      const v = ast[k];
      return v != null && !(Array.isArray(v) && v.length === 0) && !(obj(v) && k === 'groupby' && arr(obj(v)!.columns).length === 0);
    });
    if (
      extra.length ||
      columns.length !== items ||
      arr(obj(ast.limit)?.value).length ||
      obj(ast.into)?.expr != null ||
      obj(ast.distinct)?.type != null ||
      (fromItems >= 0 && arr(ast.from).length !== fromItems) ||
      arr(ast.from).length < 1
    )
      throw new Unsupported('the statement has clauses its kind does not allow');
    return ast;
  }

  /**
   * DELETE FROM t [[AS] a] [USING items] [WHERE cond]: node-sql-parser's Snowflake grammar cannot
   * parse it. Its clauses are moved, unchanged, into `SELECT 1 FROM t [a], items WHERE cond`, which
   * has exactly the same name scope (the target joined with the USING items, filtered by the
   * condition); the parsed shape is checked, the first FROM item is the table written.
   */
  private delete(): void {
    const t = this.tokens;
    const f = this.facts;
    f.kind = 'delete';
    if (!isWord(t[1], 'FROM')) throw new Unsupported('DELETE without FROM');
    const name = this.objectName(2);
    const al = this.alias(name.end, ['USING', 'WHERE']);
    let k = al.end;
    let using: [number, number] | undefined;
    let where: [number, number] | undefined;
    const end = t.length;
    if (isWord(t[k], 'USING')) {
      const w = this.scan(k + 1, end, (x) => isWord(x, 'WHERE'));
      using = [k + 1, w < 0 ? end : w];
      k = w < 0 ? end : w;
    }
    if (isWord(t[k], 'WHERE')) {
      where = [k + 1, end];
      k = end;
    }
    if (k !== end) throw new Unsupported('DELETE with an unexpected clause');
    const usingItems = using ? this.commaList(using[0], using[1]).length : 0;
    const sql = `SELECT 1 FROM ${this.text(2, al.end)}${using ? `, ${this.text(using[0], using[1])}` : ''}${where ? ` WHERE ${this.text(where[0], where[1])}` : ''}`;
    const ast = this.synthetic(sql, 1, -1);
    const from = arr(ast.from).map((x) => obj(x)!);
    if (from.length < 1 + usingItems) throw new Unsupported('DELETE … USING the analyser cannot read');
    const scope: Scope = { rels: [], ctes: new Map() };
    const target = this.tableRel(from[0]!, scope, 'write');
    if (from[0]!.join != null || from[0]!.on != null) throw new Unsupported('DELETE target with a join');
    scope.rels.push(target);
    for (const item of from.slice(1)) this.fromItem(item, scope, PLAIN);
    this.where(ast.where, scope);
  }

  /**
   * MERGE INTO target [[AS] a] USING source [[AS] s] ON cond WHEN … — node-sql-parser cannot parse
   * it. A strict recogniser takes it apart clause by clause (anything unexpected is not
   * understood), and the expressions are analysed in one synthetic query with the same scope:
   * `SELECT (set and insert expressions) FROM target a, source s WHERE (cond) AND (case predicates)`.
   */
  private merge(): void {
    const t = this.tokens;
    const f = this.facts;
    f.kind = 'merge';
    const end = t.length;
    if (!isWord(t[1], 'INTO')) throw new Unsupported('MERGE without INTO');
    const name = this.objectName(2);
    const tal = this.alias(name.end, ['USING']);
    if (!isWord(t[tal.end], 'USING')) throw new Unsupported('MERGE without USING');
    const srcStart = tal.end + 1;
    let srcEnd: number;
    if (isOp(t[srcStart], '(')) {
      const close = this.scan(srcStart + 1, end, (x) => isOp(x, ')'));
      if (close < 0) throw new Unsupported('unbalanced parentheses');
      srcEnd = close + 1;
    } else srcEnd = this.objectName(srcStart).end;
    const sal = this.alias(srcEnd, ['ON']);
    if (!isWord(t[sal.end], 'ON')) throw new Unsupported('MERGE without ON');
    const isWhen = (x: Token) => isWord(x, 'WHEN');
    const firstWhen = this.scan(sal.end + 1, end, isWhen);
    if (firstWhen < 0) throw new Unsupported('MERGE without WHEN');
    const on: [number, number] = [sal.end + 1, firstWhen];
    const predicates: Array<[number, number]> = [];
    const values: Array<[number, number]> = [];
    const setCols: string[] = [];
    const insertCols: string[] = [];
    let insertAll = false;
    const targetNames = [tal.alias, name.parts[name.parts.length - 1]].filter(Boolean);
    let k = firstWhen;
    while (k < end) {
      const next = this.scan(k + 1, end, isWhen);
      const stop = next < 0 ? end : next;
      let m = k + 1;
      const not = isWord(t[m], 'NOT');
      if (not) m++;
      if (!isWord(t[m], 'MATCHED')) throw new Unsupported('MERGE WHEN without MATCHED');
      m++;
      if (isWord(t[m], 'AND')) {
        const then = this.scan(m + 1, stop, (x) => isWord(x, 'THEN'));
        if (then < 0) throw new Unsupported('MERGE WHEN without THEN');
        predicates.push([m + 1, then]);
        m = then;
      }
      if (!isWord(t[m], 'THEN')) throw new Unsupported('MERGE WHEN without THEN');
      m++;
      if (!not && isWord(t[m], 'UPDATE') && isWord(t[m + 1], 'SET')) {
        for (const [a, b] of this.commaList(m + 2, stop)) {
          const eq = this.scan(a, b, (x) => isOp(x, '='));
          if (eq < 0) throw new Unsupported('MERGE UPDATE SET without =');
          const col = this.objectName(a);
          if (col.end !== eq || col.parts.length > 2) throw new Unsupported('MERGE UPDATE SET of something other than a column');
          if (col.parts.length === 2 && !targetNames.includes(col.parts[0])) throw new Unsupported('MERGE UPDATE SET of another table’s column');
          setCols.push(col.parts[col.parts.length - 1]!);
          values.push([eq + 1, b]);
        }
      } else if (!not && isWord(t[m], 'DELETE') && m + 1 === stop) {
        // deletes the matched rows
      } else if (not && isWord(t[m], 'INSERT')) {
        m++;
        if (isOp(t[m], '(')) {
          const close = this.scan(m + 1, stop, (x) => isOp(x, ')'));
          if (close < 0) throw new Unsupported('unbalanced parentheses');
          for (const [a, b] of this.commaList(m + 1, close)) {
            const col = this.objectName(a);
            if (col.end !== b || col.parts.length !== 1) throw new Unsupported('MERGE INSERT of something other than a column');
            insertCols.push(col.parts[0]!);
          }
          m = close + 1;
        } else insertAll = true;
        if (!isWord(t[m], 'VALUES') || !isOp(t[m + 1], '(') || !isOp(t[stop - 1], ')')) throw new Unsupported('MERGE INSERT without VALUES (…)');
        const close = this.scan(m + 2, stop, (x) => isOp(x, ')'));
        if (close !== stop - 1) throw new Unsupported('MERGE INSERT with an unexpected clause');
        values.push(...this.commaList(m + 2, close));
      } else throw new Unsupported('a MERGE action the analyser does not model');
      k = stop;
    }
    const items = values.map(([a, b]) => `(${this.text(a, b)})`);
    const where = [on, ...predicates].map(([a, b]) => `(${this.text(a, b)})`).join(' AND ');
    const source = `${this.text(srcStart, srcEnd)}${sal.alias !== undefined ? ` ${this.text(srcEnd, sal.end)}` : ''}`;
    const sql = `SELECT ${items.length ? items.join(', ') : '1'} FROM ${this.text(2, tal.end)}, ${source} WHERE ${where}`;
    const ast = this.synthetic(sql, Math.max(items.length, 1), 2);
    const from = arr(ast.from).map((x) => obj(x)!);
    const scope: Scope = { rels: [], ctes: new Map() };
    const target = this.tableRel(from[0]!, scope, 'write');
    scope.rels.push(target);
    this.fromItem(from[1]!, scope, PLAIN);
    if (items.length) for (const c of arr(ast.columns)) this.flow(this.expr(obj(c)?.expr, scope, PLAIN), Channel.VALUE, 'MERGE');
    // The ON condition is what bounds a MERGE: reported as its WHERE.
    let onExpr: unknown = ast.where;
    for (let i = 0; i < predicates.length; i++) onExpr = obj(onExpr)?.left;
    f.hasWhere = true;
    f.whereTriviallyTrue = this.trivially(onExpr);
    this.expr(ast.where, scope, FILTER);
    const tbl = target.table!;
    for (const c of setCols) this.written(tbl, [c]);
    if (insertCols.length) this.written(tbl, insertCols);
    if (insertAll) this.written(tbl, []);
  }

  /**
   * COPY INTO: loads (COPY INTO table FROM @stage / 'location') and unloads (COPY INTO @stage /
   * 'location' FROM table or (query)). Loads that transform through a query are not modelled.
   */
  private copy(): void {
    const t = this.tokens;
    const f = this.facts;
    f.kind = 'copy';
    if (!isWord(t[1], 'INTO')) throw new Unsupported('COPY without INTO');
    const isLocation = (x: Token | undefined) => x?.type === 'stage' || x?.type === 'string';
    let k: number;
    let target: TableName | undefined;
    const cols: string[] = [];
    if (isLocation(t[2])) k = 3;
    else {
      const n = this.objectName(2);
      target = this.known(this.tableName(n.parts));
      k = n.end;
      if (isOp(t[k], '(')) {
        const close = this.scan(k + 1, t.length, (x) => isOp(x, ')'));
        if (close < 0) throw new Unsupported('unbalanced parentheses');
        for (const [a, b] of this.commaList(k + 1, close)) {
          const c = this.objectName(a);
          if (c.end !== b || c.parts.length !== 1) throw new Unsupported('COPY column list');
          cols.push(c.parts[0]!);
        }
        k = close + 1;
      }
    }
    if (!isWord(t[k], 'FROM')) throw new Unsupported('COPY without FROM');
    k++;
    if (target) {
      if (!isLocation(t[k])) throw new Unsupported('COPY INTO a table from something other than a stage or location');
      f.write(target);
      this.written(target, cols);
      k++;
    } else if (isOp(t[k], '(')) {
      const close = this.scan(k + 1, t.length, (x) => isOp(x, ')'));
      if (close < 0) throw new Unsupported('unbalanced parentheses');
      // Unloaded values land in files, unmasked.
      this.flow(this.select(this.parseOne(this.text(k + 1, close), 'select', k + 1, close), undefined, PLAIN, false).lineage.flat(), Channel.VALUE, 'COPY');
      k = close + 1;
    } else if (isLocation(t[k])) throw new Unsupported('COPY from a location into a location');
    else {
      const n = this.objectName(k);
      const src = this.known(this.tableName(n.parts));
      f.read(src);
      f.columnsRead.push({ table: src, column: '*' });
      this.flow(
        (this.catalog.columns(src) ?? []).map((column) => ({ table: src, column })),
        Channel.VALUE,
        'COPY',
      );
      k = n.end;
    }
    // Copy options: `NAME = value`, `NAME = ( … )`; nothing that names a table or holds an expression.
    for (; k < t.length; k++) {
      const x = t[k]!;
      if (isWord(x, 'PARTITION', 'SELECT', 'FROM')) throw new Unsupported(`COPY option ${x.text}`);
      if (!(x.type === 'word' || x.type === 'string' || x.type === 'number' || isOp(x, '=', '(', ')', ',', '.')))
        throw new Unsupported('an unexpected COPY option');
    }
  }

  /** DROP TABLE|VIEW|MATERIALIZED VIEW [IF EXISTS] name, DROP USER|ROLE … */
  private drop(): void {
    const t = this.tokens;
    const f = this.facts;
    f.kind = 'drop';
    let k = 1;
    if (isWord(t[k], 'USER', 'ROLE')) return;
    if (isWord(t[k], 'SCHEMA', 'DATABASE')) {
      const database = isWord(t[k], 'DATABASE');
      k++;
      if (isWord(t[k], 'IF') && isWord(t[k + 1], 'EXISTS')) k += 2;
      const n = this.objectName(k);
      k = n.end;
      if (isWord(t[k], 'CASCADE', 'RESTRICT')) k++;
      if (k !== t.length) throw new Unsupported('DROP with an unexpected clause');
      if (database) this.databaseTables(n.parts);
      else this.schemaTables(n.parts);
      return;
    }
    if (isWord(t[k], 'MATERIALIZED')) k++;
    if (!isWord(t[k], 'TABLE', 'VIEW')) throw new Unsupported(`DROP ${upper(t[k])}`);
    k++;
    if (isWord(t[k], 'IF') && isWord(t[k + 1], 'EXISTS')) k += 2;
    const n = this.objectName(k);
    k = n.end;
    if (isWord(t[k], 'CASCADE', 'RESTRICT')) k++;
    if (k !== t.length) throw new Unsupported('DROP with an unexpected clause');
    // The dropped object need not be in the catalog; its name must be in this database.
    f.write(this.tableName(n.parts));
  }

  /** TRUNCATE [TABLE] [IF EXISTS] name */
  private truncate(): void {
    const t = this.tokens;
    this.facts.kind = 'truncate';
    let k = 1;
    if (isWord(t[k], 'TABLE')) k++;
    if (isWord(t[k], 'IF') && isWord(t[k + 1], 'EXISTS')) k += 2;
    const n = this.objectName(k);
    if (n.end !== t.length) throw new Unsupported('TRUNCATE with an unexpected clause');
    this.facts.write(this.known(this.tableName(n.parts)));
  }

  /** USE [ROLE|WAREHOUSE|DATABASE|SCHEMA] name, USE SECONDARY ROLES …: no table is read. */
  private use(): void {
    const t = this.tokens;
    this.facts.kind = 'use';
    let k = 1;
    if (isWord(t[k], 'SECONDARY') && isWord(t[k + 1], 'ROLES')) {
      if (!t.slice(k + 2).every((x) => x.type === 'word' || x.type === 'qident' || isOp(x, ',')))
        throw new Unsupported('USE SECONDARY ROLES with an unexpected clause');
      return;
    }
    if (isWord(t[k], 'ROLE', 'WAREHOUSE', 'DATABASE', 'SCHEMA') && t[k + 1]) k++;
    if (this.objectName(k).end !== t.length) throw new Unsupported('USE with an unexpected clause');
  }

  /** DESCRIBE|DESC TABLE|VIEW name: the table's definition, not its rows. */
  private describe(): void {
    const t = this.tokens;
    this.facts.kind = 'describe';
    if (!isWord(t[1], 'TABLE', 'VIEW')) throw new Unsupported(`DESCRIBE ${upper(t[1])}`);
    const n = this.objectName(2);
    let k = n.end;
    if (isWord(t[k], 'TYPE') && isOp(t[k + 1], '=') && isWord(t[k + 2], 'COLUMNS', 'STAGE')) k += 3;
    if (k !== t.length) throw new Unsupported('DESCRIBE with an unexpected clause');
    this.facts.read(this.known(this.tableName(n.parts)));
  }

  /** GRANT/REVOKE: judged by kind; a privilege on one table reports that table as written. */
  private grant(kw: string): void {
    const t = this.tokens;
    this.facts.kind = kw.toLowerCase();
    const on = this.scan(1, t.length, (x) => isWord(x, 'ON'));
    if (on < 0) return; // GRANT ROLE r TO …
    const type = upper(t[on + 1]);
    if (type === 'TABLE' || type === 'VIEW') {
      const n = this.objectName(on + 2);
      if (!isWord(t[n.end], kw === 'GRANT' ? 'TO' : 'FROM')) throw new Unsupported(`${kw} on more than one object`);
      this.facts.write(this.known(this.tableName(n.parts)));
      return;
    }
    if (['WAREHOUSE', 'INTEGRATION', 'ACCOUNT', 'ROLE', 'USER', 'FUNCTION', 'PROCEDURE', 'STAGE', 'SEQUENCE', 'TASK'].includes(type)) return;
    const to = kw === 'GRANT' ? 'TO' : 'FROM';
    // Schema- and database-wide privileges are reported on every table the catalog knows there.
    if (type === 'SCHEMA' || type === 'DATABASE') {
      const n = this.objectName(on + 2);
      if (!isWord(t[n.end], to)) throw new Unsupported(`${kw} on more than one object`);
      if (type === 'SCHEMA') this.schemaTables(n.parts);
      else this.databaseTables(n.parts);
      return;
    }
    if ((type === 'ALL' || type === 'FUTURE') && isWord(t[on + 2], 'TABLES', 'VIEWS') && isWord(t[on + 3], 'IN') && isWord(t[on + 4], 'SCHEMA', 'DATABASE')) {
      const n = this.objectName(on + 5);
      if (!isWord(t[n.end], to)) throw new Unsupported(`${kw} on more than one object`);
      if (isWord(t[on + 4], 'SCHEMA')) this.schemaTables(n.parts);
      else this.databaseTables(n.parts);
      return;
    }
    throw new Unsupported(`${kw} ON ${type}`);
  }

  /** A schema-wide statement touches every table the catalog knows in the schema (none known: not understood). */
  private schemaTables(parts: string[]): void {
    if (parts.length > 2 || (parts.length === 2 && parts[0] !== this.catalog.database))
      throw new Unsupported(`a schema in another database: ${parts.join('.')}`);
    const schema = parts[parts.length - 1]!;
    const tables = this.catalog.tables(schema);
    if (!tables.length) throw new Unsupported(`a statement on schema ${schema}, where the connection knows no table`);
    for (const x of tables) this.facts.write(x);
  }

  private databaseTables(parts: string[]): void {
    if (parts.length !== 1 || parts[0] !== this.catalog.database) throw new Unsupported(`a statement on another database: ${parts.join('.')}`);
    for (const x of this.catalog.tables()) this.facts.write(x);
  }

  private transaction(kw: string): void {
    const t = this.tokens;
    this.facts.kind = 'transaction';
    let k = 1;
    if (kw === 'START') {
      if (!isWord(t[k], 'TRANSACTION')) throw new Unsupported('START without TRANSACTION');
      k++;
    } else if (isWord(t[k], 'WORK', 'TRANSACTION')) k++;
    if ((kw === 'BEGIN' || kw === 'START') && isWord(t[k], 'NAME') && (t[k + 1]?.type === 'word' || t[k + 1]?.type === 'qident')) k += 2;
    // BEGIN … END is a Snowflake Scripting block, not a transaction: anything more is not understood.
    if (k !== t.length) throw new Unsupported(`${kw} with an unexpected clause`);
  }
}

/** GET/PUT move files between a stage and the client; recognised only alone and in their plain form. */
const FILE_TRANSFER = /^\s*(GET|PUT)\s+(?:'[^'\\;]*'|[^\s;'"]+)\s+(?:'[^'\\;]*'|[^\s;'"]+)(?:\s+[A-Za-z_]+\s*=\s*(?:'[^'\\;]*'|[A-Za-z0-9_]+))*\s*;?\s*$/i;

/**
 * Analyses Snowflake SQL for policy: statement kinds, tables and columns resolved against the
 * catalog (Snowflake folds unquoted names to upper case), columns in predicates, functions,
 * WHERE/LIMIT, each statement of multi-statement input on its own. Anything it cannot fully
 * understand yields `understood: false`, which policy denies unless a rule explicitly allows
 * unknown statements.
 */
export function analyse(
  sql: string,
  dialect: 'postgresql' | 'snowflake',
  parse: SqlParser,
  catalog: Catalog,
  defaultSchema: string,
  options: AnalysisOptions = {},
): Analysis {
  const notUnderstood = (fp: string, error: string, statements: StatementFacts[] = []): Analysis => ({
    dialect,
    fingerprint: fp,
    understood: false,
    error,
    statements,
  });
  if (dialect !== 'snowflake') return notUnderstood(fingerprint(sql), 'this analyser is for Snowflake; PostgreSQL is analysed with its own grammar');
  const transfer = FILE_TRANSFER.exec(sql);
  if (transfer && !/--|\/\*/.test(sql)) {
    const kind = transfer[1]!.toLowerCase();
    return {
      dialect,
      fingerprint: fingerprint(sql),
      understood: true,
      error: '',
      statements: [new Facts().done()].map((s) => ({ ...s, kind })),
    };
  }
  let tokens: Token[];
  try {
    tokens = lex(sql);
  } catch (err) {
    return notUnderstood(fingerprint(sql), `syntax not understood: ${(err as Error).message}`);
  }
  const fp = tokenFingerprint(tokens);
  // QUOTED_IDENTIFIERS_IGNORE_CASE: Snowflake resolves a quoted name as if unquoted, in upper case.
  if (options.quotedIdentifiersIgnoreCase) tokens = tokens.map((t) => (t.type === 'qident' ? { ...t, value: t.value!.toUpperCase() } : t));
  const pieces = splitStatements(tokens);
  if (!pieces.length) return notUnderstood(fp, 'nothing to analyse');
  const statements: StatementFacts[] = [];
  const errors: string[] = [];
  for (const [i, piece] of pieces.entries()) {
    try {
      statements.push(new StatementAnalyser(parse, catalog, defaultSchema, options).run(piece, pieces.length));
    } catch (err) {
      const msg =
        err instanceof Unsupported || err instanceof LexError ? err.message : `the analyser failed: ${String((err as Error)?.message ?? err).slice(0, 120)}`;
      errors.push(pieces.length > 1 ? `statement ${i + 1}: ${msg}` : msg);
    }
  }
  if (errors.length) return notUnderstood(fp, errors[0]!, statements);
  return { dialect, fingerprint: fp, understood: true, error: '', statements };
}
