// The database a client connected to, named in its statements. PostgreSQL accepts a relation
// qualified with the current database's own name (`db.schema.table`) and means the same relation;
// tools build such names from their profile (dbt-postgres names every relation
// `"<dbname>"."<schema>"."<table>"`). Through the door the client's database is the connection's
// name, not the upstream's, so the qualifier is dropped before the statement is analysed and run:
// the statement that is decided, recorded and run is the one PostgreSQL would have run. Any other
// database name stays, and is refused as a cross-database reference would be.
import { parseSync, scanSync } from 'libpg-query';

type Node = Record<string, unknown>;

/** Where the database's name starts in `sql` (byte offsets of RangeVars and 4-part ColumnRefs that name it). */
function qualifiedAt(node: unknown, database: string, out: number[]): void {
  if (Array.isArray(node)) {
    for (const n of node) qualifiedAt(n, database, out);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const rv = (node as Node).RangeVar as Node | undefined;
  if (rv && rv.catalogname === database && typeof rv.location === 'number') out.push(rv.location);
  const cr = (node as Node).ColumnRef as { fields?: Array<{ String?: { sval?: string } }>; location?: number } | undefined;
  if (cr?.fields?.length === 4 && cr.fields[0]?.String?.sval === database && typeof cr.location === 'number') out.push(cr.location);
  for (const v of Object.values(node as Node)) qualifiedAt(v, database, out);
}

/** `sql` with `database.` removed wherever it qualifies a relation or column; `sql` itself when it names none. */
export function withoutDatabase(sql: string, database: string): string {
  if (!database || !sql.includes(database)) return sql;
  let at: number[] = [];
  let tokens: Array<{ start: number; end: number; text: string }>;
  try {
    qualifiedAt(parseSync(sql), database, at);
    if (!at.length) return sql;
    tokens = scanSync(sql).tokens;
  } catch {
    return sql;
  }
  at = [...new Set(at)].sort((a, b) => b - a);
  let bytes = Buffer.from(sql, 'utf8');
  for (const start of at) {
    // The name, then the dot: the qualifier ends where the next name begins.
    const i = tokens.findIndex((t) => t.start === start);
    const next = tokens[i + 2];
    if (i < 0 || tokens[i + 1]?.text !== '.' || !next) return sql;
    bytes = Buffer.concat([bytes.subarray(0, start), bytes.subarray(next.start)]);
  }
  return bytes.toString('utf8');
}
