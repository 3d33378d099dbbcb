import type { TableName } from '@phigate/model';

/** One column of the upstream catalog. */
export interface CatalogColumn {
  tableOid: number;
  schema: string;
  table: string;
  attnum: number;
  column: string;
}

/** The upstream's tables and columns, for resolving names and result-column provenance. */
export class Catalog {
  private readonly byOid = new Map<number, { schema: string; table: string; columns: Map<number, string> }>();
  private readonly byName = new Map<string, Set<string>>();
  private readonly tableList: TableName[] = [];

  constructor(
    readonly database: string,
    columns: CatalogColumn[],
  ) {
    for (const c of columns) {
      let t = this.byOid.get(c.tableOid);
      if (!t) {
        t = { schema: c.schema, table: c.table, columns: new Map() };
        this.byOid.set(c.tableOid, t);
      }
      t.columns.set(c.attnum, c.column);
      const key = `${c.schema}.${c.table}`;
      let cols = this.byName.get(key);
      if (!cols) {
        cols = new Set();
        this.byName.set(key, cols);
        this.tableList.push({ database, schema: c.schema, name: c.table });
      }
      cols.add(c.column);
    }
  }

  /** The source column of a result column, from the upstream's table oid and attribute number. */
  source(tableOid: number, attnum: number): { schema: string; table: string; column: string } | undefined {
    const t = this.byOid.get(tableOid);
    const column = t?.columns.get(attnum);
    return t && column ? { schema: t.schema, table: t.table, column } : undefined;
  }

  hasTable(t: TableName): boolean {
    return this.byName.has(`${t.schema}.${t.name}`);
  }

  hasColumn(t: TableName, column: string): boolean {
    return this.byName.get(`${t.schema}.${t.name}`)?.has(column) ?? false;
  }

  /** Every table the catalog knows (of one schema, when given). */
  tables(schema?: string): TableName[] {
    return this.tableList.filter((t) => schema === undefined || t.schema === schema);
  }

  /** The table's columns, in catalog order (undefined for a table the catalog does not know). */
  columns(t: TableName): string[] | undefined {
    const cols = this.byName.get(`${t.schema}.${t.name}`);
    return cols ? [...cols] : undefined;
  }

  knowsOid(tableOid: number): boolean {
    return this.byOid.has(tableOid);
  }
}
