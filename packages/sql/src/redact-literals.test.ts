import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REST_REDACTED, redactSqlLiterals } from './redact-literals.js';

const cases: Array<[string, string]> = [
  ["SELECT ssn FROM patients WHERE ssn = '123-45-6789'", 'SELECT ssn FROM patients WHERE ssn = ?'],
  ['SELECT * FROM claims WHERE amount > 1500.25 AND id IN (1, 2, 3)', 'SELECT * FROM claims WHERE amount > ? AND id IN (?, ?, ?)'],
  ["SELECT 'O''Brien', 1e-3, .5, 0x1F", 'SELECT ?, ?, ?, ?'],
  ['SELECT t1.c2, "Weird ""Name"" 42" FROM s3.t1', 'SELECT t1.c2, "Weird ""Name"" 42" FROM s3.t1'],
  ['SELECT * FROM t WHERE a = $1 AND b = $2', 'SELECT * FROM t WHERE a = $1 AND b = $2'],
  ["SELECT $$Jane Doe$$, $tag$it's $$ 555-1234$tag$", 'SELECT ?, ?'],
  ["SELECT E'it\\'s 555-12-3456', N'Jane', X'DEADBEEF', B'0101'", 'SELECT ?, ?, ?, ?'],
  ['SELECT a -- patient Jane Doe, MRN 12345\nFROM t', 'SELECT a  \nFROM t'],
  ['SELECT /* Jane /* nested 99 */ Doe */ a FROM t', 'SELECT   a FROM t'],
  ['SELECT `my col` FROM t WHERE x = 7', 'SELECT `my col` FROM t WHERE x = ?'],
  ['SELECT 123abc', 'SELECT ?'],
  ['SELECT a::int, b[1] FROM t', 'SELECT a::int, b[?] FROM t'],
  ['SELECT naïve_col, 名前 FROM t WHERE v = 12', 'SELECT naïve_col, 名前 FROM t WHERE v = ?'],
];

test('literals become ? and everything else stays', () => {
  for (const [sql, want] of cases) assert.equal(redactSqlLiterals(sql), want, sql);
});

test('redacting twice changes nothing', () => {
  for (const [sql] of cases) {
    const once = redactSqlLiterals(sql);
    assert.equal(redactSqlLiterals(once), once, sql);
  }
});

test('a backslash that PostgreSQL and Snowflake read differently hides the rest of the statement', () => {
  // PostgreSQL: two strings 'C:\' and '123-45-6789'. Snowflake: one string, then an SSN outside it.
  const sql = "SELECT * FROM t WHERE path = 'C:\\' OR ssn = '123-45-6789'";
  const out = redactSqlLiterals(sql);
  assert.equal(out, `SELECT * FROM t WHERE path = ?${REST_REDACTED}`);
  assert.doesNotMatch(out, /123/);
});

test('an unterminated string, dollar quote or quoted identifier hides the rest', () => {
  assert.equal(redactSqlLiterals("SELECT 'Jane Doe"), `SELECT ?${REST_REDACTED}`);
  assert.equal(redactSqlLiterals('SELECT $x$Jane Doe'), `SELECT ?${REST_REDACTED}`);
  assert.equal(redactSqlLiterals("SELECT \"abc FROM t WHERE x = 'Jane'"), `SELECT ?${REST_REDACTED}`);
  assert.equal(redactSqlLiterals('SELECT a /* Jane'), 'SELECT a');
});

test('no digit or quoted text survives in a statement full of PHI-shaped values', () => {
  const sql = `SELECT p.name, p.ssn FROM patients p WHERE p.ssn = '078-05-1120' OR p.mrn = 4455667 OR p.dob = DATE '1961-07-04' OR p.phone LIKE '%555-0100%' OR p.zip = 02139`;
  const out = redactSqlLiterals(sql);
  assert.doesNotMatch(out, /[0-9]/);
  assert.doesNotMatch(out, /'/);
  assert.equal(out, 'SELECT p.name, p.ssn FROM patients p WHERE p.ssn = ? OR p.mrn = ? OR p.dob = DATE ? OR p.phone LIKE ? OR p.zip = ?');
});
