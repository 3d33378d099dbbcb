// phigate-test: stack
/**
 * The warehouse's protocol paths beyond the conformance cases: login refusals with the codes real
 * drivers act on, the gateway's password and key-pair logins, async execution, abort, requestId
 * idempotency and session renewal. Through snowflake-sdk where the driver exposes the path, else
 * with raw requests shaped as the Node driver sends them (protocol notes §2.1, §4.6, §4.7).
 */
import './conformance/driver-env.js';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { demoToken } from '@phigate/testkit';
import { SignJWT } from 'jose';
import snowflake, { type Connection, type RowStatement } from 'snowflake-sdk';
import { publicKeyFingerprint } from '../src/adapters/credentials.js';
import { connect, destroy, execOn } from './conformance/node-suite.js';
import { loadCases, type Target } from './conformance/target.js';
import { useWarehouse, warehouseTarget } from './helpers.js';

type Envelope = { success: boolean; code: string | null; message: string | null; data: Record<string, unknown> | null };
type DriverError = { name?: string; code?: unknown; sqlState?: unknown; message?: string; data?: Record<string, unknown> };

const events: Array<{ event: string; fields: Record<string, unknown> }> = [];
const wh = useWarehouse({}, (_level, event, fields = {}) => events.push({ event, fields }));

const target = (over: Partial<Target> = {}): Target => ({ ...warehouseTarget(wh()), ...over });
const oauth = (token: string): Target['auth'] => ({ kind: 'oauth', token: async () => token });

/** A raw request with the Node driver's headers; a session or master token goes in `Authorization`. */
async function call(method: 'GET' | 'POST', path: string, opts: { token?: string; body?: unknown } = {}): Promise<Envelope> {
  const res = await fetch(`${wh().url}${path}`, {
    method,
    headers: {
      accept: path.startsWith('/queries/') ? 'application/snowflake' : 'application/json',
      'content-type': 'application/json',
      'user-agent': 'JavaScript/3.3.0 (linux-x64) NodeJS/24',
      ...(opts.token ? { authorization: `Snowflake Token="${opts.token}"` } : {}),
    },
    ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
  });
  assert.equal(res.status, 200, `${method} ${path} answered HTTP ${res.status}`);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  return (await res.json()) as Envelope;
}

/** POST /session/v1/login-request as snowflake-sdk 3.3 sends it. */
function login(data: Record<string, unknown>, role = 'CLINICAL_READER'): Promise<Envelope> {
  const q = new URLSearchParams({ requestId: randomUUID(), databaseName: 'CLINICAL', schemaName: 'PUBLIC', roleName: role, request_guid: randomUUID() });
  return call('POST', `/session/v1/login-request?${q}`, {
    body: {
      data: {
        ACCOUNT_NAME: 'clinical-sf',
        CLIENT_APP_ID: 'JavaScript',
        CLIENT_APP_VERSION: '3.3.0',
        CLIENT_ENVIRONMENT: { OS: 'Linux', OCSP_MODE: 'FAIL_OPEN' },
        SESSION_PARAMETERS: { CLIENT_REQUEST_MFA_TOKEN: false, CLIENT_STORE_TEMPORARY_CREDENTIAL: false },
        ...data,
      },
    },
  });
}

async function oauthSession(): Promise<{ token: string; masterToken: string }> {
  const r = await login({ AUTHENTICATOR: 'OAUTH', TOKEN: await demoToken('etl-pipeline') });
  assert.equal(r.success, true, r.message ?? '');
  return { token: String(r.data?.token), masterToken: String(r.data?.masterToken) };
}

function query(token: string, sqlText: string, requestId = randomUUID(), extra: Record<string, unknown> = {}): Promise<Envelope> {
  return call('POST', `/queries/v1/query-request?requestId=${requestId}&request_guid=${randomUUID()}`, {
    token,
    body: { disableOfflineChunks: false, sqlText, queryContextDTO: { entries: [] }, ...extra },
  });
}

