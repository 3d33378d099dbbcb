// The one mapping from the analyser's and DuckDB's errors to Snowflake's: code, SQLSTATE and message,
// placed in the client's text. The DuckDB messages are DuckDB 1.5's own (errors_as_json), as the
// engine raises them for the statements shown.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BindError } from '@phigate/snowflake-wire';
import { SnowflakeError } from './protocol.js';
import { fromAnalyser, lineAndColumn, readEngineError, type Statement, syntaxError, toSnowflakeError } from './snowflake-errors.js';
import { TranslateError, translateMapped } from './translate.js';

const ctx = { database: 'CLINICAL', schema: 'PUBLIC', role: 'R', user: 'U', warehouse: 'W' };
const stmt = (sql: string): Statement => ({ sql, duck: translateMapped(sql, ctx) });
/** A DuckDB error as the engine throws it. */
const duck = (json: Record<string, string>, prefix = '') => new Error(`${prefix}${JSON.stringify(json)}`);
const view = (e: SnowflakeError) => ({ code: e.code, sqlState: e.sqlState, message: e.message });
const mapped = (e: unknown, s: Statement) => view(toSnowflakeError(e, s));

test('DuckDB error messages are read in their JSON form, with a prefix or without, and in their text form', () => {
  assert.deepEqual(readEngineError('Parser Error: {"exception_type":"Parser","exception_message":"syntax error at or near \\"SELEC\\"","position":"0"}'), {
    type: 'Parser',
    message: 'syntax error at or near "SELEC"',
    position: 0,
  });
  assert.deepEqual(
    readEngineError(
      '{"exception_type":"Catalog","exception_message":"Table with name nope does not exist!","position":"14","error_subtype":"MISSING_ENTRY","type":"Table","name":"nope"}',
    ),
    { type: 'Catalog', message: 'Table with name nope does not exist!', position: 14, subtype: 'MISSING_ENTRY', name: 'nope', entry: 'Table' },
  );
  assert.deepEqual(readEngineError("Conversion Error: Could not convert string 'x' to INT32\n\nLINE 1: SELECT 'x'::INT\n               ^"), {
    type: 'Conversion',
    message: "Could not convert string 'x' to INT32",
  });
  assert.equal(readEngineError('session closed'), undefined);
});

test('division by zero is 100051 / 22012, as Snowflake raises it for integer, decimal and float division', () => {
  const e = duck({ exception_type: 'Invalid Input', exception_message: 'Division by zero' });
  assert.deepEqual(mapped(e, stmt('SELECT 1/0')), { code: '100051', sqlState: '22012', message: 'Division by zero' });
});

test('a syntax error is 001003 / 42000 at the line and position of the unexpected token in the client’s text', () => {
  const at = (sql: string, position: string) =>
    mapped(duck({ exception_type: 'Parser', exception_message: 'syntax error', error_subtype: 'SYNTAX_ERROR', position }, 'Parser Error: '), stmt(sql));
  assert.deepEqual(at('SELEC 1', '0'), {
    code: '001003',
    sqlState: '42000',
    message: "SQL compilation error:\nsyntax error line 1 at position 0 unexpected 'SELEC'.",
  });
  assert.equal(at('SELECT 1 FROM T\nWHERE ID = = 2', '27').message, "SQL compilation error:\nsyntax error line 2 at position 11 unexpected '='.");
  // At the end of the input: <EOF> where the statement ends, a trailing semicolon and blank lines aside.
  assert.equal(at('SELECT ID FROM T WHERE;\n', '22').message, "SQL compilation error:\nsyntax error line 1 at position 22 unexpected '<EOF>'.");
  // DuckDB's offset is in the translation, where `INT` became `DECIMAL(38,0)` and `$$…$$` a quoted literal.
  const sql = 'SELECT $$a$$, 1::INT, FRM T';
  const translated = stmt(sql).duck!.text;
  assert.equal(translated, "SELECT 'a', 1::DECIMAL(38,0), FRM T");
  assert.equal(at(sql, String(translated.lastIndexOf('T'))).message, "SQL compilation error:\nsyntax error line 1 at position 26 unexpected 'T'.");
  assert.equal(at(sql, String(translated.indexOf('(38'))).message, "SQL compilation error:\nsyntax error line 1 at position 17 unexpected 'INT'.");
  assert.equal(syntaxError(sql, -1).message, "SQL compilation error:\nsyntax error line 1 at position 27 unexpected '<EOF>'.");
  // Multi-byte text before the error: DuckDB counts bytes, Snowflake characters.
  assert.equal(
    at("SELECT 'é' FRM", String(Buffer.byteLength("SELECT 'é' "))).message,
    "SQL compilation error:\nsyntax error line 1 at position 11 unexpected 'FRM'.",
  );
  // Input that cannot be read to its end.
  assert.deepEqual(mapped(new TranslateError('unterminated string literal'), { sql: "SELECT 'abc" }), {
    code: '001003',
    sqlState: '42000',
    message: "SQL compilation error:\nsyntax error line 1 at position 11 unexpected '<EOF>'.",
  });
});

