import type { StatementFacts, TableName } from '@phigate/model';

/** The schema of Snowflake's metadata views, present in every database. */
export const INFORMATION_SCHEMA = 'INFORMATION_SCHEMA';

/** A privilege a role can hold on a table (Snowflake's names). */
export type Privilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE' | 'TRUNCATE';
const PRIVILEGES: ReadonlySet<string> = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']);

/** One grant: privileges on a table (`SCHEMA.TABLE`), or only on some of its columns. */
export interface Grant {
  role: string;
  privileges: Privilege[];
  table: string;
  columns?: string[];
}

export interface GrantsFile {
  database: string;
  roles: string[];
  grants: Grant[];
}

/** Why a statement may not run: the object Snowflake would name in its 003001 message. */
export interface Refusal {
  objectType: 'table' | 'schema' | 'database';
  objectName: string;
  column?: string;
  privilege: string;
}

/** Validates a grants file; every problem at once. */
export function parseGrants(raw: unknown): { grants?: GrantsFile; problems: string[] } {
  const problems: string[] = [];
  const o = raw as Partial<GrantsFile> | null;
  if (!o || typeof o !== 'object') return { problems: ['the grants file must be a JSON object'] };
  if (typeof o.database !== 'string' || !/^[A-Z_][A-Z0-9_$]*$/.test(o.database)) problems.push('database: an upper-case identifier is required');
  if (!Array.isArray(o.roles) || !o.roles.every((r) => typeof r === 'string' && /^[A-Z_][A-Z0-9_$]*$/.test(r)))
    problems.push('roles: a list of upper-case role names is required');
  const roles = new Set(Array.isArray(o.roles) ? o.roles : []);
  if (!Array.isArray(o.grants)) problems.push('grants: a list is required');
  for (const [i, g] of (Array.isArray(o.grants) ? o.grants : []).entries()) {
    if (!g || typeof g !== 'object') {
      problems.push(`grants[${i}]: must be an object`);
      continue;
    }
    if (!roles.has(g.role)) problems.push(`grants[${i}].role: ${JSON.stringify(g.role)} is not a declared role`);
    if (!Array.isArray(g.privileges) || g.privileges.length === 0 || !g.privileges.every((p) => PRIVILEGES.has(p)))
      problems.push(`grants[${i}].privileges: one or more of ${[...PRIVILEGES].join(', ')}`);
    if (typeof g.table !== 'string' || !/^[A-Z_][A-Z0-9_$]*\.[A-Z_][A-Z0-9_$]*$/.test(g.table)) problems.push(`grants[${i}].table: SCHEMA.TABLE in upper case`);
    if (g.columns !== undefined && (!Array.isArray(g.columns) || !g.columns.every((c) => typeof c === 'string' && /^[A-Z_][A-Z0-9_$]*$/.test(c))))
      problems.push(`grants[${i}].columns: a list of upper-case column names`);
  }
  return problems.length ? { problems } : { grants: o as GrantsFile, problems };
}

/**
 * Per-statement privilege check, Snowflake-style: reading needs SELECT, writing the matching DML
 * privilege (a DML statement may read the columns of the table it writes, as Snowflake allows),
 * and DDL, GRANT, COPY and anything else needs an ownership no role here has. Column grants
 * (from the PostgreSQL demo's matrix) narrow a privilege to the listed columns.
 */
export class GrantChecker {
  /** role → table key → privilege → columns (undefined = whole table). */
  private readonly byRole = new Map<string, Map<string, Map<string, Set<string> | undefined>>>();

  constructor(readonly file: GrantsFile) {
    for (const g of file.grants) {
      let tables = this.byRole.get(g.role);
      if (!tables) {
        tables = new Map();
        this.byRole.set(g.role, tables);
      }
      let privs = tables.get(g.table);
      if (!privs) {
        privs = new Map();
        tables.set(g.table, privs);
      }
      for (const p of g.privileges) {
        if (!g.columns) privs.set(p, undefined);
        else if (!privs.has(p)) privs.set(p, new Set(g.columns));
        else {
          const cur = privs.get(p);
          if (cur) for (const c of g.columns) cur.add(c);
        }
      }
    }
  }

  hasRole(role: string): boolean {
    return this.file.roles.includes(role);
  }

  private allows(role: string, t: TableName, privilege: string, column?: string): boolean {
    const privs = this.byRole.get(role)?.get(`${t.schema}.${t.name}`);
    if (!privs?.has(privilege)) return false;
    const cols = privs.get(privilege);
    return cols === undefined || (column !== undefined && column !== '*' && cols.has(column));
  }

  /** Any privilege at all on the table (what DESCRIBE needs). */
  private anyOn(role: string, t: TableName): boolean {
    return (this.byRole.get(role)?.get(`${t.schema}.${t.name}`)?.size ?? 0) > 0;
  }