/** Connecting must fail with this Snowflake code (as snowflake-sdk reports it). */
async function refusedLogin(t: Target, code: string, message: RegExp): Promise<void> {
  await assert.rejects(connect(t), (err: DriverError) => {
    assert.equal(err.name, 'OperationFailedError');
    assert.equal(err.code, code);
    assert.match(err.message ?? '', message);
    assert.equal(err.data?.nextAction, 'RETRY_LOGIN');
    return true;
  });
}

async function withConnection<T>(t: Target, fn: (conn: Connection) => Promise<T>): Promise<T> {
  const conn = await connect(t);
  try {
    return await fn(conn);
  } finally {
    await destroy(conn);
  }
}

describe('login', () => {
  it('refuses a garbage OAuth token with 390303', async () => {
    await refusedLogin(target({ auth: oauth('not-a-jwt') }), '390303', /Invalid OAuth access token/);
  });

  it('refuses a forged OAuth token (right issuer and key id, wrong signing key) with 390303', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = await wh().issuer.sign({ sub: 'etl-pipeline' }, { key: privateKey });
    await refusedLogin(target({ auth: oauth(forged) }), '390303', /Invalid OAuth access token/);
  });

  it('refuses an expired OAuth token with 390318', async () => {
    const expired = await wh().issuer.sign({ sub: 'etl-pipeline' }, { expSecondsFromNow: -3600 });
    await refusedLogin(target({ auth: oauth(expired) }), '390318', /expired/);
  });

  it('accepts a valid token from a second trusted issuer, and refuses one whose subject is no user (390303)', async () => {
    const good = await wh().issuer.sign({ sub: 'etl-pipeline' });
    const user = await withConnection(target({ auth: oauth(good) }), async (conn) => (await execOn(conn)('SELECT CURRENT_USER() AS U')).rows[0]?.U);
    assert.equal(user, 'ETL_PIPELINE');
    const stranger = await wh().issuer.sign({ sub: 'nobody-we-know' });
    await refusedLogin(target({ auth: oauth(stranger) }), '390303', /not a user of this account/);
  });

  it('refuses a role the user does not have with 390189', async () => {
    await refusedLogin(target({ role: 'CLAIMS_WRITER' }), '390189', /Role 'CLAIMS_WRITER' specified in the connect string/);
  });

  it('logs PHIGATE_GATEWAY in with its password, as any of its roles; a wrong password is 390100', async () => {
    const gateway = (password: string, role: string) => target({ auth: { kind: 'password', user: 'phigate_gateway', password }, role });
    const got = await withConnection(gateway(wh().gatewayPassword, 'ANALYTICS_READER'), async (conn) => {
      const { rows } = await execOn(conn)('SELECT CURRENT_USER() AS U, CURRENT_ROLE() AS R');
      return rows[0];
    });
    assert.deepEqual(got, { U: 'PHIGATE_GATEWAY', R: 'ANALYTICS_READER' });
    await refusedLogin(gateway(`${wh().gatewayPassword}x`, 'CLINICAL_READER'), '390100', /Incorrect username or password/);
  });

  it('logs PHIGATE_GATEWAY in with a key-pair JWT; a JWT signed by another key is 390144', async () => {
    const base = target();
    // snowflake-sdk signs the JWT itself from the PEM private key (authenticator SNOWFLAKE_JWT).
    const viaJwt = async (privateKey: string) => {
      const conn = snowflake.createConnection({
        account: base.account,
        accessUrl: `${base.protocol}://${base.host}:${base.port}`,
        database: base.database,
        schema: base.schema,
        authenticator: 'SNOWFLAKE_JWT',
        username: 'PHIGATE_GATEWAY',
        privateKey,
      });
      await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
      return conn;
    };
    const conn = await viaJwt(wh().gatewayPrivateKeyPem);
    try {
      assert.equal((await execOn(conn)('SELECT CURRENT_USER() AS U')).rows[0]?.U, 'PHIGATE_GATEWAY');
    } finally {
      await destroy(conn);
    }
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await assert.rejects(viaJwt(other), (err: DriverError) => {
      assert.equal(err.code, '390144');
      assert.match(err.message ?? '', /JWT token is invalid/);
      return true;
    });
  });

  it('checks a key-pair JWT with seconds (Python, JDBC): current accepted, expired or longer than an hour refused (390144)', async () => {
    const key = createPrivateKey(wh().gatewayPrivateKeyPem);
    const fp = publicKeyFingerprint(createPublicKey(key));
    const jwt = (iat: number, exp: number) =>
      new SignJWT({ iss: `CLINICAL-SF.PHIGATE_GATEWAY.${fp}`, sub: 'CLINICAL-SF.PHIGATE_GATEWAY', iat, exp })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
        .sign(key);
    const now = Math.floor(Date.now() / 1000);
    const send = async (token: string) => login({ AUTHENTICATOR: 'SNOWFLAKE_JWT', LOGIN_NAME: 'PHIGATE_GATEWAY', TOKEN: token });
    const good = await send(await jwt(now, now + 60));
    assert.equal(good.success, true, good.message ?? '');
    for (const [iat, exp] of [
      [now - 7200, now - 3700],
      [now, now + 7200],
    ] as const) {
      const r = await send(await jwt(iat, exp));
      assert.deepEqual([r.success, r.code], [false, '390144']);
    }
  });

  it('refuses an authenticator the account does not support with 390100, naming the ones it does', async () => {
    // snowflake-sdk would run a browser or MFA flow for these; the request it would end with is this one.
    for (const authenticator of ['EXTERNALBROWSER', 'USERNAME_PASSWORD_MFA', 'OKTA']) {
      const r = await login({ AUTHENTICATOR: authenticator, LOGIN_NAME: 'PHIGATE_GATEWAY', PASSWORD: wh().gatewayPassword });
      assert.equal(r.success, false);
      assert.equal(r.code, '390100');
      assert.match(r.message ?? '', /use OAUTH, SNOWFLAKE_JWT or SNOWFLAKE/);
      assert.equal(r.data?.nextAction, 'RETRY_LOGIN');
    }
  });

  it('never logs a token or a password', () => {
    const logged = JSON.stringify(events);
    assert.ok(events.some((e) => e.event === 'login.refused'));
    assert.doesNotMatch(logged, /eyJ[A-Za-z0-9_-]{10,}/, 'a JWT reached the log');
    assert.ok(!logged.includes(wh().gatewayPassword), 'the gateway password reached the log');
  });
});

