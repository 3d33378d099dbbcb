import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '@phigate/errors';
import { bindStatement } from './binds.js';

test('typed binds become upstream parameters; temporal values as ISO text', () => {
  const { params } = bindStatement('SELECT ?', {
    1: { type: 'TEXT', value: 'a' },
    2: { type: 'FIXED', value: '42' },
    3: { type: 'FIXED', value: '1.25' },
    4: { type: 'BOOLEAN', value: 'true' },
    5: { type: 'DATE', value: '1672531200000' },
    6: { type: 'TIMESTAMP_NTZ', value: '1672628645123000000' },
    7: { type: 'TIME', value: '3723000000000' },
    8: { type: 'FIXED', value: null },
  });
  assert.deepEqual(params, ['a', 42, '1.25', true, '2023-01-01', '2023-01-02 03:04:05.123000', '01:02:03.000000', null]);
});

test('array binds: one multi-row INSERT, and refused for anything else', () => {
  const bindings = { 1: { type: 'TEXT', value: ['r', 'r'] }, 2: { type: 'FIXED', value: ['2', '3'] } };
  assert.deepEqual(bindStatement('INSERT INTO T (A, B) VALUES (?, ?)', bindings), {
    sql: 'INSERT INTO T (A, B) VALUES (?, ?), (?, ?)',
    params: ['r', 2, 'r', 3],
  });
  for (const sql of ['UPDATE T SET A = ? WHERE B = ?', 'INSERT INTO T (A, B) VALUES (?, 1)', 'INSERT INTO T (A, B) VALUES (?, ?); DROP TABLE T'])
    assert.throws(
      () => bindStatement(sql, bindings),
      (e: unknown) => isAppError(e) && e.code === 'GATEWAY_SF_BIND_UNSUPPORTED',
    );
  assert.throws(
    () => bindStatement('SELECT ?', { 1: { type: 'FIXED', value: 'x' } }),
    (e: unknown) => isAppError(e) && e.code === 'GATEWAY_SF_BIND_UNSUPPORTED' && !e.message.includes("'x'"),
  );
});
