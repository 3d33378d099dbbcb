// phigate-test: stack
// The Snowflake door end to end on the local stack, with the official Node driver (snowflake-sdk):
// OAuth login for a phigate connection, masked rows, a policy denial as 003001 / 42501, refused
// logins with the codes the driver expects, a large result in chunks, requestId idempotency, and a
// held statement the driver simply waits for until an approver clicks in Slack.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { deliverClick, signedClick } from '@phigate/slack-sink/click';
import { demoToken, eventually, need, REPO_ROOT, requireHttp } from '@phigate/testkit';
import { CompactSign, generateKeyPair, importJWK, type JWK } from 'jose';
import snowflake from 'snowflake-sdk';
import { heldStatement } from './fixtures/snowflake/held.js';

/** The phigate connection the driver names as its account (clinical-sf: the local warehouse upstream). */
const ACCOUNT = 'clinical-sf';

snowflake.configure({ logLevel: 'OFF', disableOCSPChecks: true });

function gateway(): { host: string; port: number; url: string } {
  const url = new URL(need('GATEWAY_URL'));
  return { host: url.hostname, port: Number(url.port), url: url.origin };
}

async function connect(token: string, extra: Record<string, unknown> = {}): Promise<snowflake.Connection> {
  const g = gateway();
  const conn = snowflake.createConnection({
    account: ACCOUNT,
    host: g.host,
    port: g.port,
    protocol: 'http',
    authenticator: 'OAUTH',
    token,
    database: 'CLINICAL',
    schema: 'PUBLIC',
    ...extra,
  } as snowflake.ConnectionOptions);
  await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
  return conn;
}

function exec(conn: snowflake.Connection, sqlText: string): Promise<{ stmt: snowflake.RowStatement; rows: unknown[][] }> {
  return new Promise((resolve, reject) =>
    conn.execute({ sqlText, rowMode: 'array', complete: (err, stmt, rows) => (err ? reject(err) : resolve({ stmt, rows: (rows ?? []) as unknown[][] })) }),
  );
}

const destroy = (conn: snowflake.Connection) => new Promise<void>((r) => conn.destroy(() => r()));

