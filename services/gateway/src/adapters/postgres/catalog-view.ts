// Catalog introspection as the mapped role may see it. Tools read pg_catalog before the user's own
// query (psql's \dt and \d, SQLAlchemy's type lookup and inspect(), pgjdbc's DatabaseMetaData, dbt's
// relation listing). PostgreSQL's information_schema already shows only what the current role holds
// a privilege on; pg_catalog shows every relation to everyone. So each reference to a pg_catalog
// relation that lists relations, their columns or their types is rewritten, for the upstream only,
// into the same relation filtered by the role's privileges: a table the role cannot read is not
// there, nor are its columns, indexes, constraints, comments or row type. Which catalog relations a
// statement may read at all is the gateway catalog's (CATALOG_RELATIONS) and policy's to decide;
// this runs on what policy allowed.
import { parseSync, scanSync } from 'libpg-query';

/** The pg_catalog relations a statement may name (the gateway's catalog knows these; policy decides on them). */
export const CATALOG_RELATIONS = [
  'pg_class',
  'pg_namespace',
  'pg_attribute',
  'pg_type',
  'pg_index',
  'pg_constraint',
  'pg_description',
  'pg_attrdef',
  'pg_am',
  'pg_database',
  'pg_inherits',
  'pg_collation',
  'pg_enum',
  'pg_range',
  'pg_extension',
  'pg_tablespace',
  'pg_proc',
  'pg_language',
  'pg_trigger',
  'pg_sequence',
  'pg_tables',
  'pg_views',
  'pg_matviews',
  'pg_indexes',
  'pg_sequences',
  'pg_roles',
  'pg_timezone_names',
  'pg_policy',
  'pg_statistic_ext',
  'pg_publication',
  'pg_publication_rel',
  'pg_publication_namespace',
  'pg_partitioned_table',
  'pg_foreign_table',
  'pg_foreign_server',
  'pg_foreign_data_wrapper',
  'pg_depend',
  'pg_rewrite',
  'pg_opclass',
  'pg_operator',
  'pg_cast',
  'pg_conversion',
  'pg_cursors',
  // What the rest of psql's describe commands read (\du, \dd, \dy, \dF…): roles, operator
  // families, event triggers, text search configuration. None lists relations or their data.
  'pg_auth_members',
  'pg_opfamily',
  'pg_event_trigger',
  'pg_ts_config',
  'pg_ts_dict',
  'pg_ts_parser',
  'pg_ts_template',
  'pg_aggregate',
  'pg_amop',
  'pg_amproc',
];

/** Readable by the current role: a privilege on the relation or on any of its columns. */
const readable = (oid: string) => `(pg_catalog.has_table_privilege(${oid}, 'SELECT') or pg_catalog.has_any_column_privilege(${oid}, 'SELECT'))`;
const TABLE_KINDS = `('r', 'v', 'm', 'p', 'f')`;
const SYSTEM = `('pg_catalog'::regnamespace, 'information_schema'::regnamespace)`;
/** A relation visible to the role: a table it can read, an index of one, a sequence it can use, or a system relation. */
const visibleRelation = (oid: string) =>
  `exists (select 1 from pg_catalog.pg_class v_c where v_c.oid = ${oid} and (case when v_c.relkind in ${TABLE_KINDS} then ${readable('v_c.oid')} when v_c.relkind in ('i', 'I') then exists (select 1 from pg_catalog.pg_index v_i where v_i.indexrelid = v_c.oid and ${readable('v_i.indrelid')}) when v_c.relkind = 'S' then pg_catalog.has_sequence_privilege(v_c.oid, 'SELECT, USAGE') else v_c.relnamespace in ${SYSTEM} end))`;
/** A row type the role may see: of a relation visible to it, or a composite type (CREATE TYPE … AS). */
const visibleRowType = (relid: string) =>
  `(${visibleRelation(relid)} or exists (select 1 from pg_catalog.pg_class t_c where t_c.oid = ${relid} and t_c.relkind = 'c'))`;
const byName = (schema: string, name: string) => readable(`pg_catalog.format('%I.%I', ${schema}, ${name})::regclass`);

/**
 * The filter of each catalog relation that lists relations or what belongs to them: a WHERE on the
 * relation's own columns, which it names through the alias `f` (inner queries have aliases of their own).
 */
