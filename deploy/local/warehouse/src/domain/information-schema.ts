/**
 * Snowflake's INFORMATION_SCHEMA.TABLES and .COLUMNS for the warehouse's one database. As in
 * Snowflake, names are upper case and a role sees only the objects it holds a privilege on (a role
 * without any sees no table at all, only the two views themselves, which every role sees). Pure:
 * the engine stores the rows with the roles that may see each one, and filters by session role.
 */
import { BINARY_LENGTH, TEXT_LENGTH } from '@phigate/snowflake-wire';
import { type GrantChecker, INFORMATION_SCHEMA } from './grants.js';

/** A column of a warehouse table, as the engine describes it (DuckDB type text). */
export interface SourceColumn {
  schema: string;
  table: string;
  column: string;
  position: number;
  /** DuckDB's type name: `DECIMAL(38,0)`, `VARCHAR`, `TIMESTAMP WITH TIME ZONE`, … */
  duckType: string;
  nullable: boolean;
}

/** One view column: its name and its DuckDB type (Snowflake's type in the comment). */
interface ViewColumn {
  name: string;
  duckType: string;
}

const TYPES = { text: 'VARCHAR', n: 'DECIMAL(9,0)', ltz: 'TIMESTAMPTZ' } as const;

/** `NAME` is a VARCHAR column, `NAME:n` a NUMBER(9,0), `NAME:ltz` a TIMESTAMP_LTZ. */
function viewColumns(spec: string): ViewColumn[] {
  return spec.split(/\s+/).map((c) => {
    const [name = '', type = 'text'] = c.split(':');
    return { name, duckType: TYPES[type as keyof typeof TYPES] };
  });
}

/** The views and their columns, in Snowflake's order (the subset this warehouse can fill truthfully). */
export const VIEWS: Readonly<Record<'TABLES' | 'COLUMNS', readonly ViewColumn[]>> = {
  TABLES: viewColumns('TABLE_CATALOG TABLE_SCHEMA TABLE_NAME TABLE_TYPE IS_TRANSIENT CREATED:ltz LAST_ALTERED:ltz COMMENT'),
  COLUMNS: viewColumns(
    'TABLE_CATALOG TABLE_SCHEMA TABLE_NAME COLUMN_NAME ORDINAL_POSITION:n COLUMN_DEFAULT IS_NULLABLE DATA_TYPE CHARACTER_MAXIMUM_LENGTH:n ' +
      'CHARACTER_OCTET_LENGTH:n NUMERIC_PRECISION:n NUMERIC_PRECISION_RADIX:n NUMERIC_SCALE:n DATETIME_PRECISION:n IS_IDENTITY COMMENT',
  ),
};

export type ViewName = keyof typeof VIEWS;
export type Cell = string | number | null;

/** Rows of one view, each with the roles that see it. */
export interface ViewRows {
  columns: readonly ViewColumn[];
  rows: Array<{ visibleTo: string[]; cells: Cell[] }>;
}

/** Snowflake's DATA_TYPE and size columns for a DuckDB column type (the engine's Snowflake type mapping). */
export function snowflakeType(duckType: string): {
  dataType: string;
  charMax: number | null;
  octets: number | null;
  precision: number | null;
  radix: number | null;
  scale: number | null;
  datetimePrecision: number | null;
} {
  const none = { charMax: null, octets: null, precision: null, radix: null, scale: null, datetimePrecision: null };
  const t = duckType.toUpperCase();
  const dec = /^DECIMAL\((\d+),\s*(\d+)\)$/.exec(t);
  if (dec) return { ...none, dataType: 'NUMBER', precision: Number(dec[1]), radix: 10, scale: Number(dec[2]) };
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|U\w*INT)$/.test(t)) return { ...none, dataType: 'NUMBER', precision: 38, radix: 10, scale: 0 };
  if (t === 'DOUBLE' || t === 'FLOAT') return { ...none, dataType: 'FLOAT' };
  if (t === 'BOOLEAN') return { ...none, dataType: 'BOOLEAN' };
  if (t === 'DATE') return { ...none, dataType: 'DATE' };
  if (t === 'TIME') return { ...none, dataType: 'TIME', datetimePrecision: 9 };
  if (t === 'TIMESTAMP') return { ...none, dataType: 'TIMESTAMP_NTZ', datetimePrecision: 9 };
  if (t === 'TIMESTAMP WITH TIME ZONE' || t === 'TIMESTAMPTZ') return { ...none, dataType: 'TIMESTAMP_LTZ', datetimePrecision: 9 };
  if (t === 'BLOB') return { ...none, dataType: 'BINARY', charMax: BINARY_LENGTH, octets: BINARY_LENGTH };
  if (t === 'JSON') return { ...none, dataType: 'VARIANT' };
  return { ...none, dataType: 'TEXT', charMax: TEXT_LENGTH, octets: TEXT_LENGTH };
}

/**
 * The rows of INFORMATION_SCHEMA.TABLES and .COLUMNS: every table column the engine has, shown to
 * the roles that hold a privilege on it, plus the two views themselves, shown to every role.
 */
export function informationSchemaRows(database: string, columns: readonly SourceColumn[], grants: GrantChecker, createdAt: string): Record<ViewName, ViewRows> {
  const roles = grants.file.roles;
  const tables: ViewRows = { columns: VIEWS.TABLES, rows: [] };
  const cols: ViewRows = { columns: VIEWS.COLUMNS, rows: [] };
  const seen = new Set<string>();
  const all: SourceColumn[] = [
    ...columns.filter((c) => c.schema !== INFORMATION_SCHEMA),
    ...(Object.keys(VIEWS) as ViewName[]).flatMap((view) =>
      VIEWS[view].map((c, i) => ({ schema: INFORMATION_SCHEMA, table: view, column: c.name, position: i + 1, duckType: c.duckType, nullable: true })),
    ),
  ];
  for (const c of all) {
    const view = c.schema === INFORMATION_SCHEMA;
    const t = { schema: c.schema, name: c.table };
    const key = `${c.schema}.${c.table}`;
    if (!seen.has(key)) {
      seen.add(key);
      const visibleTo = view ? [...roles] : roles.filter((r) => grants.sees(r, t));
      tables.rows.push({ visibleTo, cells: [database, c.schema, c.table, view ? 'VIEW' : 'BASE TABLE', 'NO', createdAt, createdAt, null] });
    }
    const visibleTo = view ? [...roles] : roles.filter((r) => grants.sees(r, t, c.column));
    const sf = snowflakeType(c.duckType);
    cols.rows.push({
      visibleTo,
      cells: [
        database,
        c.schema,
        c.table,
        c.column,
        c.position,
        null,
        c.nullable ? 'YES' : 'NO',
        sf.dataType,
        sf.charMax,
        sf.octets,
        sf.precision,
        sf.radix,
        sf.scale,
        sf.datetimePrecision,
        'NO',
        null,
      ],
    });
  }
  return { TABLES: tables, COLUMNS: cols };
}