describe('statements', () => {
  let conn: Connection;
  before(async () => {
    conn = await connect(target());
  });
  after(async () => {
    if (conn) await destroy(conn);
  });

  /** Runs a statement with snowflake-sdk options; resolves with the statement or rejects with the driver's error. */
  const run = (options: Record<string, unknown>) =>
    new Promise<{ stmt: RowStatement; rows: unknown[] }>((resolve, reject) => {
      const stmt = conn.execute({
        sqlText: '',
        ...options,
        complete: (err, s, rows) => (err ? reject(err) : resolve({ stmt: s, rows: rows ?? [] })),
      } as Parameters<Connection['execute']>[0]);
      (options.onStatement as ((s: RowStatement) => void) | undefined)?.(stmt as RowStatement);
    });

  it('runs a statement asynchronously (asyncExec): query id at once, RUNNING while it runs, then its rows', async () => {
    const { stmt } = await run({ sqlText: 'SELECT SYSTEM$WAIT(2)', asyncExec: true });
    const queryId = stmt.getQueryId();
    assert.match(queryId, /^[0-9a-f-]{36}$/);
    assert.equal(await conn.getQueryStatus(queryId), 'RUNNING');
    const result = await conn.getResultsFromQueryId({ queryId, sqlText: '' });
    const rows = await new Promise<unknown[]>((resolve, reject) => {
      const out: unknown[] = [];
      result
        .streamRows()
        .on('data', (r: unknown) => out.push(r))
        .on('error', reject)
        .on('end', () => resolve(out));
    });
    assert.deepEqual(rows, [{ 'SYSTEM$WAIT(2)': 'waited 2 seconds' }]);
    assert.equal(await conn.getQueryStatus(queryId), 'SUCCESS');
  });

  it('aborts a running statement (statement.cancel) with 000604 / 57014, and the session stays usable', async () => {
    let stmt: RowStatement | undefined;
    const pending = run({ sqlText: 'SELECT SYSTEM$WAIT(120)', onStatement: (s: RowStatement) => (stmt = s) });
    // The driver cancels by requestId until it knows the query id; retry until the request has arrived.
    for (let i = 0; ; i++) {
      const cancelled = await new Promise<DriverError | undefined>((resolve) => stmt!.cancel((err) => resolve(err ?? undefined)));
      if (!cancelled) break;
      assert.equal(cancelled.code, '000605', `cancel failed: ${cancelled.message}`);
      assert.ok(i < 200, 'the statement never started');
      await new Promise((r) => setTimeout(r, 25));
    }
    await assert.rejects(pending, (err: DriverError) => {
      assert.equal(err.code, '000604');
      assert.equal(err.sqlState, '57014');
      assert.match(err.message ?? '', /canceled/);
      return true;
    });
    assert.equal((await execOn(conn)('SELECT 1 AS ONE')).rows[0]?.ONE, 1);
  });

  it('aborts an async statement by query id: status ABORTED, its result is 000604', async () => {
    const { stmt } = await run({ sqlText: 'SELECT SYSTEM$WAIT(120)', asyncExec: true });
    const queryId = stmt.getQueryId();
    await new Promise<void>((resolve, reject) => stmt.cancel((err) => (err ? reject(err) : resolve())));
    assert.equal(await conn.getQueryStatus(queryId), 'ABORTED');
    const { token } = await oauthSession();
    // Another session of the same user may read the outcome (by query id, as Python's get_results_from_sfqid does).
    const r = await call('GET', `/queries/${queryId}/result`, { token });
    assert.equal(r.success, false);
    assert.equal(r.code, '000604');
    assert.equal(r.data?.sqlState, '57014');
  });

  it('runs a DML statement re-sent with the same requestId once, answering both with the same query', async () => {
    const table = loadCases().scratchTable;
    const runId = `dedup-${randomUUID()}`;
    const requestId = randomUUID();
    const sqlText = `INSERT INTO ${table} (RUN_ID, ID, LABEL) VALUES (?, 1, 'once')`;
    const first = await run({ sqlText, binds: [runId], requestId });
    const again = await run({ sqlText, binds: [runId], requestId });
    assert.equal(again.stmt.getQueryId(), first.stmt.getQueryId());
    assert.equal(first.stmt.getNumUpdatedRows(), 1);
    assert.equal(again.stmt.getNumUpdatedRows(), 1);
    // The same through raw requests, as a driver's HTTP retry sends it.
    const { token } = await oauthSession();
    const rawRequestId = randomUUID();
    const bindings = { '1': { type: 'TEXT', value: runId } };
    const a = await query(token, `INSERT INTO ${table} (RUN_ID, ID, LABEL) VALUES (?, 2, 'raw')`, rawRequestId, { bindings });
    const b = await query(token, `INSERT INTO ${table} (RUN_ID, ID, LABEL) VALUES (?, 2, 'raw')`, rawRequestId, { bindings });
    assert.equal(a.success, true, a.message ?? '');
    assert.equal(b.data?.queryId, a.data?.queryId);
    const { rows } = await execOn(conn)(`SELECT ID, LABEL FROM ${table} WHERE RUN_ID = ? ORDER BY ID`, [runId]);
    assert.deepEqual(rows, [
      { ID: 1, LABEL: 'once' },
      { ID: 2, LABEL: 'raw' },
    ]);
    await execOn(conn)(`DELETE FROM ${table} WHERE RUN_ID = ?`, [runId]);
  });
});