test('an unknown column is 000904 / 42000 "invalid identifier", named and placed as Snowflake does; no DuckDB hints', () => {
  const e = duck({
    exception_type: 'Binder',
    exception_message: 'Referenced column "nope" not found in FROM clause!\nCandidate bindings: "SSN", "DOB"',
    candidates: 'SSN,DOB',
    position: '7',
    error_subtype: 'COLUMN_NOT_FOUND',
    name: 'nope',
  });
  assert.deepEqual(mapped(e, stmt('SELECT nope FROM PATIENTS')), {
    code: '000904',
    sqlState: '42000',
    message: "SQL compilation error: error line 1 at position 7\ninvalid identifier 'NOPE'",
  });
  const quoted = 'SELECT ID,\n  "Nope" FROM PATIENTS';
  assert.equal(
    mapped(duck({ exception_type: 'Binder', exception_message: 'x', error_subtype: 'COLUMN_NOT_FOUND', name: 'Nope', position: '13' }), stmt(quoted)).message,
    `SQL compilation error: error line 2 at position 2\ninvalid identifier '"Nope"'`,
  );
  const qualified = duck({
    exception_type: 'Binder',
    exception_message: 'Table "p" does not have a column named "nope"\n\nCandidate bindings: : "SSN"',
    position: '7',
  });
  assert.equal(
    mapped(qualified, stmt('SELECT p.nope FROM PATIENTS p')).message,
    "SQL compilation error: error line 1 at position 7\ninvalid identifier 'P.NOPE'",
  );
  // An INSERT column list: DuckDB gives no position; the name is found in the text.
  const insert = duck({ exception_type: 'Binder', exception_message: 'Table "ROWS" does not have a column with name "nope"\n\nDid you mean: "ID"' });
  assert.equal(
    mapped(insert, stmt('INSERT INTO S.ROWS (nope) VALUES (1)')).message,
    "SQL compilation error: error line 1 at position 20\ninvalid identifier 'NOPE'",
  );
});

test('an unknown table, function or argument types, and an ungrouped column, in Snowflake’s words', () => {
  const missing = (type: string, name: string, position: string) =>
    duck({ exception_type: 'Catalog', exception_message: `${type} with name ${name} does not exist!`, position, error_subtype: 'MISSING_ENTRY', type, name });
  assert.deepEqual(mapped(missing('Table', 'nope', '14'), stmt('SELECT * FROM public.nope')), {
    code: '002003',
    sqlState: '42S02',
    message: "SQL compilation error:\nObject 'PUBLIC.NOPE' does not exist or not authorized.",
  });
  assert.deepEqual(mapped(missing('Scalar Function', 'nofn', '7'), stmt('SELECT nofn(1)')), {
    code: '002140',
    sqlState: '42601',
    message: 'SQL compilation error:\nUnknown function NOFN',
  });
  const args = duck({
    exception_type: 'Binder',
    exception_message: "No function matches the given name and argument types 'upper(INTEGER_LITERAL, DECIMAL(4,1))'.",
    position: '7',
    call: 'upper(INTEGER_LITERAL, DECIMAL(4,1))',
    error_subtype: 'NO_MATCHING_FUNCTION',
    name: 'upper',
  });
  assert.deepEqual(mapped(args, stmt('SELECT upper(1, 2.5)')), {
    code: '001044',
    sqlState: '42P13',
    message: "SQL compilation error: error line 1 at position 7\nInvalid argument types for function 'UPPER': (NUMBER(38,0), NUMBER(4,1))",
  });
  const ungrouped = duck({
    exception_type: 'Binder',
    exception_message: 'column "t1.product_id" must appear in the GROUP BY clause or must be part of an aggregate function.',
    position: '7',
  });
  assert.deepEqual(mapped(ungrouped, stmt('SELECT t1.product_id, COUNT(*) FROM T t1')), {
    code: '001104',
    sqlState: '42601',
    message: "SQL compilation error: error line 1 at position 7\n'T1.PRODUCT_ID' in select clause is neither an aggregate nor in the group by clause.",
  });
  // Anything else of the compiler: DuckDB's first line only, placed, as a compilation error.
  const other = duck({ exception_type: 'Binder', exception_message: 'Ambiguous reference to column name "ID" (use: "a.ID" or "b.ID")\nmore', position: '7' });
  assert.deepEqual(mapped(other, stmt('SELECT ID FROM A a, B b')), {
    code: '001003',
    sqlState: '42000',
    message: 'SQL compilation error: error line 1 at position 7\nAmbiguous reference to column name "ID" (use: "a.ID" or "b.ID")',
  });
});

