import assert from 'node:assert/strict';
import { test } from 'node:test';
import sqlParser from 'node-sql-parser';
import { Catalog } from './catalog.js';
import { analyse, type ParsedSql, type SqlParser } from './node-sql-analysis.js';
import { LexError, lex, numberedBinds, prepare, render, splitStatements, withCurrentUser } from './snowflake-lexer.js';

const parser = new sqlParser.Parser();
const parse: SqlParser = (sql, dialect) => parser.parse(sql, { database: dialect }) as unknown as ParsedSql;
const cols = (oid: number, table: string, names: string[]) => names.map((column, i) => ({ tableOid: oid, schema: 'PUBLIC', table, attnum: i + 1, column }));
const catalog = new Catalog('CLINICAL', [
  ...cols(1, 'PATIENTS', ['ID', 'MRN', 'FIRST_NAME', 'LAST_NAME', 'SSN', 'DOB', 'ZIP', 'PHONE', 'EMAIL', 'NOTES']),
  ...cols(2, 'CLAIMS', ['ID', 'PATIENT_ID', 'ENCOUNTER_ID', 'PAYER_MEMBER_ID', 'AMOUNT', 'STATUS']),
  ...cols(3, 'EVENTS', ['ID', 'PAYLOAD']),
]);
const run = (sql: string) => analyse(sql, 'snowflake', parse, catalog, 'PUBLIC');
const colsOf = (xs: Array<{ table: { name: string }; column: string }>) => xs.map((c) => `${c.table.name}.${c.column}`).sort();
const rewrite = (sql: string) => {
  const tokens = lex(sql);
  return render(tokens, prepare(tokens));
};

test('the lexer follows Snowflake: backslash escapes, $$ strings, // comments', () => {
  assert.equal(splitStatements(lex("select 'a\\'; drop table x; --' from t")).length, 1);
  assert.equal(splitStatements(lex('select $$ ; drop table x; $$')).length, 1);
  assert.equal(splitStatements(lex('select 1 // ; drop table x\n; select 2')).length, 2);
  assert.equal(splitStatements(lex('select 1 /* ; */ ; select 2')).length, 2);
});

test('the lexer refuses what lexers disagree on', () => {
  for (const sql of [
    'select 1 /*/ ; drop table x; /* */',
    'select 1 /* /* */ x */',
    'select 1 -- a\rdrop table x',
    "select 'open",
    'select "open',
    'select `x`',
    'select 1x',
  ]) {
    assert.throws(() => lex(sql), LexError, sql);
  }
});

test('rewrites: quoted names become placeholders, ? becomes :n, JSON paths are dropped after their column', () => {
  assert.equal(rewrite('select "ssn", ? from t where a = ?'), 'select __PHIGATE_Q0__,  :1  from t where a =  :2 ');
  assert.equal(rewrite('select e.payload:a.b[0]."C"::string from events e'), 'select e.payload::string from events e');
  assert.equal(rewrite("select 'it''s' /* c */ x"), "select '__PHIGATE_S1__' x");
  assert.throws(() => rewrite('select payload? from t'), LexError);
  assert.throws(() => rewrite('select payload:a .b from t'), LexError);
});

test('statements are analysed one by one: tables are attributed to their own statement', () => {
  const a = run('select id from patients; delete from claims where id = 1');
  assert.equal(a.understood, true, a.error);
  assert.deepEqual(
    a.statements.map((s) => [s.kind, s.tablesRead.map((t) => t.name), s.tablesWritten.map((t) => t.name)]),
    [
      ['select', ['PATIENTS'], []],
      ['delete', [], ['CLAIMS']],
    ],
  );
});

test('Snowflake folds unquoted names to upper case and keeps quoted ones', () => {
  assert.deepEqual(colsOf(run('select Ssn from Patients').statements[0]!.columnsRead), ['PATIENTS.SSN']);
  assert.deepEqual(colsOf(run('select "SSN" from "PATIENTS"').statements[0]!.columnsRead), ['PATIENTS.SSN']);
  assert.equal(run('select ssn from "patients"').understood, false, 'a lower-case quoted table is another table');
  assert.equal(run('select "ssn" from patients').statements[0]!.columnsResolved, false);
});