describe('sessions', () => {
  it('renews a session with the master token: a new session token works, the old one is refused (390104)', async () => {
    const s = await oauthSession();
    const renewed = await call('POST', `/session/token-request?requestId=${randomUUID()}`, {
      token: s.masterToken,
      body: { oldSessionToken: s.token, requestType: 'RENEW' },
    });
    assert.equal(renewed.success, true, renewed.message ?? '');
    const next = String(renewed.data?.sessionToken);
    assert.notEqual(next, s.token);
    assert.equal(renewed.data?.masterToken, s.masterToken);
    assert.equal(typeof renewed.data?.validityInSecondsST, 'number');
    assert.equal((await query(next, 'SELECT 1 AS ONE')).success, true);
    const stale = await query(s.token, 'SELECT 1 AS ONE');
    assert.deepEqual([stale.success, stale.code], [false, '390104']);
    // A session token is not a master token.
    const wrong = await call('POST', '/session/token-request', { token: next, body: { oldSessionToken: next, requestType: 'RENEW' } });
    assert.deepEqual([wrong.success, wrong.code], [false, '390104']);
  });

  it('answers requests without a session: no Authorization header 390101, an unknown token 390104', async () => {
    const none = await call('POST', '/queries/v1/query-request', { body: { sqlText: 'SELECT 1' } });
    assert.deepEqual([none.success, none.code], [false, '390101']);
    const unknown = await query('ST-not-a-session', 'SELECT 1');
    assert.deepEqual([unknown.success, unknown.code], [false, '390104']);
  });

  it('logs out (POST /session?delete=true): the session token stops working', async () => {
    const s = await oauthSession();
    const out = await call('POST', `/session?delete=true&requestId=${randomUUID()}`, { token: s.token });
    assert.equal(out.success, true);
    const after = await query(s.token, 'SELECT 1 AS ONE');
    assert.deepEqual([after.success, after.code], [false, '390104']);
  });
});