  /**
   * Whether `role` sees the table (or one of its columns) in INFORMATION_SCHEMA: Snowflake shows only
   * objects the role holds a privilege on. A column grant shows only the granted columns.
   */
  sees(role: string, t: { schema: string; name: string }, column?: string): boolean {
    const privs = this.byRole.get(role)?.get(`${t.schema}.${t.name}`);
    if (!privs?.size) return false;
    if (column === undefined) return true;
    for (const cols of privs.values()) if (cols === undefined || cols.has(column)) return true;
    return false;
  }

  /** The first missing privilege for one statement run as `role`, or undefined when it may run. */
  check(role: string, s: StatementFacts): Refusal | undefined {
    const tableRefusal = (t: TableName, privilege: string, column?: string): Refusal => ({
      objectType: 'table',
      objectName: t.name,
      privilege,
      ...(column !== undefined && column !== '*' ? { column } : {}),
    });
    const key = (t: TableName) => `${t.schema}.${t.name}`;
    const written = new Set(s.tablesWritten.map(key));
    // Reading INFORMATION_SCHEMA is a metadata read every role may make: its views show each role
    // only what it holds privileges on. Writing to it, like anything else, needs a privilege.
    const metadata = (t: TableName) => t.schema === INFORMATION_SCHEMA && !written.has(key(t));
    switch (s.kind) {
      case 'select':
      case 'insert':
      case 'update':
      case 'delete':
      case 'merge': {
        const dml: Record<string, Privilege[]> = { insert: ['INSERT'], update: ['UPDATE'], delete: ['DELETE'], merge: ['INSERT', 'UPDATE', 'DELETE'] };
        for (const t of s.tablesWritten) {
          for (const p of dml[s.kind] ?? []) {
            if (s.kind === 'update' || s.kind === 'insert') {
              const cols = s.columnsWritten.filter((c) => key(c.table) === key(t));
              // An INSERT or UPDATE without a column list writes every column.
              if (!cols.length && !this.allows(role, t, p)) return tableRefusal(t, p);
              for (const c of cols) if (!this.allows(role, t, p, c.column)) return tableRefusal(t, p, c.column);
            } else if (!this.allows(role, t, p)) return tableRefusal(t, p);
          }
        }
        for (const t of s.tablesRead) {
          if (written.has(key(t)) || metadata(t)) continue;
          const cols = s.columnsRead.filter((c) => key(c.table) === key(t));
          if (!cols.length && !this.allows(role, t, 'SELECT') && !this.anyColumn(role, t, 'SELECT')) return tableRefusal(t, 'SELECT');
          for (const c of cols) if (!this.allows(role, t, 'SELECT', c.column)) return tableRefusal(t, 'SELECT', c.column);
        }
        // Columns of a written table read by a DML statement (its WHERE, SET expressions).
        for (const c of s.columnsRead) {
          if (!written.has(key(c.table))) continue;
          const ok = (dml[s.kind] ?? []).some((p) => this.allows(role, c.table, p, c.column)) || this.allows(role, c.table, 'SELECT', c.column);
          if (!ok) return tableRefusal(c.table, 'SELECT', c.column);
        }
        return undefined;
      }
      case 'describe':
        for (const t of s.tablesRead) if (!metadata(t) && !this.anyOn(role, t)) return tableRefusal(t, 'REFERENCES');
        return undefined;
      case 'use':
      case 'show':
      case 'transaction':
      case 'set':
      case 'reset':
        return undefined;
      case 'truncate':
        for (const t of s.tablesWritten) if (!this.allows(role, t, 'TRUNCATE')) return tableRefusal(t, 'TRUNCATE');
        return undefined;
      case 'create': {
        const t = s.tablesWritten[0];
        return { objectType: 'schema', objectName: t?.schema ?? this.file.database, privilege: 'CREATE' };
      }
      default: {
        // DROP, ALTER, GRANT/REVOKE, COPY, CALL, EXECUTE, PUT/GET and the rest need ownership or
        // account privileges that no role of this warehouse holds.
        const t = s.tablesWritten[0] ?? s.tablesRead[0];
        return t ? tableRefusal(t, 'OWNERSHIP') : { objectType: 'database', objectName: this.file.database, privilege: 'OWNERSHIP' };
      }
    }
  }

  private anyColumn(role: string, t: TableName, privilege: string): boolean {
    const cols = this.byRole.get(role)?.get(`${t.schema}.${t.name}`)?.get(privilege);
    return cols !== undefined && cols.size > 0;
  }
}

/** Snowflake's message for a refused statement (code 003001, SQLSTATE 42501). */
export function refusalMessage(r: Refusal): string {
  const col = r.column ? ` (column '${r.column}')` : '';
  return `SQL access control error:\nInsufficient privileges to operate on ${r.objectType} '${r.objectName}'${col}.`;
}
