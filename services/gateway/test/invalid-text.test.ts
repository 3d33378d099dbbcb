// phigate-test: stack
// Text that cannot be stored or read back as text (a NUL, a lone UTF-16 surrogate) is refused at
// every door with a clear client error, before anything is recorded: one request must not be able
// to put an event on the audit trail that the store cannot keep (issue 17).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { demoToken, need } from '@phigate/testkit';
import pg from 'pg';
import { sfConnect, sfDestroy } from './fixtures/snowflake/connect.js';

test('HTTP: a NUL or a lone surrogate in the statement or a parameter is a 400 naming where, not a 503', async () => {
  const token = await demoToken('etl-pipeline');
  // Raw JSON: the escapes reach the server as written.
  for (const [body, where] of [
    ['{"connection":"clinical-pg","sql":"SELECT 1\\u0000"}', 'statement'],
    ['{"connection":"clinical-pg","sql":"SELECT \'\\ud800\'"}', 'statement'],
    ['{"connection":"clinical-pg","sql":"SELECT id FROM patients WHERE mrn = $1","params":["a\\udc00"]}', 'parameter 1'],
  ]) {
    const res = await fetch(`${need('GATEWAY_URL')}/v1/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    });
    const json = (await res.json()) as { code: string; where?: string };
    assert.equal(res.status, 400, body);
    assert.equal(json.code, 'GATEWAY_SQL_INVALID_TEXT');
    assert.equal(json.where, where);
  }
});

test('PostgreSQL door: a NUL in a parameter is 22021, and the session goes on', async (t) => {
  const [host, port] = need('GATEWAY_PG_ADDR').split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'etl-pipeline', database: 'clinical-pg', password: await demoToken('etl-pipeline') });
  await c.connect();
  t.after(() => c.end());
  const e = (await c.query('SELECT id FROM patients WHERE mrn = $1', ['a\u0000b']).catch((x) => x)) as pg.DatabaseError;
  assert.equal(e.code, '22021');
  assert.match(String(e.hint), /GATEWAY_SQL_INVALID_TEXT/);
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
});

test('Snowflake door: a lone surrogate in a bind is refused with a clear message', async (t) => {
  const conn = await sfConnect({ gatewayUrl: need('GATEWAY_URL'), token: await demoToken('etl-pipeline') });
  t.after(() => sfDestroy(conn));
  const err = await new Promise<Error>((resolve) =>
    conn.execute({
      sqlText: 'SELECT ID FROM PATIENTS WHERE MRN = ?',
      binds: ['a\ud800'],
      complete: (e) => resolve(e ?? new Error('no error')),
    }),
  );
  assert.match(err.message, /NUL character or text that is not valid Unicode/);
});
