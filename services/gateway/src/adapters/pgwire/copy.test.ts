import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadModule, parseSync } from 'libpg-query';
import { type CopyOut, copyLine, copyOutCommand } from './copy.js';

await loadModule();
const copy = (sql: string) => {
  const stmt = (parseSync(sql) as unknown as { stmts: Array<{ stmt: { CopyStmt: Record<string, unknown> } }> }).stmts[0]!.stmt.CopyStmt;
  return copyOutCommand(stmt, sql);
};

test('COPY … TO STDOUT becomes its SELECT; other COPYs are not this', () => {
  assert.equal(copy("COPY (SELECT ')' AS x FROM patients) TO STDOUT")?.query, "SELECT ')' AS x FROM patients");
  assert.equal(copy('COPY public.encounters (id, "Diagnosis") TO STDOUT')?.query, 'SELECT id, "Diagnosis" FROM public.encounters');
  assert.equal(copy('COPY patients TO STDOUT')?.query, 'SELECT * FROM patients');
  assert.deepEqual(
    ['format', 'delimiter', 'null', 'header'].map((k) => copy('COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, HEADER)')?.[k as keyof CopyOut]),
    ['csv', ',', '', true],
  );
  for (const sql of ["COPY patients TO '/tmp/x'", 'COPY patients FROM STDIN', "COPY patients TO PROGRAM 'cat'"]) assert.equal(copy(sql), undefined, sql);
  assert.throws(() => copy('COPY (SELECT 1) TO STDOUT WITH (FORMAT binary)'), /binary/);
  assert.throws(() => copy('COPY (SELECT 1) TO STDOUT WITH (FORCE_QUOTE *)'), /FORCE_QUOTE/);
});

test('lines are escaped as PostgreSQL writes them, in text and CSV', () => {
  const text = copy('COPY (SELECT 1) TO STDOUT')!;
  assert.equal(copyLine(['a\tb', null, 'c\\d\ne', ''], text), 'a\\tb\t\\N\tc\\\\d\\ne\t\n');
  const csv = copy('COPY (SELECT 1) TO STDOUT (FORMAT csv)')!;
  assert.equal(copyLine(['a,b', null, 'say "hi"', '', 'plain'], csv), '"a,b",,"say ""hi""","",plain\n');
});