test('QUOTED_IDENTIFIERS_IGNORE_CASE: quoted names resolve as if unquoted, in upper case; the fingerprint stays the statement’s', () => {
  const ignoring = (sql: string) => analyse(sql, 'snowflake', parse, catalog, 'PUBLIC', { quotedIdentifiersIgnoreCase: true });
  const a = ignoring('select "ssn", p."First_Name" from "patients" as "p" where "zip" = ?');
  assert.equal(a.understood, true);
  assert.deepEqual(colsOf(a.statements[0]!.columnsRead), ['PATIENTS.FIRST_NAME', 'PATIENTS.SSN', 'PATIENTS.ZIP']);
  assert.equal(a.statements[0]!.columnsResolved, true);
  assert.deepEqual(colsOf(ignoring(`select * from identifier('"clinical"."public"."patients"')`).statements[0]!.columnsRead), ['PATIENTS.*']);
  assert.equal(a.fingerprint, run('select "ssn", p."First_Name" from "patients" as "p" where "zip" = ?').fingerprint);
  // Under the default the same text names other objects, which do not exist.
  assert.equal(run('select "ssn", p."First_Name" from "patients" as "p" where "zip" = ?').understood, false);
});

test('IDENTIFIER(), JSON paths, EXCLUDE and FLATTEN resolve to the real table and column', () => {
  assert.deepEqual(colsOf(run("select * from identifier('clinical.public.patients')").statements[0]!.columnsRead), ['PATIENTS.*']);
  assert.equal(run('select * from identifier(?)').understood, false);
  assert.deepEqual(colsOf(run('select payload:patient.name from events').statements[0]!.columnsRead), ['EVENTS.PAYLOAD']);
  const ex = run('select * exclude (ssn) from patients where zip = ?').statements[0]!;
  assert.deepEqual([colsOf(ex.columnsRead), colsOf(ex.columnsFiltered)], [['PATIENTS.*', 'PATIENTS.ZIP'], ['PATIENTS.ZIP']]);
  const fl = run("select f.value:code from events e, lateral flatten(input => e.payload:items) f where f.value:code = 'x'").statements[0]!;
  assert.deepEqual([fl.tablesRead.map((t) => t.name), colsOf(fl.columnsFiltered)], [['EVENTS'], ['EVENTS.PAYLOAD']]);
});

test('DELETE and MERGE, which node-sql-parser cannot parse, are understood', () => {
  const del = run('delete from claims c using patients p where c.patient_id = p.id and p.ssn = ?').statements[0]!;
  assert.deepEqual(
    [del.kind, del.tablesWritten.map((t) => t.name), del.tablesRead.map((t) => t.name), del.hasWhere],
    ['delete', ['CLAIMS'], ['PATIENTS'], true],
  );
  assert.ok(colsOf(del.columnsFiltered).includes('PATIENTS.SSN'));
  assert.equal(run('delete from claims').statements[0]!.hasWhere, false);
  assert.equal(run('delete from claims where id = 1 limit 5').understood, false, 'clauses DELETE does not have');
  const merge = run(
    'merge into claims t using claims s on t.id = s.id when matched and s.status = ? then update set t.amount = s.amount when not matched then insert (id, amount) values (s.id, s.amount)',
  ).statements[0]!;
  assert.deepEqual([merge.kind, merge.tablesWritten.map((t) => t.name), colsOf(merge.columnsWritten)], ['merge', ['CLAIMS'], ['CLAIMS.AMOUNT', 'CLAIMS.ID']]);
  assert.equal(run('merge into claims t using claims s on t.id = s.id when matched then drop table patients').understood, false);
});

test('unknown syntax, unknown tables and other databases are not understood (fail closed)', () => {
  for (const sql of [
    'SELEKT nothing',
    'select * from secret_table',
    'select * from otherdb.public.patients',
    '',
    '-- nothing',
    'select * from patients at(offset => -60)',
  ]) {
    assert.equal(run(sql).understood, false, sql);
  }
  assert.equal(analyse('select 1', 'postgresql', parse, catalog, 'public').understood, false, 'PostgreSQL is analysed with its own grammar');
});

test('fingerprints ignore literals and case, not structure', () => {
  assert.equal(
    run("select * from patients where id = 1 and mrn = 'MRN-1'").fingerprint,
    run("SELECT *  FROM Patients WHERE id = 42 AND mrn = 'x'").fingerprint,
  );
  assert.notEqual(run('select id from patients').fingerprint, run('select ssn from patients').fingerprint);
});

// ---- inference channels ----------------------------------------------------------------------