const FILTERS: Readonly<Record<string, string>> = {
  pg_class: visibleRelation('f.oid'),
  pg_namespace: `pg_catalog.has_schema_privilege(f.oid, 'USAGE')`,
  pg_attribute: `exists (select 1 from pg_catalog.pg_class a_c where a_c.oid = f.attrelid and (case when a_c.relkind in ${TABLE_KINDS} then (f.attnum > 0 and pg_catalog.has_column_privilege(a_c.oid, f.attnum, 'SELECT')) or (f.attnum <= 0 and ${readable('a_c.oid')}) else ${visibleRelation('a_c.oid')} end))`,
  // A relation's row type, and the array type of that row type (`_demo_meta`), go with the relation.
  pg_type: `(f.typrelid = 0 or ${visibleRowType('f.typrelid')}) and not exists (select 1 from pg_catalog.pg_type t_e where t_e.oid = f.typelem and t_e.typrelid <> 0 and not ${visibleRowType('t_e.typrelid')})`,
  pg_index: readable('f.indrelid'),
  pg_constraint: `f.conrelid = 0 or ${visibleRelation('f.conrelid')}`,
  pg_description: `f.classoid <> 'pg_catalog.pg_class'::regclass or ${visibleRelation('f.objoid')}`,
  pg_attrdef: `pg_catalog.has_column_privilege(f.adrelid, f.adnum, 'SELECT')`,
  pg_inherits: `${visibleRelation('f.inhrelid')} and ${visibleRelation('f.inhparent')}`,
  pg_trigger: visibleRelation('f.tgrelid'),
  pg_sequence: visibleRelation('f.seqrelid'),
  pg_database: `f.datname = pg_catalog.current_database()`,
  pg_policy: visibleRelation('f.polrelid'),
  pg_statistic_ext: visibleRelation('f.stxrelid'),
  pg_publication_rel: visibleRelation('f.prrelid'),
  pg_partitioned_table: visibleRelation('f.partrelid'),
  pg_foreign_table: visibleRelation('f.ftrelid'),
  pg_depend: `f.classid <> 'pg_catalog.pg_class'::regclass or ${visibleRelation('f.objid')}`,
  pg_rewrite: visibleRelation('f.ev_class'),
  pg_tables: byName('f.schemaname', 'f.tablename'),
  pg_views: byName('f.schemaname', 'f.viewname'),
  pg_matviews: byName('f.schemaname', 'f.matviewname'),
  pg_indexes: byName('f.schemaname', 'f.tablename'),
  pg_sequences: `pg_catalog.has_sequence_privilege(pg_catalog.format('%I.%I', f.schemaname, f.sequencename), 'SELECT, USAGE')`,
  // The door serves cursors itself (pgwire/cursors.ts): the upstream session's portals are the
  // gateway's, not the client's. psycopg and psycopg2 look a cursor up here before closing one they
  // never declared, and find none.
  pg_cursors: 'false',
  // Role names: the current role and those it is a member of, not every login on the server.
  pg_roles: `pg_catalog.pg_has_role(f.oid, 'USAGE')`,
  // Memberships among those roles only.
  pg_auth_members: `pg_catalog.pg_has_role(f.roleid, 'USAGE') and pg_catalog.pg_has_role(f.member, 'USAGE')`,
};

const MENTIONS = new RegExp(`\\b(${Object.keys(FILTERS).join('|')})\\b`, 'i');

interface RangeVar {
  schemaname?: string;
  relname: string;
  location: number;
  alias?: unknown;
}

interface ColumnRef {
  fields: Array<{ String?: { sval?: string } }>;
  location: number;
}

/** Every RangeVar and ColumnRef of a parse tree. */
function collect(node: unknown, out: { rels: RangeVar[]; cols: ColumnRef[] }): void {
  if (Array.isArray(node)) {
    for (const n of node) collect(n, out);
    return;
  }
  if (!node || typeof node !== 'object') return;
  for (const [k, v] of Object.entries(node)) {
    if (k === 'RangeVar' && v && typeof v === 'object') out.rels.push(v as RangeVar);
    else if (k === 'ColumnRef' && v && typeof v === 'object') out.cols.push(v as ColumnRef);
    else collect(v, out);
  }
}

/**
 * The statement as the upstream runs it: each reference to a filtered pg_catalog relation replaced
 * by that relation filtered to what the current role may see (under the reference's own alias, or
 * its name). Unchanged when it names none; a statement that does not parse is left to the upstream.
 */
export function catalogView(sql: string): string {
  if (!MENTIONS.test(sql)) return sql;
  let tree: unknown;
  let tokens: Array<{ start: number; end: number; text: string }>;
  try {
    tree = parseSync(sql);
    tokens = scanSync(sql).tokens;
  } catch {
    return sql;
  }
  const found = { rels: [] as RangeVar[], cols: [] as ColumnRef[] };
  collect(tree, found);
  const edits: Array<{ start: number; end: number; text: string }> = [];
  // A subquery has no system columns: the one tools read (psql's \dd: `tableoid`) is carried
  // through by name when the statement names it.
  const systemColumns = /\btableoid\b/i.test(sql) ? ', f.tableoid' : '';
  for (const rv of found.rels) {
    const filter = FILTERS[rv.relname];
    if (!filter || (rv.schemaname !== undefined && rv.schemaname !== 'pg_catalog')) continue;
    // An unqualified name is pg_catalog's only if no user table of that name was meant: PostgreSQL
    // searches pg_catalog first, so it is.
    const first = tokens.findIndex((t) => t.start === rv.location);
    if (first < 0) return sql;
    const last = rv.schemaname !== undefined ? first + 2 : first;
    const end = tokens[last]?.end;
    if (end === undefined) return sql;
    const alias = rv.alias ? '' : ` as ${rv.relname}`;
    edits.push({ start: rv.location, end, text: `(select f.*${systemColumns} from pg_catalog.${rv.relname} f where ${filter})${alias}` });
  }
  if (!edits.length) return sql;
  // `pg_catalog.pg_namespace.nspname` names the relation by its schema: the filtered relation is
  // named by its alias (the relation's name) alone, so the schema goes.
  for (const c of found.cols) {
    const names = c.fields.map((f) => f.String?.sval);
    if (names.length < 3 || names[0] !== 'pg_catalog' || !FILTERS[names[1] ?? '']) continue;
    const first = tokens.findIndex((t) => t.start === c.location);
    const next = tokens[first + 2];
    if (first < 0 || !next) return sql;
    edits.push({ start: c.location, end: next.start, text: '' });
  }
  // Offsets are bytes: splice the UTF-8 bytes, last edit first.
  let bytes = Buffer.from(sql, 'utf8');
  for (const e of edits.sort((a, b) => b.start - a.start))
    bytes = Buffer.concat([bytes.subarray(0, e.start), Buffer.from(e.text, 'utf8'), bytes.subarray(e.end)]);
  return bytes.toString('utf8');
}
