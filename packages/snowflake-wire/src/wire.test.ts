import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  chunkBody,
  chunkSlices,
  decodeBody,
  dmlCounters,
  inProgress,
  isChunked,
  LOGIN,
  loginData,
  loginRefusal,
  monitoringData,
  resultData,
  STATEMENT_TYPE,
  sessionTokenOf,
  sqlError,
  statementTypeId,
  textColumn,
} from './index.js';

test('statement errors carry the code twice and the SQLSTATE, as every driver reads them', () => {
  const e = sqlError('003001', '42501', 'SQL access control error:\nno', { queryId: 'q1' });
  assert.deepEqual(e, {
    success: false,
    code: '003001',
    message: 'SQL access control error:\nno',
    data: { errorCode: '003001', sqlState: '42501', internalError: false, age: 0, line: -1, pos: -1, queryId: 'q1' },
    headers: null,
  });
  assert.deepEqual(loginRefusal(LOGIN.OAUTH_TOKEN_EXPIRED, 'expired').data, { nextAction: 'RETRY_LOGIN' });
});

test('in-progress answers point the driver at the result URL', () => {
  assert.equal(inProgress('q', false).code, '333333');
  assert.equal(inProgress('q', true).code, '333334');
  assert.deepEqual((inProgress('q', false).data as { getResultUrl: string }).getResultUrl, '/queries/q/result');
});

test('session tokens are read from the Snowflake authorization header only', () => {
  assert.equal(sessionTokenOf('Snowflake Token="ST-abcdefghijklmnop"'), 'ST-abcdefghijklmnop');
  assert.equal(sessionTokenOf('Bearer ST-abcdefghijklmnop'), undefined);
  assert.equal(sessionTokenOf('Snowflake Token="short"'), undefined);
  assert.equal(sessionTokenOf(undefined), undefined);
});

test('request bodies: gzip or plain JSON objects; anything else throws', () => {
  const body = Buffer.from('{"sqlText":"SELECT 1"}');
  assert.deepEqual(decodeBody(body, 1024), { sqlText: 'SELECT 1' });
  assert.deepEqual(decodeBody(gzipSync(body), 1024), { sqlText: 'SELECT 1' });
  assert.deepEqual(decodeBody(Buffer.alloc(0), 1024), {});
  assert.throws(() => decodeBody(Buffer.from('[1]'), 1024));
  assert.throws(() => decodeBody(gzipSync(Buffer.alloc(4096, 32)), 1024), 'a body past the limit after gunzip');
});

test('statement type ids and DML counters', () => {
  assert.equal(statementTypeId('select'), STATEMENT_TYPE.SELECT);
  assert.equal(statementTypeId('DROP'), STATEMENT_TYPE.DDL);
  assert.deepEqual(dmlCounters('UPDATE', 3)?.row, ['3', '0']);
  assert.deepEqual(dmlCounters('merge', 2n)?.row, ['0', '2', '0']);
  assert.equal(dmlCounters('SELECT', 1), undefined);
});

test('login and result data carry what the drivers read', () => {
  const session = { databaseName: 'CLINICAL', schemaName: 'PUBLIC', warehouseName: 'WH', roleName: 'R' };
  const login = loginData({
    token: 't',
    masterToken: 'm',
    validityInSeconds: 1,
    masterValidityInSeconds: 2,
    sessionId: 3,
    displayUserName: 'U',
    sessionInfo: session,
  });
  assert.equal(login.sessionInfo, session);
  assert.ok((login.parameters as Array<{ name: string }>).some((p) => p.name === 'PYTHON_CONNECTOR_QUERY_RESULT_FORMAT'));
  const data = resultData({ queryId: 'q', columns: [textColumn('S')], rowset: [['a']], total: 1, statementTypeId: 0x1000, session, arrayBindSupported: false });
  assert.deepEqual((data.rowtype as Array<{ name: string; database: string }>)[0], {
    ...textColumn('S'),
    database: '',
    schema: '',
    table: '',
    collation: null,
  });
  assert.equal(data.finalRoleName, 'R');
  assert.equal(data.returned, 1);
});

test('chunks: the rows after the inline part, bracket-less and gzip’d', () => {
  assert.equal(isChunked(STATEMENT_TYPE.SELECT, 11, 5), true);
  assert.equal(isChunked(STATEMENT_TYPE.INSERT, 11, 5), false);
  assert.deepEqual(chunkSlices(11, 5), [
    { index: 0, start: 5, rowCount: 5 },
    { index: 1, start: 10, rowCount: 1 },
  ]);
  const c = chunkBody([
    ['1', null],
    ['2', 'x'],
  ]);
  assert.equal(gunzipSync(c.body).toString(), '["1",null],["2","x"]');
  assert.equal(c.compressedSize, c.body.length);
});

test('monitoring reports a held statement as queued but running', () => {
  const m = monitoringData({ id: 'q', status: 'QUEUED', startTime: 10, endTime: 0, sessionId: 1 }, 15);
  assert.equal(m.queries[0]?.state, 'RUNNING');
  assert.equal(m.queries[0]?.totalDuration, 5);
  assert.deepEqual(monitoringData(undefined, 0), { queries: [] });
});
