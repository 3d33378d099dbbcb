// Translation as it concerns errors: DIV0/DIV0NULL exist, and each piece of the DuckDB text maps back
// to where the client wrote it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { translate, translateMapped } from './translate.js';

const ctx = { database: 'CLINICAL', schema: 'PUBLIC', role: 'R', user: 'U', warehouse: 'W' };
const tr = (sql: string) => translate(sql, ctx);

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
  assert.equal(m.text, 'SELECT CAST(x AS DECIMAL(38,0)),  nope FROM t WHERE a = $1 AND b / c > 0');
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