const one = (sql: string) => {
  const a = run(sql);
  assert.equal(a.understood, true, `${sql}: ${a.error}`);
  return a.statements[0]!;
};
/** The statement's flows as `TABLE.COLUMN channel via`. */
const flowsOf = (sql: string) => one(sql).flows.map((f) => `${f.column.table.name}.${f.column.column} ${f.channel} ${f.via}`);
const hasFlow = (sql: string, column: string, channel: string, via?: string) => {
  const fs = one(sql).flows.filter(
    (f) => `${f.column.table.name}.${f.column.column}` === column && f.channel === channel && (via === undefined || f.via === via),
  );
  assert.ok(fs.length, `${sql}: expected ${column} → ${channel}${via ? ` via ${via}` : ''}; flows: ${flowsOf(sql).join(', ')}`);
};
const noFlow = (sql: string, column: string, channel?: string) => {
  const fs = one(sql).flows.filter((f) => `${f.column.table.name}.${f.column.column}` === column && (channel === undefined || f.channel === channel));
  assert.equal(fs.length, 0, `${sql}: unexpected ${column}${channel ? ` → ${channel}` : ''}; flows: ${flowsOf(sql).join(', ')}`);
};

test('rows: LIMIT, OFFSET, TOP, SAMPLE, table and set-returning functions, GROUP BY, DISTINCT, UNION, recursive CTEs', () => {
  assert.deepEqual(flowsOf('select ssn from patients limit 5 offset 2'), [], 'literal limits carry no column');
  hasFlow('select id from patients limit $5', 'PATIENTS.SSN', 'rows', 'LIMIT');
  hasFlow('select id from patients limit 1 offset $5', 'PATIENTS.SSN', 'rows', 'OFFSET');
  hasFlow('select ssn from patients tablesample bernoulli (zip)', 'PATIENTS.ZIP', 'rows', 'SAMPLE');
  hasFlow('select f.value from events e, lateral flatten(input => e.payload:items) f', 'EVENTS.PAYLOAD', 'rows', 'flatten');
  hasFlow("select * from table(split_to_table((select max(ssn) from patients), '-'))", 'PATIENTS.SSN', 'rows', 'split_to_table');
  hasFlow('select flatten(input => payload) from events', 'EVENTS.PAYLOAD', 'rows', 'flatten');
  hasFlow('select generate_series(1, zip) from patients', 'PATIENTS.ZIP', 'rows', 'generate_series');
  hasFlow('select zip, count(*) from patients group by zip', 'PATIENTS.ZIP', 'rows', 'GROUP BY');
  hasFlow('select ssn, count(*) from patients group by 1', 'PATIENTS.SSN', 'rows', 'GROUP BY');
  hasFlow('select upper(ssn) as s, count(*) from patients group by s', 'PATIENTS.SSN', 'rows', 'GROUP BY');
  hasFlow('select zip from patients group by rollup (zip, ssn)', 'PATIENTS.SSN', 'rows', 'GROUP BY');
  hasFlow('select zip from patients group by cube (zip, ssn)', 'PATIENTS.SSN', 'rows', 'GROUP BY');
  hasFlow('select ssn from patients group by all', 'PATIENTS.SSN', 'rows', 'GROUP BY');
  hasFlow('select distinct ssn from patients', 'PATIENTS.SSN', 'rows', 'DISTINCT');
  hasFlow('select count(*) from (select distinct ssn from patients)', 'PATIENTS.SSN', 'rows', 'DISTINCT');
  hasFlow('select distinct * from (select upper(ssn) from patients)', 'PATIENTS.SSN', 'rows', 'DISTINCT');
  hasFlow('select zip from patients union select status from claims', 'PATIENTS.ZIP', 'rows', 'UNION');
  hasFlow('select zip from patients union select status from claims', 'CLAIMS.STATUS', 'rows', 'UNION');
  noFlow('select zip from patients union all select status from claims', 'PATIENTS.ZIP');
  // Left-associative: a UNION after a UNION ALL deduplicates both earlier branches; one before it, not the later one.
  hasFlow('select ssn from patients union all select status from claims union select mrn from patients', 'PATIENTS.SSN', 'rows', 'UNION');
  noFlow('select mrn from patients union select status from claims union all select ssn from patients', 'PATIENTS.SSN');
  hasFlow(
    'with r (n, s) as (select 1, ssn from patients union all select n + 1, s from r where n < 3) select n from r',
    'PATIENTS.SSN',
    'rows',
    'recursive CTE',
  );
});

