// phigate-test: stack
// Issue 3 through the real doors: one least-privilege upstream role per identity, the connection
// registry with sealed credentials and key rotation, and the per-identity rate limit.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { demoToken, need, stackEnv } from '@phigate/testkit';
import pg from 'pg';

/** A statement with its purpose of use (X-Phigate-Purpose), which the analytics agent's binding requires. */
async function query(token: string, sql: string, connection = 'clinical-pg') {
  const res = await fetch(`${need('GATEWAY_URL')}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-phigate-purpose': 'population-health' },
    body: JSON.stringify({ connection, sql }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, any> };
}

async function admin(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${need('GATEWAY_URL')}/v1/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, text, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
}

test('each identity runs as its own non-superuser upstream role', async () => {
  const roles: Record<string, string> = {};
  for (const id of ['etl-pipeline', 'billing-service', 'analytics-agent']) {
    const r = await query(await demoToken(id), 'SELECT current_user, session_user');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    roles[id] = r.body.rows[0][0];
    assert.equal(r.body.rows[0][1], 'phigate_gateway', 'the login is the gateway’s own');
  }
  assert.deepEqual(roles, { 'etl-pipeline': 'clinical_reader', 'billing-service': 'claims_writer', 'analytics-agent': 'analytics_reader' });
  const admin = new pg.Client({ connectionString: need('PG_ADMIN_URL') });
  await admin.connect();
  try {
    const r = await admin.query<{ rolname: string; rolsuper: boolean }>('select rolname, rolsuper from pg_roles where rolname = any($1)', [
      [...Object.values(roles), 'phigate_gateway'],
    ]);
    assert.equal(r.rows.length, 4);
    assert.ok(r.rows.every((x) => !x.rolsuper));
  } finally {
    await admin.end();
  }
});

test('a table outside the role’s grants is refused by PostgreSQL itself, without leaking data', async () => {
  const billing = await demoToken('billing-service');
  const r = await query(billing, 'SELECT notes FROM encounters LIMIT 1');
  // Policy would not even allow encounters for billing; patients.ssn is allowed by policy but not granted.
  assert.equal(r.status, 403);
  const ssn = await query(billing, 'SELECT ssn FROM patients LIMIT 1');
  assert.equal(ssn.status, 403);
  assert.equal(ssn.body.code, 'GATEWAY_UPSTREAM_PERMISSION');
  assert.equal(ssn.body.sqlstate, '42501');
  assert.equal(ssn.body.rows, undefined);
  assert.doesNotMatch(JSON.stringify(ssn.body), /\d{3}-\d{2}-\d{4}/);
});

test('connections are registered by admins, credentials never come back, and key rotation keeps them working', async () => {
  const platform = await demoToken('platform-admin');
  const etl = await demoToken('etl-pipeline');
  assert.equal((await admin('GET', '/connections', etl)).status, 403, 'non-admins are refused');

  const password = readFileSync(join(need('PHIGATE_HOME'), 'secrets/clinical_gateway_password'), 'utf8').trim();
  const name = `reg-${randomBytes(3).toString('hex')}`;
  const put = await admin('PUT', `/connections/${name}`, platform, {
    type: 'postgresql',
    host: '127.0.0.1',
    port: 5432,
    database: 'clinical',
    user: 'phigate_gateway',
    password,
  });
  assert.equal(put.status, 201, put.text);
  assert.ok(!put.text.includes(password), 'the credential is never returned');
  assert.equal(put.body.credential.sealed, true);
  const listed = await admin('GET', '/connections', platform);
  assert.ok(!listed.text.includes(password));
  assert.ok(listed.body.connections.some((c: { name: string }) => c.name === 'clinical-pg'));

  // At rest: only the sealed form is in the control database.
  const db = new pg.Client({ connectionString: need('GATEWAY_DATABASE_URL') });
  await db.connect();
  try {
    const row = (await db.query<{ credential: Record<string, string> }>('select credential from connections where name = $1', [name])).rows[0]!;
    assert.ok(!JSON.stringify(row.credential).includes(password));
    assert.equal(row.credential.alg, 'A256GCM');

    // Rotate: add a new active key, re-seal, then drop the old key entirely.
    const keysFile = join(need('PHIGATE_HOME'), 'secrets/sealing-keys.json');
    const ring = JSON.parse(readFileSync(keysFile, 'utf8')) as { active: string; keys: Record<string, string> };
    const next = `k${Date.now().toString(36)}`;
    writeFileSync(keysFile, JSON.stringify({ active: next, keys: { ...ring.keys, [next]: randomBytes(32).toString('base64') } }), { mode: 0o600 });
    const reseal = await admin('POST', '/credentials/reseal', platform);
    assert.equal(reseal.status, 200, reseal.text);
    assert.equal(reseal.body.keyId, next);
    assert.ok(reseal.body.resealed >= 2);
    const kids = (await db.query<{ kid: string }>("select credential->>'kid' as kid from connections")).rows.map((r) => r.kid);
    assert.ok(
      kids.every((k) => k === next),
      'every credential is sealed under the new key',
    );
    const rotated = JSON.parse(readFileSync(keysFile, 'utf8')) as { keys: Record<string, string> };
    writeFileSync(keysFile, JSON.stringify({ active: next, keys: { [next]: rotated.keys[next] } }), { mode: 0o600 });
    assert.equal((await admin('POST', '/credentials/reseal', platform)).body.resealed, 0);
  } finally {
    await db.end();
  }
  // Both the config-managed and the API-registered connection still work after rotation.
  assert.equal((await query(etl, 'SELECT count(*) FROM claims')).status, 200);
  assert.equal((await admin('DELETE', `/connections/${name}`, platform)).status, 204);
  assert.equal((await admin('GET', `/connections/${name}`, platform)).status, 404);
});

test('invalid admin input gets a clear error that echoes no value', async () => {
  const platform = await demoToken('platform-admin');
  const r = await admin('PUT', '/connections/Bad_Name', platform, { type: 'oracle', port: 'x', password: 'p@ss-should-not-echo' });
  assert.equal(r.status, 400);
  assert.equal(r.body.code, 'GATEWAY_ADMIN_CONNECTION_INVALID');
  assert.ok(r.body.problems.length >= 3);
  assert.ok(!r.text.includes('p@ss-should-not-echo'));
});

test('each identity has a request budget; over it, a clear 429 with Retry-After', async () => {
  need('REDIS_URL');
  const redis = (await import('@phigate/redis')).redisFromEnv(stackEnv());
  const carol = await demoToken('carol');
  try {
    // Fill carol's budget for this minute and the next (so a minute boundary cannot flake the test).
    const window = Math.floor(Date.now() / 60_000);
    for (const w of [window, window + 1]) await redis.set(`phigate:rl:carol:${w}`, '1000000', 'PX', 120_000);
    // A replica spends budget it already leased from Redis (at most 1/50 of the limit) before it
    // asks again, so the filled budget shows within that many requests.
    let r = await query(carol, 'select 1');
    for (let i = 0; i < 30 && r.status !== 429; i++) r = await query(carol, 'select 1');
    assert.equal(r.status, 429);
    assert.equal(r.body.code, 'GATEWAY_RATE_LIMITED');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    // carol has no binding here: the limit is the gateway's default, and the refusal says so and when it resets.
    assert.equal(r.body.limit, 'default');
    assert.equal(r.headers.get('retry-after'), String(r.body.retryAfterSec));
    assert.equal(Date.parse(r.body.resetsAt) % 60_000, 0, 'the window resets on the minute');
    assert.equal(
      r.body.message,
      `rate limit reached: ${r.body.perMinute} statements per minute for this identity, set by the gateway default (GATEWAY_RATE_LIMIT_PER_MINUTE); it resets at ${r.body.resetsAt} (in ${r.body.retryAfterSec} s)`,
    );
    // Other identities are unaffected.
    assert.equal((await query(await demoToken('etl-pipeline'), 'SELECT count(*) FROM claims')).status, 200);
  } finally {
    const window = Math.floor(Date.now() / 60_000);
    await redis.del(`phigate:rl:carol:${window - 1}`, `phigate:rl:carol:${window}`, `phigate:rl:carol:${window + 1}`);
    redis.disconnect();
  }
});

test('a write hidden in a CTE is judged as a write: unbounded is blocked, bounded needs write rights', async () => {
  const billing = await demoToken('billing-service');
  const unbounded = await query(billing, "WITH x AS (UPDATE claims SET status = 'void' RETURNING id) SELECT count(*) FROM x");
  assert.equal(unbounded.status, 403);
  assert.equal(unbounded.body.ruleId, 'block-unbounded-writes');
  const etl = await demoToken('etl-pipeline');
  const etlWrite = await query(etl, "WITH x AS (UPDATE claims SET status = 'void' WHERE id = 1 RETURNING id) SELECT count(*) FROM x");
  assert.equal(etlWrite.status, 403, 'ETL may only read');
  assert.equal(etlWrite.body.ruleId, 'default-deny');
});
