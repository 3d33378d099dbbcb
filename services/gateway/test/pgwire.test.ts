// phigate-test: stack
// The PostgreSQL wire door on the real stack, with real clients: psql, pgbench, node-postgres,
// psycopg and pgjdbc connect with an access token, read masked rows, see denials as SQLSTATE 42501
// and run transactions; a held statement waits with a NOTICE until a signed approval click; a wire
// fuzzer gets protocol errors and closed connections, never a crashed or stuck gateway. Runs against
// a replica this file starts (TLS certificate of its own, a rate limit pgbench cannot exhaust).
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { deliverClick, signedClick } from '@phigate/slack-sink/click';
import { demoToken, eventually, freePort, need, REPO_ROOT, type SpawnedApp, seededRandom, spawnApp } from '@phigate/testkit';
import pg from 'pg';
import Cursor from 'pg-cursor';

const run = promisify(execFile);
const DB = 'clinical-pg';
let gw: SpawnedApp;
let pgPort = 0;
let dir = '';
let etl = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgwire-'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'],
    {
      stdio: 'ignore',
    },
  );
  const http = await freePort();
  pgPort = await freePort();
  gw = await spawnApp('gateway', 'services/gateway/dist/src/main.js', http, {
    GATEWAY_HTTP_PORT: String(http),
    GATEWAY_PG_PORT: String(pgPort),
    GATEWAY_PG_HOST: '0.0.0.0',
    GATEWAY_PG_TLS_CERT_FILE: join(dir, 'cert.pem'),
    GATEWAY_PG_TLS_KEY_FILE: join(dir, 'key.pem'),
    GATEWAY_PG_AUTH_TIMEOUT_MS: '3000',
    // Above pgbench's 4 concurrent logins from one address; the pre-authentication test fills it.
    GATEWAY_PG_MAX_UNAUTHENTICATED_PER_ADDRESS: '6',
    GATEWAY_RATE_LIMIT_PER_MINUTE: '1000000',
    // Its own budgets: a bench-sized load must not spend the stack gateway's.
    GATEWAY_RATE_LIMIT_KEY_PREFIX: `phigate:rl:pgwire-test-${process.pid}:`,
    GATEWAY_REPLICA_ID: `pgwire-test-${http}`,
    GATEWAY_HELD_RECONCILE_MS: '300',
    // The COPY and cursor tests stream past the door's result maximum (10,000 rows) up to this one.
    GATEWAY_PG_STREAM_MAX_ROWS: '50000',
  });
  etl = await demoToken('etl-pipeline');
});
after(() => gw?.kill('SIGTERM'));

function client(token: string, extra: Partial<pg.ClientConfig> = {}): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'etl-pipeline', database: DB, password: token, ...extra });
}

const conninfo = (user: string, ssl = 'disable') => `host=127.0.0.1 port=${pgPort} user=${user} dbname=${DB} sslmode=${ssl}`;

async function psql(sql: string, token: string, ssl = 'disable'): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run('psql', [conninfo('etl-pipeline', ssl), '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose', '-c', sql], {
      env: { ...process.env, PGPASSWORD: token, PGCONNECT_TIMEOUT: '10' },
    });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

/** The audit store's events of the statement whose text contains `marker`, once its completion is there. */
async function eventsOfStatement(marker: string): Promise<Array<{ type: string; payload: string }>> {
  const audit = new pg.Client({ connectionString: need('AUDIT_DATABASE_URL') });
  await audit.connect();
  try {
    return await eventually(
      `the events of the statement marked ${marker} in the audit store`,
      async () => {
        const { rows } = await audit.query<{ type: string; payload: string }>(
          `select e.type, e.payload::text from audit_events e
          where e.request_id = (select q.request_id from audit_events q
                                where q.type in ('query.received', 'query.served') and coalesce(q.payload::jsonb->'queryReceived', q.payload::jsonb->'queryServed'->'received')->>'statement' like $1 limit 1)
          order by e.seq`,
          [`%${marker}%`],
        );
        return rows.some((r) => r.type === 'query.completed') ? rows : undefined;
      },
      30_000,
    );
  } finally {
    await audit.end();
  }
}

test('node-postgres: masked rows with truthful types, denial 42501 with rule and request id, transactions and failed-transaction state', async (t) => {
  const c = client(etl);
  await c.connect();
  t.after(() => c.end());
  const r = await c.query('SELECT id, ssn, phone, dob FROM patients WHERE id = $1', [3]);
  assert.equal(r.rows[0].id, '3');
  assert.equal(r.rows[0].ssn, '[REDACTED]');
  assert.match(r.rows[0].phone, /^\(\*\*\*\) \*\*\*-\d{4}$/);
  assert.deepEqual(
    r.fields.map((f) => [f.name, f.dataTypeID]),
    [
      ['id', 20],
      ['ssn', 25],
      ['phone', 25],
      ['dob', 1082],
    ],
    'masked columns are text (25); the others keep their upstream types',
  );

  const denied = await c.query('DROP TABLE patients').catch((e: pg.DatabaseError) => e);
  assert.ok(denied instanceof Error);
  assert.equal((denied as pg.DatabaseError).code, '42501');
  assert.match((denied as pg.DatabaseError).message, /denied by policy/);
  assert.match(String((denied as pg.DatabaseError).detail), /rule: block-ddl; reason: .+; request id: [0-9a-f-]{36}/);

  await c.query('BEGIN');
  assert.equal((await c.query('SELECT count(*) AS n FROM claims WHERE patient_id = $1', [1])).rows.length, 1);
  const inTx = await c.query('TRUNCATE claims').catch((e: pg.DatabaseError) => e);
  assert.equal((inTx as pg.DatabaseError).code, '42501');
  const aborted = await c.query('SELECT 1 FROM patients LIMIT 1').catch((e: pg.DatabaseError) => e);
  assert.equal((aborted as pg.DatabaseError).code, '25P02', 'the failed transaction ignores statements until ROLLBACK');
  assert.equal((await c.query('COMMIT')).command, 'ROLLBACK', 'COMMIT of a failed transaction rolls back');

  // Several statements in one Query: one denial stops the batch (and rolls back its implicit transaction).
  const batch = await c.query('SELECT 1 FROM patients LIMIT 1; DROP TABLE claims; SELECT 2 FROM patients LIMIT 1').catch((e: pg.DatabaseError) => e);
  assert.equal((batch as pg.DatabaseError).code, '42501');
  const multi = (await c.query('SELECT id FROM patients WHERE id = 1; SELECT id FROM patients WHERE id = 2')) as unknown as pg.QueryResult[];
  assert.deepEqual(
    multi.map((x) => x.rows[0].id),
    ['1', '2'],
  );
  assert.equal((await c.query('')).rows.length, 0, 'an empty query is answered with EmptyQueryResponse');
});