test('conversion and range errors carry Snowflake’s codes and wording (the value, as Snowflake quotes it)', () => {
  const conv = (message: string) => mapped(duck({ exception_type: 'Conversion', exception_message: message, position: '7' }), stmt('SELECT x'));
  assert.deepEqual(conv("Could not convert string 'abc' to INT32"), { code: '100038', sqlState: '22018', message: "Numeric value 'abc' is not recognized" });
  assert.deepEqual(conv('Could not convert string "a\'b" to DECIMAL(38,0)'), {
    code: '100038',
    sqlState: '22018',
    message: "Numeric value 'a'b' is not recognized",
  });
  assert.deepEqual(conv("Could not convert string 'maybe' to BOOL"), { code: '100037', sqlState: '22018', message: "Boolean value 'maybe' is not recognized" });
  assert.deepEqual(conv('date field value out of range: "2020-13-45"'), { code: '100040', sqlState: '22007', message: "Date '2020-13-45' is not recognized" });
  assert.deepEqual(conv('invalid timestamp field format: "x", expected format is (YYYY-MM-DD HH:MM:SS[.US][±HH[:MM[:SS]]| ZONE])'), {
    code: '100035',
    sqlState: '22007',
    message: "Timestamp 'x' is not recognized",
  });
  assert.deepEqual(conv('Casting value "123.456" to type DECIMAL(4,2) failed: value is out of range!'), {
    code: '100039',
    sqlState: '22003',
    message: "Numeric value '123.456' is out of range",
  });
  const overflow = duck({ exception_type: 'Out of Range', exception_message: 'Overflow in multiplication of DECIMAL(38) (9 * 10).' });
  assert.deepEqual(mapped(overflow, stmt('SELECT x')), { code: '100046', sqlState: '22003', message: 'Number out of representable range' });
  const rows = duck({
    exception_type: 'Invalid Input',
    exception_message: 'More than one row returned by a subquery used as an expression - scalar subqueries can only return a single row.',
  });
  assert.deepEqual(mapped(rows, stmt('SELECT x')), { code: '090150', sqlState: '22000', message: 'Single-row subquery returns more than one row.' });
  const notNull = duck({ exception_type: 'Constraint', exception_message: 'NOT NULL constraint failed: ROWS.ID' });
  assert.deepEqual(mapped(notNull, stmt('INSERT INTO ROWS VALUES (NULL)')), {
    code: '100072',
    sqlState: '22000',
    message: 'NULL result in a non-nullable column',
  });
  assert.deepEqual(mapped(duck({ exception_type: 'INTERRUPT', exception_message: 'Interrupted!' }), stmt('SELECT 1')), {
    code: '000604',
    sqlState: '57014',
    message: 'SQL execution canceled',
  });
});

test('the analyser’s refusals that Snowflake names itself: a missing table (as written), schema or database', () => {
  const known = { database: 'CLINICAL', hasSchema: (s: string) => s === 'PUBLIC' || s === 'SCRATCH' };
  const of = (error: string, sql: string) => {
    const e = fromAnalyser(error, sql, known);
    return e && view(e);
  };
  assert.deepEqual(of('the connection does not know the table PUBLIC.NOPE', 'SELECT * FROM nope'), {
    code: '002003',
    sqlState: '42S02',
    message: "SQL compilation error:\nObject 'NOPE' does not exist or not authorized.",
  });
  assert.equal(
    of('the connection does not know the table PUBLIC.Nope', 'SELECT nope.x FROM CLINICAL.public."Nope"')?.message,
    `SQL compilation error:\nObject 'CLINICAL.PUBLIC."Nope"' does not exist or not authorized.`,
  );
  assert.deepEqual(of('the connection does not know the table NOSCHEMA.T', 'SELECT * FROM noschema.t'), {
    code: '002003',
    sqlState: '02000',
    message: "SQL compilation error:\nSchema 'CLINICAL.NOSCHEMA' does not exist or not authorized.",
  });
  assert.deepEqual(of('a table in another database: OTHERDB.PUBLIC.T', 'SELECT * FROM otherdb.public.t'), {
    code: '002003',
    sqlState: '02000',
    message: "SQL compilation error:\nDatabase 'OTHERDB' does not exist or not authorized.",
  });
  assert.equal(of('syntax not understood: Expected …', 'SELEC 1'), undefined, 'a syntax error is the engine parser’s to place');
});

test('errors that are already Snowflake’s pass as they are; bind errors keep their code', () => {
  const own = new SnowflakeError('003001', '42501', 'SQL access control error:\nInsufficient privileges');
  assert.equal(toSnowflakeError(own), own);
  assert.deepEqual(view(toSnowflakeError(new BindError('002049', '07001', 'Bind variable 1 not set.'))), {
    code: '002049',
    sqlState: '07001',
    message: 'Bind variable 1 not set.',
  });
  assert.equal(toSnowflakeError(Object.assign(new Error('Bind variable count mismatch'), { bindMismatch: true })).code, '002049');
  assert.equal(toSnowflakeError(new Error('something else')).code, '000603');
});

test('line and position count as Snowflake counts them: lines from 1, positions from 0', () => {
  assert.deepEqual(lineAndColumn('SELECT 1', 0), { line: 1, column: 0 });
  assert.deepEqual(lineAndColumn('SELECT 1\nFROM T', 14), { line: 2, column: 5 });
});