test('a recursive CTE refers to itself with the lineage it produces', () => {
  const s = one('with r as (select 1 as n, ssn as s from patients union all select n + 1, s from r where length(s) < 3) select n from r');
  assert.equal(s.columnsResolved, true);
  assert.deepEqual(colsOf(s.columnsFiltered), ['PATIENTS.SSN'], 'the recursive term filters on what came from SSN');
});

test('order: ORDER BY (names, aliases, ordinals, set operations), window PARTITION BY / ORDER BY, aggregate ORDER BY', () => {
  hasFlow('select id from patients order by ssn', 'PATIENTS.SSN', 'order', 'ORDER BY');
  hasFlow('select id, ssn from patients order by 2', 'PATIENTS.SSN', 'order', 'ORDER BY');
  noFlow('select id, ssn from patients order by 1', 'PATIENTS.SSN', 'order');
  hasFlow('select id, upper(ssn) as s from patients order by s', 'PATIENTS.SSN', 'order', 'ORDER BY');
  hasFlow('select * from patients order by 5', 'PATIENTS.SSN', 'order', 'ORDER BY');
  hasFlow('select * exclude (id) from patients order by 4', 'PATIENTS.SSN', 'order', 'ORDER BY');
  hasFlow('select zip as a from patients union select status as a from claims order by 1', 'PATIENTS.ZIP', 'order', 'ORDER BY');
  hasFlow('select ssn as a from patients union all select status as a from claims order by a', 'PATIENTS.SSN', 'order', 'ORDER BY');
  hasFlow('select row_number() over (partition by ssn order by id) from patients', 'PATIENTS.SSN', 'order', 'PARTITION BY');
  hasFlow('select row_number() over (partition by zip order by ssn) from patients', 'PATIENTS.SSN', 'order', 'window ORDER BY');
  hasFlow('select sum(amount) over w from claims window w as (partition by status order by patient_id)', 'CLAIMS.PATIENT_ID', 'order', 'window ORDER BY');
  hasFlow('select id from claims qualify row_number() over (partition by status order by amount) = 1', 'CLAIMS.AMOUNT', 'order', 'window ORDER BY');
  hasFlow('select array_agg(id order by ssn) from patients', 'PATIENTS.SSN', 'order', 'aggregate ORDER BY');
  hasFlow("select listagg(id, ',' order by ssn) from patients", 'PATIENTS.SSN', 'order', 'aggregate ORDER BY');
  hasFlow('select percentile_cont(0.5) within group (order by ssn) from patients', 'PATIENTS.SSN', 'order', 'aggregate ORDER BY');
  // LISTAGG / ARRAY_AGG … WITHIN GROUP, which the grammar lacks, read as the inline ORDER BY.
  hasFlow("select listagg(id, ',') within group (order by ssn desc) from patients", 'PATIENTS.SSN', 'order', 'aggregate ORDER BY');
  hasFlow('select zip, array_agg(id) within group (order by ssn) from patients group by zip', 'PATIENTS.SSN', 'order', 'aggregate ORDER BY');
  // INTERSECT / EXCEPT / MINUS keep or drop rows by comparing them: a row-count flow, as UNION.
  for (const op of ['intersect', 'intersect all', 'except', 'minus']) hasFlow(`select '1' as p ${op} select ssn from patients`, 'PATIENTS.SSN', 'rows');
  // Infix RLIKE is the pattern operator; RLIKE(…) the function.
  hasFlow("select 'x' rlike ssn from patients", 'PATIENTS.SSN', 'error');
  hasFlow("select id from patients where rlike(ssn, '9.*') order by id", 'PATIENTS.SSN', 'error');
});