test('node-postgres: binary results, named statements, a cursor reading in pages (row limits on Execute) over TLS', async (t) => {
  const c = client(etl, { ssl: { rejectUnauthorized: false } });
  await c.connect();
  t.after(() => c.end());
  const b = await c.query({ text: 'SELECT id, dob, ssn, first_name FROM patients WHERE id = $1', values: [5], binary: true } as pg.QueryConfig);
  assert.equal(b.fields[1]?.format, 'binary');
  assert.ok(b.rows[0].dob instanceof Date || typeof b.rows[0].dob === 'string');
  assert.equal(b.rows[0].ssn, '[REDACTED]');
  for (let i = 1; i <= 3; i++) {
    const r = await c.query({ name: 'by-id', text: 'SELECT id, email FROM patients WHERE id = $1', values: [i] });
    assert.equal(r.rows[0].id, String(i));
    assert.equal(r.rows[0].email, '[REDACTED]');
  }
  const cursor = c.query(new Cursor('SELECT id, ssn FROM patients WHERE id <= $1 ORDER BY id', [7], { rowMode: 'array' }));
  const pages: unknown[][][] = [];
  for (;;) {
    const page = (await cursor.read(3)) as unknown[][];
    if (!page.length) break;
    pages.push(page);
  }
  await new Promise<void>((r) => cursor.close(() => r()));
  assert.deepEqual(
    pages.map((p) => p.length),
    [3, 3, 1],
  );
  assert.equal(pages[0]?.[0]?.[1], '[REDACTED]');
});

test('authentication: a token for another client, a bad token, an unknown connection, and cleartext from a non-loopback address', async () => {
  const other = await demoToken('billing-service');
  const wrongUser = await client(other)
    .connect()
    .catch((e: pg.DatabaseError) => e);
  assert.equal((wrongUser as pg.DatabaseError).code, '28P01');
  const bad = await client('not-a-token')
    .connect()
    .catch((e: pg.DatabaseError) => e);
  assert.equal((bad as pg.DatabaseError).code, '28P01');
  const unknown = await client(etl, { database: 'no-such-connection' })
    .connect()
    .catch((e: pg.DatabaseError) => e);
  assert.equal((unknown as pg.DatabaseError).code, '3D000');
  const sf = await client(etl, { database: 'clinical-sf' })
    .connect()
    .catch((e: pg.DatabaseError) => e);
  assert.equal((sf as pg.DatabaseError).code, '3D000', 'a Snowflake connection is not served by the PostgreSQL door');

  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  assert.ok(external, 'this test needs a non-loopback IPv4 address on the machine');
  const cleartext = await client(etl, { host: external })
    .connect()
    .catch((e: pg.DatabaseError) => e);
  assert.equal((cleartext as pg.DatabaseError).code, '28000', 'no password without TLS from outside loopback');
  const overTls = client(etl, { host: external, ssl: { rejectUnauthorized: false } });
  await overTls.connect();
  assert.equal((await overTls.query('SELECT id FROM patients WHERE id = 1')).rows.length, 1);
  await overTls.end();
});

test('psql: masked rows over TLS, a denial with its SQLSTATE, a transaction', async () => {
  const rows = await psql('SELECT id, ssn, email FROM patients ORDER BY id LIMIT 2', etl, 'require');
  assert.equal(rows.code, 0, rows.err);
  assert.deepEqual(rows.out.trim().split('\n'), ['1|[REDACTED]|[REDACTED]', '2|[REDACTED]|[REDACTED]']);
  const denied = await psql('DROP TABLE patients', etl);
  assert.notEqual(denied.code, 0);
  assert.match(denied.err, /ERROR:\s+42501: denied by policy/);
  assert.match(denied.err, /rule: block-ddl/);
  const tx = await psql('BEGIN; SELECT count(*) FROM encounters WHERE patient_id = 1; COMMIT;', etl);
  assert.equal(tx.code, 0, tx.err);
  assert.match(tx.out, /^\d+$/m);
});

test('psql: \\copy and COPY … TO STDOUT are masked reads in CSV and text; COPY to a file, FROM, and unsupported formats stay refused', async () => {
  const csv = await psql('\\copy (SELECT id, ssn, first_name FROM patients WHERE id <= 2 ORDER BY id) to stdout with (format csv, header)', etl);
  assert.equal(csv.code, 0, csv.err);
  const lines = csv.out.trim().split('\n');
  assert.equal(lines[0], 'id,ssn,first_name');
  assert.deepEqual(
    lines.slice(1).map((l) => l.split(',').slice(0, 2)),
    [
      ['1', '[REDACTED]'],
      ['2', '[REDACTED]'],
    ],
  );
  // Text format: tab-separated, NULL as \\N, scrubbed notes.
  const text = await psql('COPY (SELECT id, NULL::text AS nothing, notes FROM encounters WHERE id <= 2 ORDER BY id) TO STDOUT', etl);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out.split('\n')[0]!, /^1\t\\N\t\S/);
  // Decided as its SELECT: ordering by a masked column is refused.
  const ordered = await psql('COPY (SELECT id FROM patients ORDER BY ssn) TO STDOUT', etl);
  assert.match(ordered.err, /42501: denied by policy/);
  assert.match(ordered.err, /rule: block-masked-order/);
  for (const [sql, state] of [
    ["COPY patients TO '/tmp/phigate-x'", '42501'],
    ['COPY claims FROM STDIN', '42501'],
    ['COPY (SELECT 1) TO STDOUT WITH (FORMAT binary)', '0A000'],
  ]) {
    const r = await psql(sql!, etl);
    assert.notEqual(r.code, 0, sql);
    assert.match(r.err, new RegExp(`ERROR:\\s+${state}:`), sql);
  }
});

test('COPY streams an export larger than any buffered result, masked, with its record in order; past the streaming maximum it fails', async () => {
  // 30,000 rows: three times the door's buffered maximum, released as masked batches.
  const marker = `copy_${randomUUID().replaceAll('-', '')}`;
  const big = await psql(`COPY (SELECT p.id, p.ssn, g AS ${marker} FROM patients p CROSS JOIN generate_series(1, 3) g) TO STDOUT WITH (FORMAT csv)`, etl);
  assert.equal(big.code, 0, big.err);
  const lines = big.out.trim().split('\n');
  assert.equal(lines.length, 30_000);
  assert.ok(
    lines.every((l) => ['[REDACTED]', ''].includes(l.split(',')[1]!)),
    'every ssn is masked (or NULL, empty in CSV)',
  );
  // What rows left is on the trail: executed before the first row went out, completed with the count.
  const events = await eventsOfStatement(marker);
  assert.deepEqual(
    events.map((e) => e.type),
    ['query.received', 'policy.decided', 'query.executed', 'masking.applied', 'query.completed'],
  );
  assert.equal((JSON.parse(events.at(-1)!.payload) as { queryCompleted: { rows: number } }).queryCompleted.rows, 30_000);
  // 60,000 rows against a streaming maximum of 50,000: the export fails, named for what it hit.
  const over = await psql('COPY (SELECT p.id FROM patients p CROSS JOIN generate_series(1, 6) g) TO STDOUT', etl);
  assert.notEqual(over.code, 0);
  assert.match(over.err, /ERROR:\s+53400: the result exceeds the maximum rows for this door/);
});

