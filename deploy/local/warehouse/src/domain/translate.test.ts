// Translation as it concerns errors: every divisor is checked (Snowflake raises on division by zero),
// DIV0/DIV0NULL exist, and each piece of the DuckDB text maps back to where the client wrote it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIVISOR, translate, translateMapped } from './translate.js';

const ctx = { database: 'CLINICAL', schema: 'PUBLIC', role: 'R', user: 'U', warehouse: 'W' };
const tr = (sql: string) => translate(sql, ctx);
const d = (x: string) => `${DIVISOR}(${x})`;

test('the operand to the right of every division goes through the divisor check, whatever its form', () => {
  assert.equal(tr('SELECT 1/0'), `SELECT 1/${d('0')}`);
  assert.equal(tr('SELECT a / b * c, a / -b::INT FROM t'), `SELECT a / ${d('b')} * c, a / ${d('-b::DECIMAL(38,0)')} FROM t`);
  assert.equal(tr('SELECT x / (y + 1), x / t.col[1], 2 / ?, 2 / :1'), `SELECT x / ${d('(y + 1)')}, x / ${d('t.col[1]')}, 2 / ${d('?')}, 2 / ${d('$1')}`);
  assert.equal(tr('SELECT x / CASE WHEN a THEN 1 ELSE CASE WHEN b THEN 2 END END'), `SELECT x / ${d('CASE WHEN a THEN 1 ELSE CASE WHEN b THEN 2 END END')}`);
  assert.equal(tr('SELECT COUNT(*) / SUM(x) OVER (PARTITION BY y)'), `SELECT COUNT(*) / ${d('SUM(x) OVER(PARTITION BY y)')}`);
  assert.equal(tr('SELECT a / TO_NUMBER(b)'), `SELECT a / ${d('CAST(b AS DECIMAL(38,0))')}`);
  // Not a division: a stage path, a comment.
  assert.equal(tr('LIST @stage/path'), 'LIST @stage/path');
  assert.equal(tr('SELECT 1 /* a / b */'), 'SELECT 1 /* a / b */');
});

test('a // line comment goes over as --: DuckDB reads // as integer division', () => {
  assert.equal(tr('SELECT 1 // one\nFROM t'), 'SELECT 1 -- one\nFROM t');
});

test('DIV0 and DIV0NULL answer 0 for a zero divisor (DIV0NULL also for NULL) and NULL for a NULL dividend', () => {
  assert.equal(tr('SELECT DIV0(a, b)'), 'SELECT (CASE WHEN (a) IS NULL THEN NULL WHEN (b) = 0 THEN 0 ELSE (a) / (b) END)');
  assert.equal(tr('SELECT DIV0NULL(a, b)'), 'SELECT (CASE WHEN (a) IS NULL THEN NULL WHEN (b) = 0 OR (b) IS NULL THEN 0 ELSE (a) / (b) END)');
});

test('each offset of the DuckDB text maps to the offset of the client’s text it came from', () => {
  const sql = 'SELECT CAST(x AS INT),  nope FROM t WHERE a = :1 AND b / c > 0;  ';
  const m = translateMapped(sql, ctx);
  assert.equal(m.text, `SELECT CAST(x AS DECIMAL(38,0)),  nope FROM t WHERE a = $1 AND b / ${d('c')} > 0`);
  const back = (piece: string, nth = 0) => {
    let at = -1;
    for (let i = 0; i <= nth; i++) at = m.text.indexOf(piece, at + 1);
    return m.source(at);
  };
  assert.equal(back('nope'), sql.indexOf('nope'));
  assert.equal(back('$1'), sql.indexOf(':1'));
  assert.equal(back('c'), sql.indexOf('c >'));
  assert.equal(back('DECIMAL'), sql.indexOf('INT'));
  assert.equal(back('x'), sql.indexOf('x'));
  assert.equal(m.source(m.text.length), -1, 'past the end');
  // A rewritten call keeps its arguments' places; the rest of it maps to the call.
  const r = translateMapped('SELECT NVL(aa, bb)', ctx);
  assert.equal(r.text, 'SELECT coalesce(aa,bb)');
  assert.equal(r.source(r.text.indexOf('bb')), 'SELECT NVL(aa, '.length);
  assert.equal(r.source(r.text.indexOf('coalesce')), 'SELECT '.length);
});