test('error: casts to non-text types, arithmetic, patterns, functions off the allowlist, conditionals', () => {
  hasFlow('select ssn::int from patients', 'PATIENTS.SSN', 'error', 'cast to int');
  hasFlow('select cast(ssn as number) from patients', 'PATIENTS.SSN', 'error', 'cast to number');
  hasFlow('select ssn::varchar::int from patients', 'PATIENTS.SSN', 'error', 'cast to int');
  hasFlow('select ssn::varchar(3) from patients', 'PATIENTS.SSN', 'error', 'cast to varchar(3)');
  hasFlow('select id from patients where ssn::int = 1', 'PATIENTS.SSN', 'error', 'cast to int');
  noFlow('select ssn::varchar, cast(ssn as string), ssn::text from patients', 'PATIENTS.SSN');
  // TRY_CAST and TRY_TO_*: no error, but a NULL that depends on the value (masking leaves NULL visible).
  hasFlow('select try_cast(ssn as int) from patients', 'PATIENTS.SSN', 'value', 'TRY_CAST');
  hasFlow("select try_to_date(substr(ssn, 1, 2), 'MM') from patients", 'PATIENTS.SSN', 'value', 'try_to_date');
  hasFlow('select to_number(ssn) from patients', 'PATIENTS.SSN', 'error', 'to_number');
  hasFlow('select to_date(dob) from patients', 'PATIENTS.DOB', 'error', 'to_date');
  hasFlow('select ssn + 1 from patients', 'PATIENTS.SSN', 'error', 'operator +');
  hasFlow('select 1 / ssn from patients', 'PATIENTS.SSN', 'error', 'operator /');
  hasFlow('select ssn % 2 from patients', 'PATIENTS.SSN', 'error', 'operator %');
  hasFlow('select -ssn from patients', 'PATIENTS.SSN', 'error', 'operator -');
  hasFlow("select dob + interval '1 day' from patients", 'PATIENTS.DOB', 'error', 'operator +');
  noFlow("select ssn || 'x', ssn = '1', ssn is null, ssn in ('a', 'b'), ssn between 'a' and 'b' from patients", 'PATIENTS.SSN', 'error');
  noFlow("select ssn || 'x', ssn = '1', ssn is null, upper(ssn) from patients", 'PATIENTS.SSN');
  hasFlow('select id from patients where zip like ssn', 'PATIENTS.SSN', 'error', 'LIKE pattern');
  hasFlow('select id from patients where zip ilike ssn', 'PATIENTS.SSN', 'error', 'ILIKE pattern');
  hasFlow('select id from patients where zip regexp ssn', 'PATIENTS.SSN', 'error', 'REGEXP pattern');
  hasFlow('select id from patients where zip like any (ssn, mrn)', 'PATIENTS.SSN', 'error', 'LIKE pattern');
  noFlow("select id from patients where ssn like '1%'", 'PATIENTS.SSN', 'error');
  hasFlow('select regexp_like(zip, ssn) from patients', 'PATIENTS.SSN', 'error', 'regexp_like');
  hasFlow('select sum(amount) from claims', 'CLAIMS.AMOUNT', 'error', 'sum');
  hasFlow('select dateadd(day, zip, dob) from patients', 'PATIENTS.ZIP', 'error', 'dateadd');
  hasFlow('select extract(year from dob) from patients', 'PATIENTS.DOB', 'error', 'extract');
  hasFlow('select ntile(zip) over (order by id) from patients', 'PATIENTS.ZIP', 'error', 'ntile');
  noFlow(
    "select upper(ssn), length(ssn), md5(ssn), concat(ssn, 'x'), count(ssn), max(ssn), hash(ssn), object_construct('s', ssn) from patients",
    'PATIENTS.SSN',
  );
  noFlow("select to_varchar(ssn), coalesce(ssn, 'x'), nvl(ssn, 'x'), row_number() over (order by id) from patients", 'PATIENTS.SSN', 'error');
  // Functions whose first argument is safe: the others can raise.
  hasFlow('select substr(ssn, zip) from patients', 'PATIENTS.ZIP', 'error', 'substr');
  noFlow('select substr(ssn, 1, 3) from patients', 'PATIENTS.SSN', 'error');
  hasFlow('select lag(ssn, zip) over (order by id) from patients', 'PATIENTS.ZIP', 'error', 'lag');
  noFlow('select lag(ssn) over (order by id) from patients', 'PATIENTS.SSN', 'error');
  hasFlow('select to_varchar(dob, zip) from patients', 'PATIENTS.ZIP', 'error', 'to_varchar');
  // Conditionals: the condition reaches the error channel when a branch can raise.
  hasFlow('select case when ssn = ? then 1/0 else 0 end from patients', 'PATIENTS.SSN', 'error', 'CASE');
  hasFlow('select case zip when ssn then 1/0 end from patients', 'PATIENTS.ZIP', 'error', 'CASE');
  hasFlow('select case zip when ssn then 1/0 end from patients', 'PATIENTS.SSN', 'error', 'CASE');
  hasFlow("select iff(ssn like '1%', id::int, 0) from patients", 'PATIENTS.SSN', 'error', 'IFF');
  hasFlow('select coalesce(ssn, zip::int) from patients', 'PATIENTS.SSN', 'error', 'COALESCE');
  hasFlow('select nvl(ssn, to_number(zip)) from patients', 'PATIENTS.SSN', 'error', 'NVL');
  hasFlow('select nvl2(ssn, 1/0, 0) from patients', 'PATIENTS.SSN', 'error', 'NVL2');
  hasFlow('select ifnull(ssn, 1/0) from patients', 'PATIENTS.SSN', 'error', 'IFNULL');
  hasFlow("select decode(ssn, '1', 1/0, 0) from patients", 'PATIENTS.SSN', 'error', 'DECODE');
  hasFlow("select iff(ssn = '1', (select max(id) from claims), 0) from patients", 'PATIENTS.SSN', 'error', 'IFF');
  noFlow("select case when ssn = '1' then 'a' else upper(zip) end, iff(ssn = '1', 1, 0), coalesce(ssn, 'x') from patients", 'PATIENTS.SSN', 'error');
  // AND/OR: either operand may be evaluated first; when one can raise, both reach the error channel.
  hasFlow('select id from patients where ssn = ? or zip::int = 1', 'PATIENTS.SSN', 'error', 'OR');
  hasFlow('select id from patients where zip::int = 1 and ssn = ?', 'PATIENTS.SSN', 'error', 'AND');
  noFlow('select id from patients where zip = ? and ssn = ?', 'PATIENTS.SSN');
});