test('psycopg: masked rows, denial, transactions (its implicit BEGIN) and binary results', async () => {
  await run('bash', [join(REPO_ROOT, 'deploy/local/bin/pydeps-pg')]);
  const python = join(REPO_ROOT, '.phigate/venv/bin/python');
  const script = `
import json, sys, psycopg
out = {}
with psycopg.connect(sys.argv[1], password=sys.argv[2]) as conn:
    out["purpose"] = conn.execute("SHOW phigate.purpose").fetchone()[0]
    cur = conn.execute("SELECT id, ssn, phone FROM patients WHERE id = %s", (3,))
    out["row"] = [str(x) for x in cur.fetchone()]
    out["types"] = [d.type_code for d in cur.description]
    conn.commit()
    try:
        conn.execute("DROP TABLE patients")
    except psycopg.Error as e:
        out["denied"] = e.sqlstate
        conn.rollback()
    with conn.transaction():
        out["count"] = conn.execute("SELECT count(*) FROM encounters WHERE patient_id = %s", (1,)).fetchone()[0]
    with conn.cursor(binary=True) as cur:
        cur.execute("SELECT id, dob, first_name, ssn FROM patients WHERE id = %s", (4,))
        out["binary"] = [str(x) for x in cur.fetchone()]
print(json.dumps(out))
`;
  // The purpose of use in the conninfo's options, as a psycopg user states it (issue 21).
  const dsn = `${conninfo('etl-pipeline', 'require')} options='-c phigate.purpose=nightly-load'`;
  const r = await run(python, ['-c', script, dsn, etl], { env: { ...process.env, PHIGATE_HOME: join(REPO_ROOT, '.phigate') } });
  const out = JSON.parse(r.stdout) as { purpose: string; row: string[]; types: number[]; denied: string; count: number; binary: string[] };
  assert.equal(out.purpose, 'nightly-load');
  assert.equal(out.row[0], '3');
  assert.equal(out.row[1], '[REDACTED]');
  assert.deepEqual(out.types, [20, 25, 25]);
  assert.equal(out.denied, '42501');
  assert.ok(out.count >= 0);
  assert.equal(out.binary[0], '4');
  assert.match(out.binary[1]!, /^\d{4}-\d\d-\d\d$/);
  assert.equal(out.binary[3], '[REDACTED]');
});

test('session statements: SET/RESET/SHOW of allowed settings (kept per client across the pool, undone by ROLLBACK), reset sequences answered, anything else refused naming the setting', async (t) => {
  const a = client(etl);
  const b = client(etl);
  await a.connect();
  await b.connect();
  t.after(() => Promise.all([a.end(), b.end()]));
  const one = async (c: pg.Client, sql: string) => Object.values((await c.query(sql)).rows[0] ?? {})[0];
  const tz = (c: pg.Client) => one(c, "SELECT to_char(timestamptz '2026-01-01 12:00:00+00', 'HH24') AS h");
  assert.equal(await one(a, 'SHOW TimeZone'), await one(b, 'SHOW TimeZone'));
  await a.query("SET TIME ZONE 'Asia/Tokyo'");
  assert.equal(await one(a, 'SHOW timezone'), 'Asia/Tokyo');
  assert.equal(await tz(a), '21', "the upstream runs a's statements in a's time zone");
  assert.equal(await tz(b), '12', 'b shares the pool, not the setting');
  await a.query('BEGIN');
  await a.query("SET TIME ZONE 'Europe/Paris'");
  assert.equal(await tz(a), '13');
  await a.query('ROLLBACK');
  assert.equal(await one(a, 'SHOW TimeZone'), 'Asia/Tokyo', 'ROLLBACK undoes a SET, as in PostgreSQL');
  // SET LOCAL lasts until the transaction ends, committed or not; outside one it only warns.
  await a.query('BEGIN');
  await a.query("SET LOCAL TIME ZONE 'Europe/Paris'");
  await a.query("SET LOCAL statement_timeout = '5s'");
  assert.equal(await tz(a), '13');
  assert.equal(await one(a, 'SHOW statement_timeout'), '5s');
  await a.query('COMMIT');
  assert.equal(await one(a, 'SHOW TimeZone'), 'Asia/Tokyo', 'COMMIT ends a SET LOCAL');
  assert.equal(await tz(a), '21');
  const warnings: string[] = [];
  a.on('notice', (n) => warnings.push(`${n.severity} ${n.code}`));
  await a.query("SET LOCAL TIME ZONE 'Europe/Paris'");
  assert.deepEqual(warnings, ['WARNING 25P01']);
  assert.equal(await one(a, 'SHOW TimeZone'), 'Asia/Tokyo');
  await a.query("SET statement_timeout = '1s'");
  await assert.rejects(a.query('SELECT pg_sleep(2) FROM patients WHERE id = 1'), (e: { code?: string }) => e.code === '57014');
  await a.query('RESET ALL');
  assert.equal(await tz(a), '12');
  assert.equal(await one(a, 'SHOW transaction isolation level'), 'read committed');
  // What pools and drivers send on release (asyncpg's reset query, psycopg's DEALLOCATE ALL, DISCARD ALL).
  const reset = (await a.query('SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;')) as unknown as Array<{ command: string }>;
  assert.deepEqual(
    reset.map((r) => r.command),
    ['SELECT', 'CLOSE', 'UNLISTEN', 'RESET'],
  );
  for (const sql of ['DISCARD ALL', 'DEALLOCATE ALL', 'SET search_path TO public', "SET application_name = 'etl-job-7'"]) await a.query(sql);
  await a.query('BEGIN');
  await assert.rejects(a.query('DISCARD ALL'), (e: { code?: string }) => e.code === '25001');
  await a.query('ROLLBACK');
  // A setting sent in the startup packet (node-postgres sends statement_timeout there) is taken as a SET.
  const timed = client(etl, { statement_timeout: 1000 });
  await timed.connect();
  t.after(() => timed.end());
  assert.equal(await one(timed, 'SHOW statement_timeout'), '1000');
  await assert.rejects(timed.query('SELECT pg_sleep(2) FROM patients WHERE id = 1'), (e: { code?: string }) => e.code === '57014');
  // Settings asked for in the startup options (libpq's PGOPTIONS): taken when allowed; any other ends the login, named.
  const opts = await run('psql', [conninfo('etl-pipeline'), '-X', '-A', '-t', '-c', 'SHOW statement_timeout', '-c', 'SHOW TimeZone'], {
    env: { ...process.env, PGPASSWORD: etl, PGOPTIONS: '-c statement_timeout=7s -c TimeZone=Asia/Tokyo' },
  });
  assert.deepEqual(opts.stdout.trim().split('\n'), ['7s', 'Asia/Tokyo']);
  const refused = await run('psql', [conninfo('etl-pipeline'), '-X', '-c', 'SELECT 1'], {
    env: { ...process.env, PGPASSWORD: etl, PGOPTIONS: '-c work_mem=1GB', PG_COLOR: 'never' },
  }).catch((x: { stderr: string }) => x);
  assert.match(refused.stderr, /FATAL:\s+setting "work_mem" cannot be changed through phigate/);
  // Anything that could escape the mapped role is refused by policy (and audited), naming the setting.
  for (const [sql, name] of [
    ['SET ROLE postgres', 'role'],
    ['SET SESSION AUTHORIZATION postgres', 'session authorization'],
    ['SET search_path TO pg_temp, public', 'search_path'],
    ["SET work_mem = '1GB'", 'work_mem'],
    ["SET LOCAL work_mem = '1GB'", 'work_mem'],
  ]) {
    const e = (await a.query(sql!).then(
      () => undefined,
      (x) => x,
    )) as { code?: string; message?: string; detail?: string } | undefined;
    assert.equal(e?.code, '42501', sql);
    assert.ok(e?.message?.startsWith(`setting "${name}" cannot be changed through phigate`), `${sql}: ${e?.message}`);
    assert.match(e?.detail ?? '', /rule: block-session-state/);
  }
});

