// Small builders shared by the domain tests in this directory.
import assert from 'node:assert/strict';
import { type PolicyDocument, validateDocument } from '../src/domain/document.js';
import type { ColumnName, EvaluationInput, StatementFacts, TableName } from '../src/domain/types.js';

export function policy(doc: Record<string, unknown>): PolicyDocument {
  const v = validateDocument({ version: 1, ...doc });
  assert.ok(v.ok, v.ok ? '' : v.problems.join('\n'));
  return v.doc;
}

export function problems(doc: Record<string, unknown>): string[] {
  const v = validateDocument({ version: 1, ...doc });
  return v.ok ? [] : v.problems;
}

export const table = (name: string, schema = 'public'): TableName => ({ database: 'clinical', schema, name });
export const col = (t: string, column: string): ColumnName => ({ table: table(t), column });

export function stmt(s: Partial<StatementFacts>): StatementFacts {
  return {
    kind: 'select',
    tablesRead: [],
    tablesWritten: [],
    columnsRead: [],
    columnsWritten: [],
    functions: [],
    hasWhere: false,
    whereTriviallyTrue: false,
    hasLimit: false,
    columnsResolved: true,
    columnsFiltered: [],
    flows: [],
    ...s,
  };
}

/** A SELECT of `columns` (`table.column`) from their tables. */
export function select(...columns: string[]): StatementFacts {
  const cols = columns.map((c) => col(c.split('.')[0]!, c.split('.')[1]!));
  const tables = [...new Set(cols.map((c) => c.table.name))].map((n) => table(n));
  return stmt({ tablesRead: tables, columnsRead: cols });
}

export function request(statements: StatementFacts[], opts: { groups?: string[]; connection?: string } = {}): EvaluationInput {
  return {
    identity: { subject: 'someone', clientId: 'someone', groups: opts.groups ?? ['etl'] },
    connection: opts.connection ?? 'clinical-pg',
    role: 'clinical_reader',
    frontDoor: 'http',
    analysis: { dialect: 'postgresql', fingerprint: 'f', understood: true, error: '', statements },
  };
}