test('delay: sleeps, and conditions choosing a sleep or a subquery', () => {
  hasFlow('select system$wait(zip) from patients', 'PATIENTS.ZIP', 'delay', 'system$wait');
  hasFlow("select case when ssn = '1' then system$wait(5) end from patients", 'PATIENTS.SSN', 'delay', 'CASE');
  hasFlow("select iff(ssn = '1', (select count(*) from claims), 0) from patients", 'PATIENTS.SSN', 'delay', 'IFF');
  noFlow("select iff(ssn = '1', 1, 0) from patients", 'PATIENTS.SSN', 'delay');
  // A regular expression can backtrack: how long matching takes depends on the value.
  hasFlow("select id from patients where ssn regexp '(a+)+b'", 'PATIENTS.SSN', 'delay', 'regular expression REGEXP');
  noFlow("select id from patients where ssn like '1%'", 'PATIENTS.SSN', 'delay');
});

test('value: conditions that decide whether a result is NULL (CASE, IFF, DECODE, NULLIF, IN, AND/OR, BETWEEN) outside predicates', () => {
  hasFlow("select case when ssn like '1%' then 'x' end from patients", 'PATIENTS.SSN', 'value', 'CASE');
  hasFlow("select case ssn when '1' then 'x' end from patients", 'PATIENTS.SSN', 'value', 'CASE');
  hasFlow("select iff(ssn = '1', 'x', null) from patients", 'PATIENTS.SSN', 'value', 'IFF');
  hasFlow("select decode(ssn, '1', 'x') from patients", 'PATIENTS.SSN', 'value', 'DECODE');
  hasFlow("select nullif(ssn, '1') from patients", 'PATIENTS.SSN', 'value', 'NULLIF');
  hasFlow("select ssn in ('1', null) from patients", 'PATIENTS.SSN', 'value', 'IN');
  hasFlow("select ssn not in ('1', null) from patients", 'PATIENTS.SSN', 'value', 'IN');
  hasFlow("select ssn = '1' or null from patients", 'PATIENTS.SSN', 'value', 'OR');
  hasFlow("select ssn between '1' and null from patients", 'PATIENTS.SSN', 'value', 'BETWEEN');
  hasFlow("select ssn like any ('1%', null) from patients", 'PATIENTS.SSN', 'value', 'ANY/ALL');
  // NULL-ness alone is no more than the masked column shows.
  noFlow("select coalesce(ssn, 'x'), nvl2(ssn, 'a', 'b'), ifnull(ssn, 'x') from patients", 'PATIENTS.SSN', 'value');
  // In a predicate the condition is a filter, not a value.
  noFlow("select id from patients where case when ssn like '1%' then true end and ssn in ('1', '2')", 'PATIENTS.SSN', 'value');
});

