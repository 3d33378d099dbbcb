// phigate-test: stack
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { demoToken, eventually, freePort, kcatArgs, spawnApp, stackAuditRecovered } from '@phigate/testkit';
import pg from 'pg';
import { loadOcsfSchema, ocsfProblems } from './ocsf-validator.js';

// End to end, as a SIEM sees it: statements through each of the gateway's three doors (a replica of
// this build, named so its records can be told apart) come out of the stack's audit relay on
// phigate.siem.v1 as OCSF 1.4.0 records, valid against the compiled schema, each with the client's
// address and port.

const SIEM_TOPIC = 'phigate.siem.v1';
type OcsfJson = Record<string, any>;

function siemRecordsSince(sinceMs: number): OcsfJson[] {
  const out = execFileSync('kcat', ['-C', ...kcatArgs(), '-t', SIEM_TOPIC, '-o', `s@${sinceMs}`, '-e', '-q', '-f', '%s\n'], {
    encoding: 'utf8',
    timeout: 20_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as OcsfJson);
}

test('statements through the HTTP, PostgreSQL and Snowflake doors reach phigate.siem.v1 as valid OCSF records with the client address and port', async (t) => {
  // The stack's audit service (its SIEM relay) ready first: an earlier test may have restarted the broker under it.
  await stackAuditRecovered();
  const since = Date.now() - 1000;
  const [httpPort, pgPort] = [await freePort(), await freePort()];
  const replicaId = `siem-ocsf-${randomUUID().slice(0, 8)}`;
  const gw = await spawnApp('gateway', 'services/gateway/dist/src/main.js', httpPort, {
    GATEWAY_HTTP_PORT: String(httpPort),
    GATEWAY_PG_PORT: String(pgPort),
    GATEWAY_REPLICA_ID: replicaId,
  });
  t.after(() => gw.kill('SIGTERM'));
  const token = await demoToken('etl-pipeline');

  // HTTP door.
  const res = await fetch(`${gw.url}/v1/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ connection: 'clinical-pg', sql: 'SELECT id, ssn FROM patients WHERE id = 987654321' }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const httpRequest = ((await res.json()) as { requestId: string }).requestId;

  // PostgreSQL door: the record must name this very socket.
  const client = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'etl-pipeline', database: 'clinical-pg', password: token });
  await client.connect();
  const pgLocalPort = (client as unknown as { connection: { stream: { localPort: number } } }).connection.stream.localPort;
  await client.query('SELECT id FROM patients WHERE id = 3');
  await client.query('TRUNCATE claims').catch(() => undefined); // denied by policy: a Failure record
  await client.end();

  // Snowflake door: a login (Authentication) and a statement.
  const sf = async (path: string, body: unknown, sfToken?: string) => {
    const r = await fetch(`${gw.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(sfToken ? { authorization: `Snowflake Token="${sfToken}"` } : {}) },
      body: JSON.stringify(body),
    });
    assert.equal(r.status, 200, path);
    return (await r.json()) as OcsfJson;
  };
  const login = await sf(`/session/v1/login-request?requestId=${randomUUID()}`, {
    data: { ACCOUNT_NAME: 'clinical-sf', AUTHENTICATOR: 'OAUTH', TOKEN: token },
  });
  assert.equal(login.success, true, JSON.stringify(login));
  const sfQuery = await sf(`/queries/v1/query-request?requestId=${randomUUID()}`, { sqlText: 'SELECT ID FROM PATIENTS WHERE ID = 5' }, login.data.token);
  assert.equal(sfQuery.success, true, JSON.stringify(sfQuery));

  const expected = (r: OcsfJson[]) => {
    const doors = new Set(r.map((x) => x.unmapped?.front_door));
    const done = r.filter((x) => x.metadata?.event_code === 'query.served').length;
    return doors.has('http') && doors.has('pgwire') && doors.has('snowflake') && done >= 3 && r.some((x) => x.class_uid === 3002);
  };
  const mine = await eventually(
    `this replica's records on ${SIEM_TOPIC} (the stack's audit service relays them: rebuild it and \`bash deploy/local/bin/stack restart audit\` if they never come)`,
    async () => {
      const r = siemRecordsSince(since).filter((x) => x.device?.name === replicaId);
      return expected(r) ? r : undefined;
    },
    60_000,
    500,
  );

  const schema = loadOcsfSchema();
  assert.deepEqual(
    mine.flatMap((r) => ocsfProblems(schema, r).map((p) => `${r.metadata.event_code}: ${p}`)),
    [],
  );
  for (const r of mine) {
    const ep = r.src_endpoint;
    assert.equal(ep?.ip, '127.0.0.1', `${r.metadata.event_code} (${r.unmapped.front_door}) names the client address`);
    assert.ok(Number.isInteger(ep?.port) && ep.port > 0, `${r.metadata.event_code} (${r.unmapped.front_door}) names the client port`);
    assert.equal(r.metadata.version, '1.4.0');
  }
  assert.ok(
    mine.filter((r) => r.unmapped.front_door === 'pgwire').every((r) => r.src_endpoint.port === pgLocalPort),
    'every PostgreSQL door record names the socket the client connected from',
  );
  const http = mine.filter((r) => r.metadata.correlation_uid === httpRequest);
  // A read that ran without waiting: one record, allowed and completed.
  assert.deepEqual(
    http.map((r) => [r.metadata.event_code, r.class_uid, r.activity_id, r.status_id, r.action_id]),
    [['query.served', 6005, 4, 1, 1]],
  );
  assert.ok(!JSON.stringify(mine).includes('987654321'), 'literals stay redacted');
  const denied = mine.find((r) => r.metadata.event_code === 'policy.decided' && r.status_id === 2);
  assert.ok(denied, 'the denied TRUNCATE is a Failure');
  assert.equal(denied.activity_id, 7, 'TRUNCATE is a Delete');
  assert.ok(
    mine.some((r) => r.class_uid === 3002 && r.unmapped.front_door === 'snowflake' && r.user?.uid === 'etl-pipeline'),
    'the Snowflake login is an Authentication record',
  );
});