describe('sessions with short-lived tokens', () => {
  const shortEvents: string[] = [];
  const short = useWarehouse({ WAREHOUSE_SESSION_VALIDITY_SEC: '1', WAREHOUSE_MASTER_VALIDITY_SEC: '3' }, (_l, event) => shortEvents.push(event));

  it('snowflake-sdk renews an expired session token (390112) by itself and replays the statement', async () => {
    await withConnection(warehouseTarget(short()), async (conn) => {
      const exec = execOn(conn);
      assert.equal((await exec('SELECT 1 AS ONE')).rows[0]?.ONE, 1);
      // Wait out the one-second session token (the master token lives three).
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await exec('SELECT 2 AS TWO')).rows[0]?.TWO, 2);
      assert.ok(shortEvents.includes('session.renewed'), 'the driver did not renew the session');
    });
  });

  it('refuses a renewal after the master token expired (390114)', async () => {
    const r0 = await fetch(`${short().url}/session/v1/login-request?roleName=CLINICAL_READER`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: { ACCOUNT_NAME: 'clinical-sf', AUTHENTICATOR: 'OAUTH', TOKEN: await demoToken('etl-pipeline') } }),
    });
    const s = (await r0.json()) as Envelope;
    assert.equal(s.success, true);
    await new Promise((r) => setTimeout(r, 3500));
    const r1 = await fetch(`${short().url}/session/token-request`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Snowflake Token="${String(s.data?.masterToken)}"` },
      body: JSON.stringify({ oldSessionToken: s.data?.token, requestType: 'RENEW' }),
    });
    const renewed = (await r1.json()) as Envelope;
    assert.deepEqual([renewed.success, renewed.code], [false, '390114']);
  });
});