test('cursors: DECLARE is decided and masked as its SELECT, FETCH/MOVE read forward, CLOSE; without HOLD only in a transaction, which ends them', async (t) => {
  const c = client(etl);
  await c.connect();
  t.after(() => c.end());
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (e: { code?: string }) => e.code,
    );
  assert.equal(await code(c.query('DECLARE c1 CURSOR FOR SELECT id FROM patients')), '25P01');
  await c.query('BEGIN');
  await c.query('DECLARE c1 CURSOR FOR SELECT id, ssn FROM patients WHERE id <= 5 ORDER BY id');
  assert.deepEqual((await c.query('FETCH 2 FROM c1')).rows, [
    { id: '1', ssn: '[REDACTED]' },
    { id: '2', ssn: '[REDACTED]' },
  ]);
  assert.equal((await c.query('MOVE 1 IN c1')).rowCount, 1);
  assert.deepEqual(
    (await c.query('FETCH ALL FROM c1')).rows.map((r) => r.id),
    ['4', '5'],
  );
  assert.equal((await c.query('FETCH NEXT FROM c1')).rowCount, 0);
  assert.equal(await code(c.query('FETCH BACKWARD 1 FROM c1')), '0A000');
  await c.query('ROLLBACK');
  await c.query('BEGIN');
  assert.equal(await code(c.query('FETCH 1 FROM c1')), '34000', 'the transaction ended the cursor');
  await c.query('ROLLBACK');
  // A cursor over a masked column's order is refused as its SELECT would be.
  await c.query('BEGIN');
  assert.equal(await code(c.query('DECLARE c2 CURSOR FOR SELECT id FROM patients ORDER BY ssn')), '42501');
  await c.query('ROLLBACK');
  await c.query('DECLARE h CURSOR WITH HOLD FOR SELECT id FROM claims WHERE id <= 3 ORDER BY id');
  assert.deepEqual(
    (await c.query('FETCH ALL FROM h')).rows.map((r) => r.id),
    ['1', '2', '3'],
  );
  await c.query('CLOSE h');
  assert.equal(await code(c.query('CLOSE h')), '34000');
});

test('cursors stream: a cursor in a transaction reads on from the upstream, far past the buffered maximum, masked page by page, other statements between its FETCHes; its record closes with it', async (t) => {
  const c = client(etl);
  await c.connect();
  t.after(() => c.end());
  const marker = `cur_${randomUUID().replaceAll('-', '')}`;
  await c.query('BEGIN');
  // 30,000 rows: three times what one buffered result may hold.
  await c.query(`DECLARE big CURSOR FOR SELECT p.id, p.ssn, g AS ${marker} FROM patients p CROSS JOIN generate_series(1, 3) g`);
  let total = 0;
  for (;;) {
    const page = await c.query('FETCH 7000 FROM big');
    assert.ok(
      page.rows.every((r) => r.ssn === null || r.ssn === '[REDACTED]'),
      'every page is masked',
    );
    total += page.rowCount ?? 0;
    // The transaction is the client's: other statements run between FETCHes.
    assert.equal((await c.query('SELECT ssn FROM patients WHERE id = 1')).rows[0].ssn, '[REDACTED]');
    if (!page.rowCount) break;
  }
  assert.equal(total, 30_000);
  assert.equal((await c.query('MOVE ALL IN big')).rowCount, 0);
  await c.query('CLOSE big');
  await c.query('COMMIT');
  const events = await eventsOfStatement(marker);
  assert.deepEqual(
    events.map((e) => e.type),
    ['query.received', 'policy.decided', 'query.executed', 'masking.applied', 'query.completed'],
  );
  assert.equal((JSON.parse(events.at(-1)!.payload) as { queryCompleted: { rows: number } }).queryCompleted.rows, 30_000);
  // Past the door's streaming maximum (50,000 here) the FETCH fails and the transaction with it.
  await c.query('BEGIN');
  await c.query('DECLARE huge CURSOR FOR SELECT p.id FROM patients p CROSS JOIN generate_series(1, 6) g');
  const over = await c.query('FETCH ALL FROM huge').catch((e: { code?: string }) => e);
  assert.equal((over as { code?: string }).code, '53400');
  await c.query('ROLLBACK');
});

