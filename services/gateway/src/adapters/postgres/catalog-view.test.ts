import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadModule } from 'libpg-query';
import { catalogView } from './catalog-view.js';

await loadModule();

test('each reference to a listing catalog relation becomes that relation filtered to the role, under its alias or its name', () => {
  const out = catalogView("SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'x'");
  assert.match(
    out,
    /^SELECT c\.relname FROM \(select f\.\* from pg_catalog\.pg_class f where .+\) c JOIN \(select f\.\* from pg_catalog\.pg_namespace f where .+\) n ON/,
  );
  assert.match(out, /has_table_privilege/);
  // A column named through the schema-qualified relation keeps working.
  assert.match(
    catalogView('SELECT pg_catalog.pg_namespace.nspname FROM pg_catalog.pg_namespace'),
    /^SELECT pg_namespace\.nspname FROM \(select f\.\* from pg_catalog\.pg_namespace f where .+\) as pg_namespace$/,
  );
});

test('statements naming no listing catalog relation, a user table of the same name in another schema, or not parsing are unchanged', () => {
  for (const sql of ['SELECT id FROM patients', 'SELECT * FROM public.pg_class', "SELECT 'pg_class'", 'SELEC pg_class', 'SELECT oid FROM pg_catalog.pg_proc'])
    assert.equal(catalogView(sql), sql, sql);
});
