import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, test } from 'node:test';
import type { Analysis, ColumnName, StatementFacts, TableName } from '@phigate/model';
import { type Analyser, Catalog, type CatalogColumn, createAnalyser } from '../src/index.js';

/**
 * The analysis corpus (test/corpus.json): statements in both dialects with the analysis that is
 * right for policy. Lists are compared as sets; each expected statement checks only the fields it
 * names; `statements`, when given, must match the analysis statement for statement.
 */
interface ExpectedStatement {
  kind: string;
  tablesRead?: string[];
  tablesWritten?: string[];
  columnsRead?: string[];
  columnsWritten?: string[];
  columnsFiltered?: string[];
  functions?: string[];
  hasWhere?: boolean;
  whereTriviallyTrue?: boolean;
  hasLimit?: boolean;
  columnsResolved?: boolean;
}

interface Case {
  name: string;
  dialect: 'postgresql' | 'snowflake';
  sql: string;
  expect: { understood: boolean; statements?: ExpectedStatement[] };
}

const corpus = JSON.parse(readFileSync(new URL('../../test/corpus.json', import.meta.url), 'utf8')) as { cases: Case[] };

function catalogOf(database: string, schema: string, tables: Record<string, string[]>): Catalog {
  const cols: CatalogColumn[] = [];
  Object.entries(tables).forEach(([table, names], t) => {
    names.forEach((column, i) => {
      cols.push({ tableOid: 1000 + t, schema, table, attnum: i + 1, column });
    });
  });
  return new Catalog(database, cols);
}

const demo = {
  patients: ['id', 'mrn', 'first_name', 'last_name', 'ssn', 'dob', 'zip', 'phone', 'email', 'notes'],
  encounters: ['id', 'patient_id', 'admitted_at', 'discharged_at', 'diagnosis_code', 'notes'],
  claims: ['id', 'patient_id', 'encounter_id', 'payer_member_id', 'amount', 'status'],
};
const upper = (t: Record<string, string[]>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k.toUpperCase(), v.map((c) => c.toUpperCase())]));
const catalogs = {
  postgresql: { catalog: catalogOf('clinical', 'public', demo), defaultSchema: 'public' },
  // Snowflake folds unquoted names to upper case; its catalog holds them so. EVENTS.PAYLOAD is a VARIANT.
  snowflake: { catalog: catalogOf('CLINICAL', 'PUBLIC', { ...upper(demo), EVENTS: ['ID', 'PAYLOAD'] }), defaultSchema: 'PUBLIC' },
};

const table = (t: TableName) => `${t.schema}.${t.name}`;
const column = (c: ColumnName) => `${table(c.table)}.${c.column}`;
const set = (xs: string[]) => [...new Set(xs)].sort();
const LISTS = {
  tablesRead: (s: StatementFacts) => s.tablesRead.map(table),
  tablesWritten: (s: StatementFacts) => s.tablesWritten.map(table),
  columnsRead: (s: StatementFacts) => s.columnsRead.map(column),
  columnsWritten: (s: StatementFacts) => s.columnsWritten.map(column),
  columnsFiltered: (s: StatementFacts) => s.columnsFiltered.map(column),
  functions: (s: StatementFacts) => s.functions,
} as const;
const FLAGS = ['hasWhere', 'whereTriviallyTrue', 'hasLimit', 'columnsResolved'] as const;

function check(c: Case, a: Analysis): void {
  const where = `${c.dialect}: ${c.name}\n  ${c.sql}`;
  assert.equal(a.understood, c.expect.understood, `${where}\n  understood (${a.error || 'no error'})`);
  if (!c.expect.understood) assert.ok(a.error, `${where}\n  a statement not understood says why`);
  const expected = c.expect.statements;
  if (!expected) return;
  assert.deepEqual(
    a.statements.map((s) => s.kind),
    expected.map((s) => s.kind),
    `${where}\n  statement kinds`,
  );
  expected.forEach((e, i) => {
    const s = a.statements[i]!;
    for (const [field, get] of Object.entries(LISTS) as Array<[keyof typeof LISTS, (s: StatementFacts) => string[]]>) {
      const want = e[field];
      if (want) assert.deepEqual(set(get(s)), set(want), `${where}\n  statement ${i + 1} ${field}`);
    }
    for (const flag of FLAGS) if (e[flag] !== undefined) assert.equal(s[flag], e[flag], `${where}\n  statement ${i + 1} ${flag}`);
  });
}

let analyse: Analyser;
before(async () => {
  analyse = await createAnalyser();
});

test('the corpus has at least 150 statements across both dialects', () => {
  const count = (d: string) => corpus.cases.filter((c) => c.dialect === d).length;
  assert.ok(count('postgresql') >= 75 && count('snowflake') >= 75, `${count('postgresql')} PostgreSQL, ${count('snowflake')} Snowflake`);
});

for (const dialect of ['postgresql', 'snowflake'] as const) {
  test(`the ${dialect} corpus analyses as expected`, () => {
    const { catalog, defaultSchema } = catalogs[dialect];
    const failures: string[] = [];
    for (const c of corpus.cases.filter((x) => x.dialect === dialect)) {
      try {
        check(c, analyse(c.sql, c.dialect, catalog, defaultSchema));
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    assert.deepEqual(failures, [], `${failures.length} case(s) failed:\n\n${failures.join('\n\n')}`);
  });
}
