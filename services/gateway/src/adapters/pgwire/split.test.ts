import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { loadModule } from 'libpg-query';
import { classifyStatement, splitStatements } from './split.js';

before(() => loadModule());

test('a query string splits into its statements with byte-exact boundaries', () => {
  const s = splitStatements("SELECT 'é;x' AS a;  BEGIN ISOLATION LEVEL SERIALIZABLE; copy patients to '/tmp/x'; COMMIT; select 2 -- done");
  assert.deepEqual(
    s.map((x) => [x.sql, x.control ?? null, x.copy ?? false]),
    [
      ["SELECT 'é;x' AS a", null, false],
      ['BEGIN ISOLATION LEVEL SERIALIZABLE', 'begin', false],
      ["copy patients to '/tmp/x'", null, true],
      ['COMMIT', 'commit', false],
      ['select 2 -- done', null, false],
    ],
  );
});

test('empty input, unparseable input and transaction control', () => {
  assert.deepEqual(splitStatements(' ;; -- nothing\n'), []);
  assert.deepEqual(splitStatements('selec 1; drop table x'), [{ sql: 'selec 1; drop table x' }], 'not understood: one statement, policy refuses it');
  assert.equal(splitStatements('rollback to savepoint a')[0]?.control, 'rollback_to');
  assert.equal(splitStatements('commit and chain')[0]?.control, 'two_phase');
  assert.equal(splitStatements("prepare transaction 'x'")[0]?.control, 'two_phase');
  assert.deepEqual(classifyStatement(''), { empty: true, multiple: false });
  assert.equal(classifyStatement('select 1; select 2').multiple, true);
  assert.equal(classifyStatement('START TRANSACTION').control, 'begin');
});