test('psycopg: SHOW at connect, auto-prepared statements and DEALLOCATE ALL on rollback, SET TIME ZONE, a named (server-side) cursor, copy in text and CSV', async () => {
  const python = join(REPO_ROOT, '.phigate/venv/bin/python');
  const script = `
import json, sys, psycopg
out = {}
with psycopg.connect(sys.argv[1], password=sys.argv[2], prepare_threshold=2) as conn:
    out["isolation"] = conn.execute("SHOW transaction isolation level").fetchone()[0]
    for i in range(6):
        conn.execute("SELECT id, ssn FROM patients WHERE id = %s", (i + 1,)).fetchone()
    conn.rollback()
    out["after"] = [str(x) for x in conn.execute("SELECT id, ssn FROM patients WHERE id = %s", (2,)).fetchone()]
    conn.execute("SET TIME ZONE 'Asia/Tokyo'")
    out["tz"] = conn.info.parameter_status("TimeZone")
    out["hour"] = conn.execute("SELECT to_char(timestamptz '2026-01-01 12:00:00+00', 'HH24')").fetchone()[0]
    conn.commit()
    with conn.cursor(name="named") as cur:
        cur.itersize = 2
        cur.execute("SELECT id, ssn FROM patients WHERE id <= 5 ORDER BY id")
        out["named"] = [[str(x) for x in r] for r in cur.fetchmany(2)] + [[str(x) for x in r] for r in cur]
    conn.commit()
    with conn.cursor() as cur:
        with cur.copy("COPY (SELECT id, ssn FROM patients WHERE id <= 3 ORDER BY id) TO STDOUT") as copy:
            out["copy"] = [list(r) for r in copy.rows()]
        with cur.copy("COPY (SELECT id, ssn FROM patients WHERE id <= 2 ORDER BY id) TO STDOUT WITH (FORMAT csv)") as copy:
            out["copyCsv"] = b"".join(bytes(b) for b in copy).decode()
print(json.dumps(out))
`;
  const r = await run(python, ['-c', script, conninfo('etl-pipeline', 'require'), etl], { env: { ...process.env, PHIGATE_HOME: join(REPO_ROOT, '.phigate') } });
  assert.deepEqual(JSON.parse(r.stdout), {
    isolation: 'read committed',
    after: ['2', '[REDACTED]'],
    tz: 'Asia/Tokyo',
    hour: '21',
    named: [1, 2, 3, 4, 5].map((id) => [String(id), '[REDACTED]']),
    copy: [1, 2, 3].map((id) => [String(id), '[REDACTED]']),
    copyCsv: '1,[REDACTED]\n2,[REDACTED]\n',
  });
});

test('catalog introspection: psql \\dt, \\d, \\l, \\dn, \\du and the other describe commands, SQLAlchemy inspect() and asyncpg see the tables and columns the mapped role may read, nothing else', async () => {
  const billing = await demoToken('billing-service');
  const dt = await psql('\\dt', etl);
  assert.equal(dt.code, 0, dt.err);
  assert.deepEqual(
    [...dt.out.matchAll(/^public\|(\w+)\|table\|/gm)].map((m) => m[1]),
    ['claims', 'encounters', 'patients'],
    'demo_meta, which clinical_reader may not read, is not listed',
  );
  const d = await psql('\\d patients', etl);
  assert.equal(d.code, 0, d.err);
  assert.match(d.out, /^ssn\|text\|/m);
  // psql's other describe commands run, and list only what the role may see.
  for (const cmd of ['\\l', '\\dn', '\\du', '\\dd', '\\di', '\\dv', '\\df', '\\dT', '\\dx', '\\dF', '\\z', '\\d+ patients', '\\dt+']) {
    const r = await psql(cmd, etl);
    assert.equal(r.code, 0, `${cmd}: ${r.err}`);
    assert.doesNotMatch(r.out, /demo_meta/, cmd);
  }
  assert.match((await psql('\\dn', etl)).out, /^public\|/m);
  assert.match((await psql('\\di', etl)).out, /^public\|claims_patient_id_idx\|index\|/m);
  // claims_writer holds only patients.id: it sees that column and nothing else of the table.
  const mine = await run('psql', [`host=127.0.0.1 port=${pgPort} user=billing-service dbname=${DB} sslmode=disable`, '-X', '-A', '-t', '-c', '\\d patients'], {
    env: { ...process.env, PGPASSWORD: billing, PGCONNECT_TIMEOUT: '10' },
  });
  assert.deepEqual(
    [...mine.stdout.matchAll(/^(\w+)\|(bigint|text|date)\|/gm)].map((m) => m[1]),
    ['id'],
  );
  // Catalog relations the gateway does not serve stay refused.
  for (const sql of ['SELECT * FROM pg_stats', 'SELECT query FROM pg_stat_activity', 'SELECT rolpassword FROM pg_authid']) {
    const r = await psql(sql, etl);
    assert.match(r.err, /42501: denied by policy/, sql);
  }
  const python = join(REPO_ROOT, '.phigate/venv/bin/python');
  const script = `
import asyncio, json, sys, time
from sqlalchemy import create_engine, inspect, text
import asyncpg
host, port, user, token = sys.argv[1:5]
out = {}
# SQLAlchemy 2 with both psycopg drivers: connect (each looks up hstore in pg_type), inspect(), stream_results.
for driver in ("psycopg", "psycopg2"):
    eng = create_engine(f"postgresql+{driver}://{user}@{host}:{port}/clinical-pg", connect_args={"password": token, "sslmode": "disable"})
    i = inspect(eng)
    out[driver] = {"tables": sorted(i.get_table_names()), "columns": [c["name"] for c in i.get_columns("patients")]}
    with eng.connect() as c:
        with c.execution_options(stream_results=True, yield_per=2).execute(text("SELECT id FROM claims WHERE id <= 5 ORDER BY id")) as r:
            out[driver]["stream"] = [row[0] for row in r]
    eng.dispose()
async def apg():
    pool = await asyncpg.create_pool(host=host, port=int(port), user=user, database="clinical-pg", password=token, ssl=False, min_size=1, max_size=1)
    async with pool.acquire() as conn:
        out["asyncpg"] = [dict(r) for r in await conn.fetch("SELECT id, ssn FROM patients WHERE id <= $1 ORDER BY id", 2)]
        async with conn.transaction():
            out["cursor"] = [r["id"] async for r in conn.cursor("SELECT id FROM claims WHERE id <= 3 ORDER BY id")]
        try:
            await conn.fetch("SELEC 1")
        except asyncpg.PostgresError as e:
            out["typo"] = e.sqlstate
        buf = []
        async def write(b): buf.append(b)
        await conn.copy_from_query("SELECT id, ssn FROM patients WHERE id <= 2 ORDER BY id", output=write, format="csv")
        out["copy"] = b"".join(buf).decode()
    # Released (asyncpg's reset query) and acquired again: the same session works.
    async with pool.acquire() as conn:
        out["again"] = await conn.fetchval("SELECT count(*) FROM patients WHERE id <= 3")
    await pool.close()
asyncio.run(apg())
print(json.dumps(out))
`;
  const r = await run(python, ['-c', script, '127.0.0.1', String(pgPort), 'etl-pipeline', etl], {
    env: { ...process.env, PHIGATE_HOME: join(REPO_ROOT, '.phigate') },
  });
  const sqlalchemy = {
    tables: ['claims', 'encounters', 'patients'],
    columns: ['id', 'mrn', 'first_name', 'last_name', 'ssn', 'dob', 'zip', 'phone', 'email', 'notes'],
    stream: [1, 2, 3, 4, 5],
  };
  assert.deepEqual(JSON.parse(r.stdout), {
    psycopg: sqlalchemy,
    psycopg2: sqlalchemy,
    asyncpg: [
      { id: 1, ssn: '[REDACTED]' },
      { id: 2, ssn: '[REDACTED]' },
    ],
    cursor: [1, 2, 3],
    typo: '42601',
    copy: '1,[REDACTED]\n2,[REDACTED]\n',
    again: 3,
  });
});

