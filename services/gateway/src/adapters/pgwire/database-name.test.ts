import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadModule } from 'libpg-query';
import { withoutDatabase } from './database-name.js';

await loadModule();

test("the client's database name qualifying a relation or a column is dropped, as PostgreSQL reads it; other names stay", () => {
  assert.equal(withoutDatabase('select id from "clinical-pg"."public"."patients"', 'clinical-pg'), 'select id from "public"."patients"');
  assert.equal(
    withoutDatabase(
      'select "clinical-pg".public.patients.id, p.ssn from "clinical-pg".public.patients join "clinical-pg".public.claims p on true',
      'clinical-pg',
    ),
    'select public.patients.id, p.ssn from public.patients join public.claims p on true',
  );
  assert.equal(withoutDatabase('select * from "clinical-pg".information_schema."columns"', 'clinical-pg'), 'select * from information_schema."columns"');
  assert.equal(withoutDatabase('select * from other.public.patients', 'clinical-pg'), 'select * from other.public.patients');
  assert.equal(withoutDatabase("select 'clinical-pg.public.patients'", 'clinical-pg'), "select 'clinical-pg.public.patients'", 'a literal is not a name');
  assert.equal(withoutDatabase('select from "clinical-pg".', 'clinical-pg'), 'select from "clinical-pg".', 'unparsable: unchanged');
});