test('value: INSERT, UPDATE, MERGE, CREATE … AS, COPY INTO a location, SET, side effects', () => {
  hasFlow('insert into claims (id, status) select id, ssn from patients', 'PATIENTS.SSN', 'value', 'INSERT');
  hasFlow('insert into claims (id, status) values (1, (select max(ssn) from patients))', 'PATIENTS.SSN', 'value', 'INSERT');
  hasFlow('update claims set status = p.ssn from patients p where p.id = claims.patient_id', 'PATIENTS.SSN', 'value', 'UPDATE');
  noFlow('update claims set status = p.ssn from patients p where p.id = claims.patient_id', 'CLAIMS.PATIENT_ID', 'value');
  hasFlow(
    'merge into claims t using patients s on t.patient_id = s.id when matched then update set t.status = s.ssn when not matched then insert (id, status) values (s.id, s.mrn)',
    'PATIENTS.SSN',
    'value',
    'MERGE',
  );
  hasFlow('create table x as select ssn from patients', 'PATIENTS.SSN', 'value', 'CREATE TABLE');
  hasFlow('copy into @stage from (select ssn from patients)', 'PATIENTS.SSN', 'value', 'COPY');
  hasFlow('copy into @stage from patients', 'PATIENTS.SSN', 'value', 'COPY');
  hasFlow('set v = (select max(ssn) from patients)', 'PATIENTS.SSN', 'value', 'SET');
  hasFlow('select system$set_return_value(ssn) from patients', 'PATIENTS.SSN', 'value', 'system$set_return_value');
  hasFlow("select system$log('info', ssn) from patients", 'PATIENTS.SSN', 'value', 'system$log');
});

test('flows follow derived columns to their base columns; predicates stay predicates', () => {
  hasFlow('select x from (select ssn as x from patients) order by x', 'PATIENTS.SSN', 'order', 'ORDER BY');
  hasFlow('with t as (select ssn as x from patients) select x::int from t', 'PATIENTS.SSN', 'error', 'cast to int');
  hasFlow('select t.c from (select * from patients) t(a, b, c) order by 1', 'PATIENTS.FIRST_NAME', 'order', 'ORDER BY');
  const s = one("select id from patients where ssn = '1' having count(*) > 0 qualify row_number() over (order by id) = 1");
  assert.deepEqual(colsOf(s.columnsFiltered), ['PATIENTS.ID', 'PATIENTS.SSN']);
  noFlow("select id from patients where ssn = '1'", 'PATIENTS.SSN');
  assert.equal(run('select ssn from patients start with id = 1 connect by prior id = zip').understood, false, 'CONNECT BY is not understood');
  assert.equal(run('select ssn from patients fetch first 3 rows only').understood, false);
});

test('indirect column forms resolve to every column they may stand for', () => {
  // COLUMNS(…) (DuckDB, which the local warehouse runs on): anywhere, alone or inside a function.
  for (const sql of [
    "select id, columns('S.N') from patients",
    "select max(columns('S.N')) from patients",
    "select columns('S.N') || 'x' from patients",
    "select columns(c -> c like '%S%') from patients",
    'select columns(*) from patients',
    "select id from patients order by columns('S.N')",
    "select id from patients where columns('S.N') like '1%'",
    "select p.columns('S.N') from patients p",
  ]) {
    // A superset (every column, as the whole row) is still resolved: policy sees every column it may read.
    const s = one(sql);
    // (A lambda's parameter is a name no table has: that statement stays unresolved.)
    assert.equal(s.columnsResolved, !sql.includes('->'), sql);
    assert.ok(colsOf(s.columnsRead).includes('PATIENTS.*'), sql);
  }
  assert.ok(colsOf(one("select id from patients where columns('S.N') like '1%'").columnsFiltered).includes('PATIENTS.*'));
  assert.ok(colsOf(one("select id from patients where $5 like '1%'").columnsFiltered).includes('PATIENTS.*'));
  hasFlow("select id from patients order by columns('S.N')", 'PATIENTS.SSN', 'order', 'ORDER BY');
  // An expansion inside a derived relation: any column name of it may carry any expanded column.
  hasFlow("select distinct t.ssn from (select columns('S.N') from patients) t", 'PATIENTS.SSN', 'rows', 'DISTINCT');
  hasFlow("select * from (select id, columns('S.N') from patients) order by 2", 'PATIENTS.SSN', 'order', 'ORDER BY');
  hasFlow("select x from (select id as x from patients union all select columns('S.N') from patients) order by x", 'PATIENTS.SSN', 'order', 'ORDER BY');
  // `*` as a function argument reads every column; COUNT(*) reads none.
  hasFlow('select o from (select object_construct(*) as o from patients) order by o', 'PATIENTS.SSN', 'order', 'ORDER BY');
  hasFlow('select hash(*) from patients order by 1', 'PATIENTS.SSN', 'order', 'ORDER BY');
  hasFlow('select array_construct(p.*) from patients p order by 1', 'PATIENTS.SSN', 'order', 'ORDER BY');
  hasFlow("select hash(* ilike 'S%') from patients order by 1", 'PATIENTS.SSN', 'order', 'ORDER BY');
  assert.deepEqual(colsOf(one('select count(*) from patients').columnsRead), []);
  // Stars through derived relations; whole-row references (DuckDB answers them with every column).
  hasFlow('select t.* from (select * from patients) t order by 5', 'PATIENTS.SSN', 'order', 'ORDER BY');
  hasFlow('select p from patients p order by 1', 'PATIENTS.SSN', 'order', 'ORDER BY');
  assert.ok(colsOf(one('select (p).ssn from patients p').columnsRead).includes('PATIENTS.*'));
  hasFlow('select f.x from patients p, lateral (select p.ssn as x) f order by 1', 'PATIENTS.SSN', 'order', 'ORDER BY');
  // Positional $n and IDENTIFIER().
  const pos = one('select $5 from patients');
  assert.deepEqual([pos.columnsResolved, colsOf(pos.columnsRead)], [true, ['PATIENTS.*']]);
  hasFlow('select id from patients order by $5', 'PATIENTS.SSN', 'order', 'ORDER BY');
  hasFlow("select id from patients order by identifier('ssn')", 'PATIENTS.SSN', 'order', 'ORDER BY');
  hasFlow("select identifier('p.ssn')::int from patients p", 'PATIENTS.SSN', 'error', 'cast to int');
  // JSON paths and indexes read their column.
  hasFlow('select payload:a.b::int from events', 'EVENTS.PAYLOAD', 'error', 'cast to int');
});