test('pgjdbc: masked rows (text, then server-prepared binary), a denial, a transaction, DatabaseMetaData tables and columns', async () => {
  const jar = (await run('bash', [join(REPO_ROOT, 'deploy/local/bin/jdeps-pg'), '--print'])).stdout.trim();
  await run('bash', [join(REPO_ROOT, 'deploy/local/bin/jdeps-pg')]);
  const src = join(REPO_ROOT, 'services/gateway/test/fixtures/jdbc/PgwireCheck.java');
  await run('javac', ['-d', dir, '-cp', jar, src]);
  // The purpose of use in the URL's options, as a JDBC user states it (issue 21).
  const url = `jdbc:postgresql://127.0.0.1:${pgPort}/${DB}?sslmode=require&options=${encodeURIComponent('-c phigate.purpose=nightly-load')}`;
  const r = await run('java', ['-cp', `${jar}:${dir}`, 'PgwireCheck', url, 'etl-pipeline', etl]);
  const lines = r.stdout.trim().split('\n');
  const rows = lines.filter((l) => l.startsWith('row='));
  assert.equal(rows.length, 6);
  for (const [i, row] of rows.entries()) assert.match(row, new RegExp(`^row=${i + 1}\\|\\[REDACTED\\]\\|\\d{4}-\\d\\d-\\d\\d\\|.+$`));
  assert.ok(lines.includes('purpose=nightly-load'), lines.join('\n'));
  assert.ok(lines.includes('ssnType=text'), lines.join('\n'));
  assert.ok(lines.includes('denied=42501'), lines.join('\n'));
  assert.ok(lines.includes('tx=ok'), lines.join('\n'));
  assert.ok(lines.includes('tables=claims,encounters,patients'), lines.join('\n'));
  assert.ok(lines.includes('columns=id,mrn,first_name,last_name,ssn,dob,zip,phone,email,notes'), lines.join('\n'));
});

