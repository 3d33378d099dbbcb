// phigate-test: stack
// A required purpose of use and a binding's own rate limit, through the three doors of a gateway
// replica this file starts with the stack's environment and a bindings file of its own: the stack's,
// where the analytics agent's binding requires a purpose, with 3 statements a minute. Each door's
// refusal is in its own protocol and says which limit applied and when it resets.
import './fixtures/snowflake/driver-env.js';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { demoToken, freePort, REPO_ROOT, type SpawnedApp, spawnApp, uniqueName } from '@phigate/testkit';
import pg from 'pg';
import { runPython } from './fixtures/snowflake/clients.js';

const AGENT = 'analytics-agent';
const LIMIT = 3;
let gw: SpawnedApp;
let pgPort = 0;

before(async () => {
  const stackBindings = readFileSync(join(REPO_ROOT, 'deploy/local/gateway/connections.yaml'), 'utf8');
  const agentBinding =
    /( {4}purposes: \[quality-improvement, population-health, operations\]\n(?: {4}#.*\n)* {4}purposeRequired: true\n {4}statementsPerMinute: )\d+/;
  assert.match(stackBindings, agentBinding, "the stack's bindings file gives the analytics agent purposes, a required purpose and a limit");
  const file = join(mkdtempSync(join(tmpdir(), 'purpose-limits-')), 'connections.yaml');
  writeFileSync(file, stackBindings.replace(agentBinding, `$1${LIMIT}`));
  const http = await freePort();
  pgPort = await freePort();
  gw = await spawnApp('gateway', 'services/gateway/dist/src/main.js', http, {
    GATEWAY_HTTP_PORT: String(http),
    GATEWAY_PG_PORT: String(pgPort),
    GATEWAY_PG_HOST: '127.0.0.1',
    GATEWAY_CONNECTIONS_FILE: file,
    // Budgets of its own, so the stack gateway's are not spent.
    GATEWAY_RATE_LIMIT_KEY_PREFIX: `${uniqueName('phigate:rl:purpose-limits')}:`,
    GATEWAY_REPLICA_ID: `purpose-limits-${http}`,
  });
  // The limit counts per minute: start with a whole window ahead, or it resets half-way.
  const msLeft = 60_000 - (Date.now() % 60_000);
  if (msLeft < 30_000) await new Promise((r) => setTimeout(r, msLeft + 50));
});
after(() => gw?.kill('SIGTERM'));

test("a required purpose, then the binding's limit: each door refuses in its protocol, naming the limit and its reset", async (t) => {
  const token = await demoToken(AGENT);
  const query = (headers: Record<string, string>) =>
    fetch(`${gw.url}/v1/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ connection: 'clinical-pg', sql: 'SELECT id FROM patients WHERE id = 1' }),
    });

  // No purpose: HTTP 403, and the Python connector's access control error (Snowflake error JSON).
  const bare = await query({});
  assert.equal(bare.status, 403);
  assert.equal(((await bare.json()) as { code: string }).code, 'GATEWAY_PURPOSE_REQUIRED');
  const url = new URL(gw.url);
  const python = async (step: 'no-purpose' | 'limited') => {
    const p = runPython(t, 'purpose_limits.py', [url.hostname, url.port, 'clinical-sf', token, step]);
    assert.equal(await p.done, 0, `the Python script failed:\n${p.stderr()}`);
    return p.steps[step].result as { errno: number; sqlstate: string; msg: string; code: string };
  };
  const unstated = await python('no-purpose');
  assert.deepEqual([unstated.errno, unstated.sqlstate, unstated.code], [3001, '42501', 'GATEWAY_PURPOSE_REQUIRED']);

  // The budget is taken before access is checked (probing is throttled too): both refusals spent one
  // of the 3; the third statement runs, and the next is HTTP 429 with Retry-After.
  assert.equal((await query({ 'x-phigate-purpose': 'population-health' })).status, 200);
  const limited = await query({ 'x-phigate-purpose': 'population-health' });
  const body = (await limited.json()) as { code: string; message: string; resetsAt: string; perMinute: number; limit: string; retryAfterSec: number };
  assert.equal(limited.status, 429);
  assert.equal(body.code, 'GATEWAY_RATE_LIMITED');
  assert.deepEqual([body.perMinute, body.limit], [LIMIT, 'binding']);
  assert.equal(Date.parse(body.resetsAt) % 60_000, 0, 'the window resets on the minute');
  assert.ok(Date.parse(body.resetsAt) > Date.now());
  assert.equal(limited.headers.get('retry-after'), String(body.retryAfterSec));
  assert.equal(
    body.message,
    `rate limit reached: ${LIMIT} statements per minute for this identity, set by the binding of groups ai-agents; it resets at ${body.resetsAt} (in ${body.retryAfterSec} s)`,
  );

  // PostgreSQL: the same budget is spent; the statement is refused with SQLSTATE 53400 and the same words.
  const c = new pg.Client({
    connectionString: `postgresql://${AGENT}:${encodeURIComponent(token)}@127.0.0.1:${pgPort}/clinical-pg?sslmode=disable&options=${encodeURIComponent('-c phigate.purpose=population-health')}`,
  });
  await c.connect();
  t.after(() => c.end());
  const err = (await c.query('SELECT id FROM patients WHERE id = 1').catch((e: pg.DatabaseError) => e)) as pg.DatabaseError;
  assert.ok(err instanceof Error, 'the statement is refused');
  assert.equal(err.code, '53400');
  assert.match(
    err.message,
    new RegExp(`^rate limit reached: ${LIMIT} statements per minute for this identity, set by the binding of groups ai-agents; it resets at ${body.resetsAt} `),
  );

  // Snowflake (the Python connector), a purpose in QUERY_TAG: the limit, in Snowflake error JSON with
  // phigate's limit code 999429 and SQLSTATE 53400 (not the internal 000603 / XX000).
  const sf = await python('limited');
  assert.deepEqual([sf.errno, sf.sqlstate, sf.code], [999429, '53400', 'GATEWAY_RATE_LIMITED']);
  assert.match(
    sf.msg,
    new RegExp(`rate limit reached: ${LIMIT} statements per minute for this identity, set by the binding of groups ai-agents; it resets at ${body.resetsAt} `),
  );
});