test('* EXCLUDE keeps its exact semantics; the star modifiers the parser cannot read are not understood', () => {
  hasFlow('select * exclude (id) from patients order by 4', 'PATIENTS.SSN', 'order');
  noFlow('select * exclude (id) from patients order by 4', 'PATIENTS.DOB');
  // Unqualified, EXCLUDE leaves every relation; qualified, only its own.
  hasFlow('select distinct * exclude (c.id) from patients p join claims c on c.patient_id = p.id', 'PATIENTS.ID', 'rows', 'DISTINCT');
  noFlow('select distinct * exclude (c.id) from patients p join claims c on c.patient_id = p.id', 'CLAIMS.ID', 'rows');
  noFlow('select distinct * exclude (id) from patients p join claims c on c.patient_id = p.id', 'PATIENTS.ID', 'rows');
  hasFlow('select distinct t.* exclude id from (select * from patients) t', 'PATIENTS.SSN', 'rows', 'DISTINCT');
  assert.ok(colsOf(one('select * exclude (ssn) from patients').columnsRead).includes('PATIENTS.*'), 'the star still reads the table');
  // `* ILIKE 'pattern'` is read as every column (a superset).
  assert.ok(colsOf(one("select * ilike '%S%' from patients").columnsRead).includes('PATIENTS.*'));
  hasFlow("select distinct * ilike '%S%' from patients", 'PATIENTS.SSN', 'rows', 'DISTINCT');
  for (const sql of [
    "select * like '%S%' from patients",
    'select * rename (ssn as x) from patients',
    'select * replace (id as ssn) from patients',
    'select * exclude (id) rename (ssn as x) from patients',
    'select object_construct(* exclude (id)) from patients',
    'select * exclude (x.id) from patients',
  ]) {
    assert.equal(run(sql).understood, false, sql);
  }
});

test('numberedBinds: each ? bind becomes :n, the rest of the text is left as it was', () => {
  assert.equal(
    numberedBinds('SELECT ID, "Ssn" FROM PATIENTS WHERE ID = ? AND ZIP IN (?, ?)'),
    'SELECT ID, "Ssn" FROM PATIENTS WHERE ID = :1 AND ZIP IN (:2, :3)',
  );
  assert.equal(numberedBinds("SELECT '?' FROM T WHERE A = ?"), "SELECT '?' FROM T WHERE A = :1", 'a ? inside a literal is not a bind');
  assert.equal(numberedBinds('SELECT 1'), 'SELECT 1');
});

test('withCurrentUser: CURRENT_USER() and CURRENT_USER answer the caller, quoted; a column or literal of that name is left alone', () => {
  assert.equal(withCurrentUser('SELECT CURRENT_USER(), current_user, CURRENT_ROLE()', "o'brien"), "SELECT 'o''brien', 'o''brien', CURRENT_ROLE()");
  assert.equal(withCurrentUser("SELECT t.current_user, 'current_user' FROM t", 'etl'), "SELECT t.current_user, 'current_user' FROM t");
});