test('pgbench: a point-query script in simple and extended mode runs without a failed transaction', async () => {
  const script = join(dir, 'point.sql');
  writeFileSync(script, '\\set id random(1, 10000)\nSELECT id, first_name, ssn FROM patients WHERE id = :id;\n');
  for (const mode of ['simple', 'extended']) {
    const r = await run('pgbench', ['-n', '-M', mode, '-c', '4', '-j', '2', '-T', '3', '-f', script, conninfo('etl-pipeline')], {
      env: { ...process.env, PGPASSWORD: etl },
    });
    const done = Number(/number of transactions actually processed: (\d+)/.exec(r.stdout)?.[1] ?? 0);
    assert.ok(done > 0, `${mode}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /number of failed transactions: 0 /, `${mode}: ${r.stdout}`);
  }
});

test('a held statement waits with a NOTICE naming its approval, and completes after a signed approval click', async (t) => {
  const agent = await demoToken('analytics-agent');
  // The purpose of use, which the analytics agent's binding requires, as a startup option.
  const c = client(agent, { user: 'analytics-agent', options: '-c phigate.purpose=population-health' });
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(`${n.message} | ${n.detail ?? ''}`));
  await c.connect();
  t.after(() => c.end());
  const pending = c.query('SELECT id, ssn FROM patients WHERE id = $1', [7]);
  const approvalId = await eventually('the held NOTICE', async () => /approval id: ([0-9a-f-]{36})/.exec(notices.join('\n'))?.[1]);
  const click = signedClick({ approvalUrl: need('APPROVAL_URL'), secret: need('SLACK_SIGNING_SECRET'), user: 'U0ALICE', action: 'approve', approvalId });
  assert.equal((await deliverClick(need('APPROVAL_URL'), click)).body.outcome, 'granted');
  const r = await pending;
  assert.deepEqual(r.rows, [{ id: '7', ssn: '[REDACTED]' }], 'approval does not lift masking');

  await c.query('BEGIN');
  const inTx = await c.query('SELECT id, ssn FROM patients WHERE id = 8').catch((e: pg.DatabaseError) => e);
  assert.equal((inTx as pg.DatabaseError).code, '25001', 'a statement needing approval cannot wait inside a transaction');
  await c.query('ROLLBACK');
});

// ---- a minimal raw client for the protocol tests ----

interface Msg {
  type: string;
  body: Buffer;
}

class Raw {
  private buf = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  closed = false;
  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiting?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    sock.on('error', () => undefined);
  }

  /** `from`: the local (source) address, any of 127.0.0.0/8. */
  static async open(from?: string): Promise<Raw> {
    const sock = netConnect({ host: '127.0.0.1', port: pgPort, ...(from ? { localAddress: from } : {}) });
    await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
    return new Raw(sock);
  }

  /** Messages until one of `types` (inclusive), or 'closed'; fails when nothing comes in `ms`. */
  async until(types: string, ms = 5000): Promise<Msg[] | 'closed'> {
    const out: Msg[] = [];
    const deadline = Date.now() + ms;
    for (;;) {
      while (this.buf.length >= 5 && this.buf.length >= this.buf.readInt32BE(1) + 1) {
        const len = this.buf.readInt32BE(1);
        const m = { type: String.fromCharCode(this.buf[0]!), body: this.buf.subarray(5, len + 1) };
        this.buf = this.buf.subarray(len + 1);
        out.push(m);
        if (types.includes(m.type)) return out;
      }
      if (this.closed) return 'closed';
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`stuck: no ${types} within ${ms} ms (got ${out.map((m) => m.type).join('')})`);
      await new Promise<void>((r) => {
        this.waiting = r;
        setTimeout(r, left);
      });
    }
  }

  async login(token = etl): Promise<{ pid: number; key: number }> {
    this.sock.write(startup('etl-pipeline', DB));
    assert.notEqual(await this.until('R'), 'closed');
    this.sock.write(msg('p', cstr(token)));
    const got = await this.until('ZE');
    assert.ok(got !== 'closed' && got.at(-1)?.type === 'Z', 'logged in');
    const k = (got as Msg[]).find((m) => m.type === 'K')!;
    return { pid: k.body.readInt32BE(0), key: k.body.readInt32BE(4) };
  }
}

const cstr = (s: string) => Buffer.from(`${s}\0`);
function msg(type: string, body: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.write(type);
  h.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([h, body]);
}
function startup(user: string, database: string): Buffer {
  const body = Buffer.concat([cstr('user'), cstr(user), cstr('database'), cstr(database), Buffer.from([0])]);
  const h = Buffer.alloc(8);
  h.writeInt32BE(body.length + 8, 0);
  h.writeInt32BE(196608, 4);
  return Buffer.concat([h, body]);
}
const sqlstate = (m: Msg) => /C([0-9A-Z]{5})\0/.exec(m.body.toString('latin1'))?.[1];

test('protocol: out-of-order messages are errors until Sync; CancelRequest cancels a running statement; Describe tells the truth before Execute', async (t) => {
  const c = await Raw.open();
  t.after(() => c.sock.destroy());
  const { pid, key } = await c.login();
  // Execute and Bind of things that do not exist: an error, then everything is skipped until Sync.
  c.sock.write(
    Buffer.concat([
      msg('E', Buffer.concat([cstr('nope'), Buffer.alloc(4)])),
      msg('B', Buffer.concat([cstr(''), cstr('x'), Buffer.alloc(6)])),
      msg('S', Buffer.alloc(0)),
    ]),
  );
  const skipped = await c.until('Z');
  assert.ok(skipped !== 'closed');
  assert.deepEqual(
    skipped.map((m) => m.type),
    ['E', 'Z'],
  );
  assert.equal(sqlstate(skipped[0]!), '26000');

  // Parse + Describe(statement) + Sync: parameter types and a row description with the mask applied.
  const p = Buffer.concat([cstr('s1'), cstr('SELECT id, ssn FROM patients WHERE id = $1'), Buffer.from([0, 0])]);
  c.sock.write(Buffer.concat([msg('P', p), msg('D', Buffer.concat([Buffer.from('S'), cstr('s1')])), msg('S', Buffer.alloc(0))]));
  const described = await c.until('Z');
  assert.ok(described !== 'closed');
  assert.deepEqual(
    described.map((m) => m.type),
    ['1', 't', 'T', 'Z'],
  );
  const t_ = described[1]!.body;
  assert.equal(t_.readUInt32BE(2), 20, 'the parameter is int8 (from the upstream)');
  const desc = described[2]!.body;
  const ssnAt = desc.indexOf(cstr('ssn'));
  assert.equal(desc.readUInt32BE(ssnAt + 4 + 4 + 2), 25, 'the masked ssn column is described as text');

  // CancelRequest with the BackendKeyData interrupts a running statement upstream.
  c.sock.write(msg('Q', cstr('SELECT pg_sleep(20) FROM patients WHERE id = 1')));
  await new Promise((r) => setTimeout(r, 500));
  const cancel = Buffer.alloc(16);
  cancel.writeInt32BE(16, 0);
  cancel.writeInt32BE(80877102, 4);
  cancel.writeInt32BE(pid, 8);
  cancel.writeInt32BE(key, 12);
  const cs = netConnect({ host: '127.0.0.1', port: pgPort }, () => cs.end(cancel));
  const canceled = await c.until('Z', 10_000);
  assert.ok(canceled !== 'closed');
  const err = canceled.find((m) => m.type === 'E');
  assert.ok(err, `expected an error, got ${canceled.map((m) => m.type).join('')}`);
  assert.ok(['57014', '42501'].includes(sqlstate(err)!), `canceled (or refused by policy): ${sqlstate(err)}`);
});

/** A field of an ErrorResponse (`M` message, `P` position, …). */
const errField = (m: Msg, f: string) =>
  m.body
    .toString('utf8')
    .split('\0')
    .find((x) => x.startsWith(f))
    ?.slice(1);

test('errors like PostgreSQL: a typo is 42601 with its position, an unknown relation 42P01, an unknown column 42703, in both protocols, and Parse + Describe + Sync always ends in ReadyForQuery', async (t) => {
  const cases: Array<[string, string, string, number]> = [
    ['SELEC 1', '42601', 'syntax error at or near "SELEC"', 1],
    ['SELECT * FROM nosuch', '42P01', 'relation "nosuch" does not exist', 15],
    ['SELECT nosuchcol FROM patients', '42703', 'column "nosuchcol" does not exist', 8],
    // A literal the parser quotes never comes back.
    ["SELECT id FROM patients WHERE mrn = 'MRN-secret-1", '42601', 'unterminated quoted string at or near "?"', 37],
  ];
  // Extended protocol, as asyncpg and pgx send it: Parse + Describe(statement) + Sync.
  const raw = await Raw.open();
  t.after(() => raw.sock.destroy());
  await raw.login();
  for (const [sql, state, message, position] of cases) {
    raw.sock.write(
      Buffer.concat([
        msg('P', Buffer.concat([cstr(''), cstr(sql), Buffer.from([0, 0])])),
        msg('D', Buffer.concat([Buffer.from('S'), cstr('')])),
        msg('S', Buffer.alloc(0)),
      ]),
    );
    const got = await raw.until('Z');
    assert.ok(got !== 'closed', sql);
    assert.deepEqual(
      got.map((m) => m.type),
      ['1', 'E', 'Z'],
      sql,
    );
    const e = got[1]!;
    assert.deepEqual([sqlstate(e), errField(e, 'M'), Number(errField(e, 'P'))], [state, message, position], sql);
  }
  // Simple and extended protocol through node-postgres.
  const c = client(etl);
  await c.connect();
  t.after(() => c.end());
  for (const [sql, state, message, position] of cases) {
    for (const values of [undefined, []]) {
      const err = (await c.query(sql, values).then(
        () => undefined,
        (e) => e,
      )) as { code?: string; message?: string; position?: string } | undefined;
      assert.deepEqual([err?.code, err?.message, Number(err?.position)], [state, message, position], `${sql} (${values ? 'extended' : 'simple'})`);
    }
  }
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1, 'the session is still usable');
});

test('wire fuzz: malformed, truncated and random frames get protocol errors and closed connections; the gateway stays up', async () => {
  const startupPacket = startup('etl-pipeline', DB);
  const cases: Array<[string, Buffer]> = [
    ['absurd startup length', Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0])],
    ['negative startup length', Buffer.from([0xff, 0xff, 0xff, 0xf0, 0, 3, 0, 0])],
    ['protocol 2', Buffer.from([0, 0, 0, 8, 0, 2, 0, 0])],
    ['garbage', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['startup with unterminated parameters', Buffer.concat([Buffer.from([0, 0, 0, 14, 0, 3, 0, 0]), Buffer.from('user\0e')])],
    ['query before authentication', Buffer.concat([startupPacket, msg('Q', cstr('SELECT 1'))])],
  ];
  for (const [name, bytes] of cases) {
    const c = await Raw.open();
    c.sock.write(bytes);
    const r = await c.until('E', 5000).catch((e: Error) => e);
    assert.ok(!(r instanceof Error), `${name}: ${r instanceof Error ? r.message : ''}`);
    if (r !== 'closed') assert.equal(await c.until('Z', 5000), 'closed', `${name}: the connection is closed after the error`);
    c.sock.destroy();
  }
  // A truncated startup packet and silence: closed by the authentication timeout, not held forever.
  const slow = await Raw.open();
  slow.sock.write(startupPacket.subarray(0, 6));
  assert.equal(await slow.until('Z', 8000), 'closed');

  // After authentication: random frames (valid and invalid types, lengths, bodies), each followed
  // by Sync and a query. The answer is a protocol error and a close, or errors and ReadyForQuery.
  const rand = seededRandom(20_260_915);
  const codes = 'PBDECSHXQpdcf?\0';
  for (let i = 0; i < 60; i++) {
    const c = await Raw.open();
    await c.login();
    const type = codes[Math.floor(rand() * codes.length)]!;
    const body = Buffer.from(Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)));
    let frame = msg(type, body);
    const mutate = rand();
    if (mutate < 0.2) frame.writeInt32BE(Math.floor(rand() * 0x7fffffff), 1);
    else if (mutate < 0.4) frame.writeInt32BE(-Math.floor(rand() * 1000), 1);
    else if (mutate < 0.6) frame = frame.subarray(0, Math.floor(rand() * frame.length));
    c.sock.write(Buffer.concat([frame, msg('S', Buffer.alloc(0))]));
    const r = await c.until('Z', 1000).catch((e: Error) => e);
    // A frame that claims more bytes than it sent waits for them: that is the client's to finish.
    if (r instanceof Error) assert.match(r.message, /stuck/);
    c.sock.destroy();
  }

  const ready = await fetch(`${gw.url}/readyz`);
  assert.equal(ready.status, 200);
  const c = client(etl);
  await c.connect();
  assert.equal((await c.query('SELECT id FROM patients WHERE id = 1')).rows[0].id, '1');
  await c.end();
});

test('pre-authentication limits: sockets that never authenticate are capped per source address and closed by the timeout; everyone else is served', async (t) => {
  // A source address of its own (loopback has all of 127/8): nothing else in this file uses it.
  const FROM = '127.0.0.3';
  const silent = await Promise.all(Array.from({ length: 6 }, () => Raw.open(FROM)));
  t.after(() => {
    for (const c of silent) c.sock.destroy();
  });
  silent[0]!.sock.write(startup('etl-pipeline', DB).subarray(0, 6));
  // The seventh from that address is refused with 53300 while the six wait.
  const seventh = await Raw.open(FROM);
  const refused = await seventh.until('E', 5000);
  assert.ok(refused !== 'closed', 'an ErrorResponse before the close');
  assert.equal(sqlstate(refused.at(-1)!), '53300');
  assert.equal(await seventh.until('Z', 5000), 'closed');
  // Another address, an authenticated session: served as usual.
  const c = client(etl);
  await c.connect();
  assert.equal((await c.query('SELECT id FROM patients WHERE id = 1')).rows[0].id, '1');
  // The silent ones are closed by the authentication timeout (3 s here); then the address is free.
  for (const s of silent) assert.equal(await s.until('Z', 10_000), 'closed');
  const again = await Raw.open(FROM);
  t.after(() => again.sock.destroy());
  await again.login();
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1, 'the authenticated session was never disturbed');
  await c.end();
});

test('the stack gateway serves the PostgreSQL door on its configured address', async () => {
  const [host, port] = need('GATEWAY_PG_ADDR').split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'etl-pipeline', database: DB, password: etl });
  await c.connect();
  assert.equal((await c.query('SELECT ssn FROM patients WHERE id = 1')).rows[0].ssn, '[REDACTED]');
  await c.end();
});

test('a session is on the audit trail: session.opened at login and session.closed at Terminate, keyed by the session id', async () => {
  // This session, and only this one, is found by the statement it ran (other tests' sessions of
  // the same identity may close in the same second, some of them by dropping the socket).
  const marker = `one_${randomUUID().replaceAll('-', '')}`;
  const c = client(etl);
  await c.connect();
  await c.query(`SELECT 1 AS ${marker}`);
  await c.end();
  const audit = new pg.Client({ connectionString: need('AUDIT_DATABASE_URL') });
  await audit.connect();
  try {
    const types = await eventually(
      "this session's events in the audit store",
      async () => {
        const { rows } = await audit.query<{ types: string[] }>(
          `select array_agg(s.type order by s.seq) as types from audit_events s
          where s.request_id = (select q.payload::jsonb->>'sessionId' from audit_events q
                                where q.type in ('query.received', 'query.served') and coalesce(q.payload::jsonb->'queryReceived', q.payload::jsonb->'queryServed'->'received')->>'statement' like $1 limit 1)
            and s.type like 'session.%' and s.payload::jsonb->>'frontDoor' = 'pgwire' and s.payload::jsonb->>'producer' = 'gateway'`,
          [`%${marker}%`],
        );
        const t = rows[0]?.types;
        return t?.includes('session.opened') && t.includes('session.closed') ? t : undefined;
      },
      30_000,
    );
    assert.deepEqual(types, ['session.opened', 'session.closed']);
    const { rows } = await audit.query<{ payload: string }>(
      `select s.payload::text from audit_events s
      where s.type = 'session.closed' and s.request_id = (select q.payload::jsonb->>'sessionId' from audit_events q
        where q.type in ('query.received', 'query.served') and coalesce(q.payload::jsonb->'queryReceived', q.payload::jsonb->'queryServed'->'received')->>'statement' like $1 limit 1)`,
      [`%${marker}%`],
    );
    const closed = JSON.parse(rows[0]!.payload) as { sessionClosed: { reason: string }; ocsf: { classUid: number } };
    assert.equal(closed.sessionClosed.reason, 'client terminated');
    assert.equal(closed.ocsf.classUid, 3002, 'OCSF Authentication');
  } finally {
    await audit.end();
  }
});