/** Raw protocol calls, for what the driver hides (chunk URLs, requestId re-sends). */
async function post(path: string, body: unknown, token?: string): Promise<Record<string, any>> {
  const res = await fetch(`${gateway().url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/snowflake', ...(token ? { authorization: `Snowflake Token="${token}"` } : {}) },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  return (await res.json()) as Record<string, any>;
}

/** `purpose`: a purpose of use in the login's QUERY_TAG session parameter, as drivers send it. */
async function rawLogin(identity: string, purpose?: string): Promise<string> {
  const r = await post(`/session/v1/login-request?requestId=${randomUUID()}`, {
    data: {
      ACCOUNT_NAME: ACCOUNT,
      AUTHENTICATOR: 'OAUTH',
      TOKEN: await demoToken(identity),
      CLIENT_APP_ID: 'test',
      SESSION_PARAMETERS: purpose ? { QUERY_TAG: `purpose=${purpose}` } : {},
    },
  });
  assert.equal(r.success, true, JSON.stringify(r));
  return r.data.token as string;
}

async function loginError(token: string | undefined, extra: Record<string, unknown> = {}): Promise<{ code?: string; message?: string; name?: string }> {
  try {
    const conn = await connect(token ?? 'x', extra);
    await destroy(conn);
  } catch (err) {
    return err as { code?: string; message?: string; name?: string };
  }
  assert.fail('the login was accepted');
}

test('the Snowflake door is reachable (the gateway is running)', async () => {
  await requireHttp('gateway', `${gateway().url}/readyz`);
});

test('etl-pipeline connects with its OAuth token and reads masked rows', async (t) => {
  const conn = await connect(await demoToken('etl-pipeline'));
  t.after(() => destroy(conn));
  const { stmt, rows } = await exec(conn, 'SELECT ID, SSN, PHONE, EMAIL, DOB FROM PATIENTS WHERE ID <= 3 ORDER BY ID');
  assert.deepEqual(
    stmt.getColumns()?.map((c) => [c.getName().toUpperCase(), c.getType()]),
    [
      ['ID', 'fixed'],
      ['SSN', 'text'],
      ['PHONE', 'text'],
      ['EMAIL', 'text'],
      ['DOB', 'date'],
    ],
  );
  assert.equal(rows.length, 3);
  for (const [i, r] of rows.entries()) {
    assert.equal(r[0], i + 1, 'ids are numbers, unmasked');
    assert.equal(r[1], '[REDACTED]', 'ssn is redacted');
    assert.match(String(r[2]), /\*\*\*.*\d{4}$/, 'phone keeps its last four digits');
    assert.equal(r[3], '[REDACTED]', 'email is redacted');
    assert.ok(r[4] instanceof Date, 'an unmasked date is a date');
  }
});

test('the warehouse restarts: the gateway’s pooled sessions there are gone, and the next statement runs on a fresh one', async (t) => {
  const conn = await connect(await demoToken('etl-pipeline'));
  t.after(() => destroy(conn));
  const sql = 'SELECT ID, SSN FROM PATIENTS WHERE ID = 1';
  // Statements at once, so the gateway's pool for this role holds several sessions, all of which
  // the restart ends.
  const others = await Promise.all([1, 2, 3].map(async () => connect(await demoToken('etl-pipeline'))));
  t.after(() => Promise.all(others.map(destroy)));
  for (const rows of await Promise.all([conn, ...others].map(async (c) => (await exec(c, sql)).rows))) assert.deepEqual(rows, [[1, '[REDACTED]']]);
  execFileSync('bash', [join(REPO_ROOT, 'deploy/local/bin/stack'), 'restart', 'warehouse'], { stdio: 'ignore', timeout: 120_000 });
  // The driver's session with the door is untouched; the door's upstream session died with the
  // warehouse (the statement never ran there), so the gateway runs it on a new one.
  assert.deepEqual((await exec(conn, sql)).rows, [[1, '[REDACTED]']]);
});

test('DROP TABLE is refused as the driver’s SQL error 003001 / 42501 naming the rule, and the session stays usable', async (t) => {
  const conn = await connect(await demoToken('etl-pipeline'));
  t.after(() => destroy(conn));
  await assert.rejects(exec(conn, 'DROP TABLE CLINICAL.PUBLIC.PATIENTS'), (err: { name?: string; code?: string; sqlState?: string; message?: string }) => {
    assert.equal(err.name, 'OperationFailedError');
    assert.equal(err.code, '003001');
    assert.equal(err.sqlState, '42501');
    assert.match(err.message ?? '', /^SQL access control error:\nDenied by phigate policy rule 'block-ddl': .+GATEWAY_POLICY_DENIED/s);
    return true;
  });
  assert.deepEqual((await exec(conn, 'SELECT 1 AS ONE')).rows, [[1]]);
});

test('garbage, expired and forged tokens, other authenticators and unbound accounts fail login with the codes drivers expect', async () => {
  const garbage = await loginError('not-a-token');
  assert.equal(garbage.code, '390303');
  assert.match(garbage.message ?? '', /^Invalid OAuth access token/);

  // Expired and forged: the real token's claims, signed by the dev IdP's key (expired) or by another key (forged).
  const real = await demoToken('etl-pipeline');
  const [h = '', p = ''] = real.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { kid: string };
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  const now = Math.floor(Date.now() / 1000);
  const sign = (key: Parameters<CompactSign['sign']>[0], extra: Record<string, unknown>) =>
    new CompactSign(new TextEncoder().encode(JSON.stringify({ ...claims, jti: randomBytes(8).toString('hex'), ...extra })))
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: header.kid })
      .sign(key);
  const jwks = JSON.parse(readFileSync(join(need('PHIGATE_HOME'), 'dev-idp', 'jwks.json'), 'utf8')) as { keys: JWK[] };
  const idpKey = await importJWK(jwks.keys.find((k) => k.kid === header.kid)!, 'RS256');
  const expired = await loginError(await sign(idpKey, { iat: now - 4200, exp: now - 600 }));
  assert.equal(expired.code, '390318');
  assert.match(expired.message ?? '', /^OAuth access token expired/);
  const forged = await loginError(await sign((await generateKeyPair('RS256')).privateKey, { iat: now, exp: now + 600 }));
  assert.equal(forged.code, '390303');
  for (const e of [garbage, expired, forged]) assert.ok(!JSON.stringify(e).includes(p.slice(0, 24)), 'the refusal does not echo the token');

  // Other authenticators are refused as the driver's own authenticator failure.
  const g = gateway();
  const password = await new Promise<{ code?: string }>((resolve) =>
    snowflake
      .createConnection({ account: ACCOUNT, host: g.host, port: g.port, protocol: 'http', username: 'etl', password: 'x' } as snowflake.ConnectionOptions)
      .connect((err) => resolve(err as { code?: string })),
  );
  assert.equal(password?.code, '390100');

  // An unknown account and one the identity is not bound to get the same answer.
  const billing = await demoToken('billing-service');
  const unknown = await loginError(billing, { account: 'no-such-connection' });
  assert.equal(unknown.code, '390201');
  const wrongRole = await loginError(billing, { role: 'CLINICAL_READER' });
  assert.equal(wrongRole.code, '390189');
});

test('a large result arrives in chunks, in order, served by the gateway and only with the chunk key', async (t) => {
  const sql = 'SELECT ID, PATIENT_ID FROM ENCOUNTERS ORDER BY ID';
  const conn = await connect(await demoToken('etl-pipeline'));
  t.after(() => destroy(conn));
  const { rows } = await exec(conn, sql);
  assert.ok(rows.length >= 25_000, `expected at least 25,000 rows, got ${rows.length}`);
  for (let i = 1; i < rows.length; i++) assert.ok((rows[i]![0] as number) > (rows[i - 1]![0] as number), `rows out of order at ${i}`);

  const token = await rawLogin('etl-pipeline');
  const r = await post(`/queries/v1/query-request?requestId=${randomUUID()}`, { sqlText: sql }, token);
  assert.equal(r.success, true, JSON.stringify(r).slice(0, 300));
  const chunks = r.data.chunks as Array<{ url: string; rowCount: number }>;
  assert.ok(chunks.length >= 1, 'the result is chunked');
  assert.equal(r.data.returned, r.data.rowset.length + chunks.reduce((n, c) => n + c.rowCount, 0));
  const first = chunks[0]!;
  assert.ok(first.url.startsWith(`${gateway().url}/sf/chunks/`), first.url);
  const withKey = await fetch(first.url, { headers: r.data.chunkHeaders });
  assert.equal(withKey.status, 200);
  assert.equal(withKey.headers.get('content-type'), 'application/octet-stream');
  assert.equal(JSON.parse(`[${await withKey.text()}]`).length, first.rowCount);
  assert.equal((await fetch(first.url)).status, 403, 'no chunk key');
  assert.equal((await fetch(first.url.replace(/sig=[^&]+/, 'sig=forged'), { headers: r.data.chunkHeaders })).status, 403, 'forged signature');
});

test('a re-sent query-request with the same requestId attaches to the statement it started', async () => {
  const token = await rawLogin('etl-pipeline');
  const requestId = randomUUID();
  const sql = 'SELECT ID FROM PATIENTS WHERE ID <= 2 ORDER BY ID';
  const a = await post(`/queries/v1/query-request?requestId=${requestId}`, { sqlText: sql }, token);
  const b = await post(`/queries/v1/query-request?requestId=${requestId}&retryCount=1&clientStartTime=${Date.now()}`, { sqlText: sql }, token);
  assert.equal(a.success, true, JSON.stringify(a).slice(0, 300));
  assert.equal(b.data.queryId, a.data.queryId, 'the same statement, not a second one');
  assert.deepEqual(b.data.rowset, a.data.rowset);
  const c = await post(`/queries/v1/query-request?requestId=${randomUUID()}`, { sqlText: sql }, token);
  assert.notEqual(c.data.queryId, a.data.queryId, 'a new requestId is a new statement');
  // Sessions are opaque tokens: a made-up one is refused as the driver expects (log in again).
  const bad = await post(`/queries/v1/query-request?requestId=${randomUUID()}`, { sqlText: sql }, `ST-${randomBytes(32).toString('base64url')}`);
  assert.equal(bad.code, '390104');
});

test('a held statement: the driver keeps polling until an approver approves it in Slack, then gets masked rows', async (t) => {
  const conn = await connect(await demoToken('analytics-agent'));
  t.after(() => destroy(conn));
  // The analytics agent's binding requires a purpose of use: the Node driver states it in QUERY_TAG.
  await exec(conn, "ALTER SESSION SET QUERY_TAG = 'purpose=population-health'");
  const since = ((await (await fetch(`${need('SLACK_SINK_URL')}/messages`)).json()) as unknown[]).length;
  const pending = exec(conn, 'SELECT ID, SSN FROM PATIENTS WHERE ID = 7');
  const approvalId = await eventually('the approval message for the held statement in the Slack sink', async () => {
    const all = (await (await fetch(`${need('SLACK_SINK_URL')}/messages`)).json()) as Array<{
      blocks?: Array<{ type: string; elements?: Array<{ action_id: string; value: string }> }>;
    }>;
    for (const m of all.slice(since)) {
      if (!JSON.stringify(m).includes(ACCOUNT)) continue;
      const approve = m.blocks?.find((b) => b.type === 'actions')?.elements?.find((e) => e.action_id === 'approve');
      if (approve) return approve.value;
    }
    return undefined;
  });
  const click = signedClick({ approvalUrl: need('APPROVAL_URL'), secret: need('SLACK_SIGNING_SECRET'), user: 'U0ALICE', action: 'approve', approvalId });
  const granted = await deliverClick(need('APPROVAL_URL'), click);
  assert.equal(granted.status, 200);
  assert.equal(granted.body.outcome, 'granted');
  const { rows } = await pending;
  assert.deepEqual(rows, [[7, '[REDACTED]']], 'approval does not lift masking');
});

test('aborting a held statement cancels it: a later approval does not run it', async () => {
  const held = heldStatement();
  const token = await rawLogin('analytics-agent', 'population-health');
  const started = await post(`/queries/v1/query-request?requestId=${randomUUID()}`, { sqlText: held.sql, asyncExec: true }, token);
  assert.equal(started.code, '333334', JSON.stringify(started).slice(0, 300));
  const queryId = started.data.queryId as string;
  const get = async (path: string) =>
    (await fetch(`${gateway().url}${path}`, { headers: { authorization: `Snowflake Token="${token}"` } })).json() as Promise<Record<string, any>>;
  await eventually('the statement to be held for approval', async () =>
    (await get(`/monitoring/queries/${queryId}`)).data.queries[0]?.status === 'QUEUED' ? true : undefined,
  );
  const aborted = await post(`/queries/${queryId}/abort-request`, {}, token);
  assert.equal(aborted.success, true, JSON.stringify(aborted));

  // The continuation is finished as cancelled, for any replica and the HTTP API alike…
  const bearer = { authorization: `Bearer ${await held.token()}` };
  const state = async () => (await (await fetch(`${gateway().url}/v1/requests/${queryId}?wait=1`, { headers: bearer })).json()) as { code?: string };
  assert.equal((await state()).code, 'GATEWAY_APPROVAL_CANCELLED');
  // …so an approver's later click changes nothing: the statement never runs.
  await held.approve();
  assert.equal((await state()).code, 'GATEWAY_APPROVAL_CANCELLED');
  const result = await get(`/queries/${queryId}/result`);
  assert.equal(result.code, '000604');
  assert.equal(result.data.sqlState, '57014');
});