test('kcat: every OCSF record on phigate.siem.v1 validates against OCSF 1.4.0 (messages from before the relay mapped to OCSF are old events)', async () => {
  const schema = loadOcsfSchema();
  const failures: string[] = [];
  let records = 0;
  let before = 0;
  // Streamed line by line: a long-lived topic is far larger than one string may be.
  const kcat = spawn('kcat', ['-C', ...kcatArgs(), '-t', SIEM_TOPIC, '-o', 'beginning', '-e', '-q', '-f', '%p %o %s\n'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  kcat.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<number>((resolve) => {
    kcat.on('error', () => resolve(-1));
    kcat.on('close', (code) => resolve(code ?? -1));
  });
  for await (const line of createInterface({ input: kcat.stdout, crlfDelay: Number.POSITIVE_INFINITY })) {
    const [partition, offset] = line.split(' ', 2);
    const where = `partition ${partition} offset ${offset}`;
    let r: OcsfJson;
    try {
      r = JSON.parse(line.slice(`${partition} ${offset} `.length)) as OcsfJson;
    } catch {
      failures.push(`${where}: not JSON`);
      continue;
    }
    if (r.class_uid === undefined) {
      // The pre-OCSF shape: a phigate event (docs/events.md), nothing else.
      if (typeof r.id === 'string' && typeof r.type === 'string') before++;
      else failures.push(`${where}: neither an OCSF record nor a phigate event`);
      continue;
    }
    records++;
    for (const p of ocsfProblems(schema, r)) failures.push(`${where} (${r.metadata?.event_code}): ${p}`);
  }
  const code = await exited;
  if (code !== 0) throw new Error(`kcat could not consume ${SIEM_TOPIC} (exit ${code}: ${stderr.split('\n')[0]}): start the stack with \`npm run stack:up\``);
  assert.ok(records > 0, `${SIEM_TOPIC} holds no OCSF record: is the stack's audit service running this build?`);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} problems in ${records} records (and ${before} events from before the OCSF relay)`);
});
