// The PHI catalog, the same document the policy service reads (`phi:` entries of a policy file:
// column pattern → PHI kind or kinds), so auditors search and report with policy's own tags.

/** One catalog entry: a `schema.table.column` pattern (`*` matches any part) and its PHI kinds. */
export interface PhiColumn {
  schema: string;
  table: string;
  column: string;
  kinds: string[];
  /** Connections the entry is scoped to; empty = every connection. */
  connections: string[];
}

/** The PHI catalog, queried by column or by tag. */
export class PhiCatalog {
  constructor(readonly columns: readonly PhiColumn[]) {}

  /** An empty catalog: nothing is tagged. */
  static empty(): PhiCatalog {
    return new PhiCatalog([]);
  }

  /** Every PHI kind the catalog uses. */
  get tags(): string[] {
    return [...new Set(this.columns.flatMap((c) => c.kinds))].sort();
  }

  /** The PHI kinds of `table.column` (schema optional) on a connection. */
  tagsOf(connection: string | undefined, table: string, column: string, schema?: string): string[] {
    const out = new Set<string>();
    for (const c of this.columns) {
      if (connection && c.connections.length && !c.connections.includes(connection)) continue;
      if (part(c.table, table) && part(c.column, column) && (schema === undefined || part(c.schema, schema))) for (const k of c.kinds) out.add(k);
    }
    return [...out].sort();
  }

  /** The catalog columns of a table (for `SELECT *`). */
  columnsOf(connection: string | undefined, table: string): string[] {
    return this.columns
      .filter((c) => (!connection || !c.connections.length || c.connections.includes(connection)) && part(c.table, table) && !c.column.includes('*'))
      .map((c) => c.column.toLowerCase());
  }

  /**
   * The search keys (`table.column` or `schema.table.column`, lower case, as the store's
   * audit_columns() index spells them) of the columns carrying `tag`. Patterns with a wildcard
   * inside a table or column name cannot be searched by key and are left out.
   */
  searchKeys(tag: string): string[] {
    const keys = new Set<string>();
    for (const c of this.columns) {
      if (!c.kinds.includes(tag) || c.table.includes('*') || c.column.includes('*')) continue;
      const tc = `${c.table}.${c.column}`.toLowerCase();
      keys.add(c.schema === '*' ? tc : `${c.schema.toLowerCase()}.${tc}`);
    }
    return [...keys].sort();
  }
}

function part(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (!pattern.includes('*')) return pattern.toLowerCase() === value.toLowerCase();
  const re = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`, 'i');
  return re.test(value);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Reads the `phi:` section of a policy document (already parsed from YAML); throws on a malformed one. */
export function parsePhiCatalog(doc: unknown): PhiCatalog {
  const problems: string[] = [];
  const columns: PhiColumn[] = [];
  const entries = (doc as { phi?: unknown } | null)?.phi;
  if (!Array.isArray(entries)) throw new Error('the PHI catalog has no `phi:` list');
  entries.forEach((entry, i) => {
    const e = entry as { columns?: unknown; connections?: unknown };
    if (!e || typeof e.columns !== 'object' || e.columns === null) {
      problems.push(`phi[${i}]: columns must be a map of column pattern to PHI kind`);
      return;
    }
    const connections = Array.isArray(e.connections) ? e.connections.filter((c): c is string => typeof c === 'string') : [];
    for (const [pattern, kind] of Object.entries(e.columns as Record<string, unknown>)) {
      const parts = pattern.split('.');
      const kinds = (Array.isArray(kind) ? kind : [kind]).filter((k): k is string => typeof k === 'string');
      if (parts.length !== 3 || parts.some((p) => p === '') || kinds.length === 0) {
        problems.push(`phi[${i}].columns["${pattern}"]: expected schema.table.column → kind`);
        continue;
      }
      columns.push({ schema: parts[0]!, table: parts[1]!, column: parts[2]!, kinds, connections });
    }
  });
  if (problems.length) throw new Error(problems.join('; '));
  return new PhiCatalog(columns);
}
