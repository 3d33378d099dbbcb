// phigate-test: stack
// The PostgreSQL wire door with pgx v5, the Go driver, over TLS: the fixture in fixtures/pgx
// (built by deploy/local/bin/godeps-pg) runs its checks and prints one JSON line each; this file
// asserts on them. Errors must come back as *pgconn.PgError before the fixture's 5 s context
// deadline (a hang fails as deadlineExceeded), and the connection or pool stays usable after them.
// Runs against a replica this file starts, with a TLS certificate of its own.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { demoToken, freePort, REPO_ROOT, type SpawnedApp, spawnApp } from '@phigate/testkit';

const run = promisify(execFile);
let gw: SpawnedApp;
let pgPort = 0;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgwire-pgx-'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'],
    { stdio: 'ignore' },
  );
  const http = await freePort();
  pgPort = await freePort();
  gw = await spawnApp('gateway', 'services/gateway/dist/src/main.js', http, {
    GATEWAY_HTTP_PORT: String(http),
    GATEWAY_PG_PORT: String(pgPort),
    GATEWAY_PG_TLS_CERT_FILE: join(dir, 'cert.pem'),
    GATEWAY_PG_TLS_KEY_FILE: join(dir, 'key.pem'),
    GATEWAY_RATE_LIMIT_KEY_PREFIX: `phigate:rl:pgwire-pgx-test-${process.pid}:`,
    GATEWAY_REPLICA_ID: `pgwire-pgx-test-${http}`,
  });
});
after(() => gw?.kill('SIGTERM'));

/** What the Go driver saw of an error (see pgErr in fixtures/pgx/main.go). */
interface PgErr {
  pgError?: boolean;
  code?: string;
  message?: string;
  detail?: string;
  position?: number;
  deadlineExceeded: boolean;
  error?: string;
}
type Line = PgErr & Record<string, any>;

/** Builds the fixture (a clear failure when Go is missing) and runs it against the replica. */
async function pgx(): Promise<Line[]> {
  const godeps = join(REPO_ROOT, 'deploy/local/bin/godeps-pg');
  await run('bash', [godeps]).catch((e: { stderr?: string }) => {
    throw new Error(`the pgx fixture could not be built (Go 1.26+ is needed; see deploy/local/bin/godeps-pg):\n${e.stderr ?? e}`);
  });
  const bin = (await run('bash', [godeps, '--print'])).stdout.trim();
  const token = await demoToken('etl-pipeline');
  // A purpose of use in the DSN's options, as any libpq-style connection string states it.
  const dsn = `host=127.0.0.1 port=${pgPort} user=etl-pipeline dbname=clinical-pg sslmode=require connect_timeout=10 options='-c phigate.purpose=nightly-load'`;
  const r = await run(bin, [dsn], { env: { ...process.env, PGPASSWORD: token }, timeout: 120_000 }).catch((e: { stdout?: string; stderr?: string }) => {
    throw new Error(`the pgx fixture failed:\n${e.stdout}\n${e.stderr}`);
  });
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
}

/** A PgError with this SQLSTATE, before the deadline. */
function isPgError(e: PgErr | undefined, code: string, what: string): void {
  assert.ok(e, `${what}: no result`);
  assert.equal(e.deadlineExceeded, false, `${what}: the error did not arrive before the 5 s deadline: ${e.error}`);
  assert.equal(e.pgError, true, `${what}: not a *pgconn.PgError: ${e.error}`);
  assert.equal(e.code, code, `${what}: ${e.error}`);
}

/** The phone mask keeps the format and the last four digits: (***) ***-1234 or ***-***-1234. */
const PHONE = /^(\(\*{3}\) |\*{3}-)\*{3}-\d{4}$/;

test('pgx v5: masked rows scanned into Go types in every query exec mode, PgErrors promptly, a denial, COPY TO STDOUT, a batch, and a pgxpool (ping, reset on release, concurrency, transactions)', async () => {
  const lines = await pgx();
  const all = lines.map((l) => JSON.stringify(l)).join('\n');
  const one = (check: string) => {
    const l = lines.find((x) => x.check === check);
    assert.ok(l, `no ${check} line in:\n${all}`);
    return l;
  };
  assert.equal(one('connect').tls, true, 'sslmode=require: TLS');
  assert.deepEqual(one('purpose'), { check: 'purpose', value: 'nightly-load' }, 'the DSN options state the purpose of use');

  // The default mode (statement cache: Parse/Describe once, then Bind/Execute with binary results), twice.
  const queries = lines.filter((l) => l.check === 'query');
  assert.equal(queries.length, 2);
  for (const q of queries) {
    assert.equal(q.error, undefined, q.error);
    assert.deepEqual(q.oids, [20, 25, 25, 1082], 'int8, masked text, masked text, date');
    assert.deepEqual(
      q.rows.map((r: { id: number }) => r.id),
      [1, 2, 3],
    );
    for (const r of q.rows) {
      assert.equal(r.ssn, '[REDACTED]');
      assert.match(r.phone, PHONE);
      assert.match(r.dob, /^\d{4}-\d\d-\d\dT00:00:00Z$/);
    }
  }
  assert.deepEqual([one('queryRow').id, one('queryRow').ssn, one('queryRow').error], [4, '[REDACTED]', null]);

  // Every other exec mode: the same rows, and a typo's 42601.
  const modes = lines.filter((l) => l.check === 'mode');
  assert.deepEqual(modes.map((m) => m.mode).sort(), ['cache_describe', 'describe_exec', 'exec', 'simple_protocol']);
  for (const m of modes) {
    assert.equal(m.error, undefined, `${m.mode}: ${m.error}`);
    assert.deepEqual(m.oids, [20, 25, 25, 1082], m.mode);
    assert.deepEqual(
      m.rows.map((r: { id: number; ssn: string }) => [r.id, r.ssn]),
      [
        [1, '[REDACTED]'],
        [2, '[REDACTED]'],
      ],
      m.mode,
    );
    assert.deepEqual([m.typoCode, m.typoDeadlineExceeded], ['42601', false], `${m.mode}: a typo`);
  }

  // Errors: *pgconn.PgError with SQLSTATE and position, well before the deadline; the connection goes on.
  const errors = lines.filter((l) => l.check === 'error');
  for (const [sql, code, position] of [
    ['SELEC 1', '42601', 1],
    ['SELECT * FROM nosuch', '42P01', 15],
    ['SELECT nosuchcol FROM patients WHERE id = $1', '42703', 8],
  ] as const) {
    const e = errors.find((x) => x.sql === sql);
    isPgError(e, code, sql);
    assert.equal(e!.position, position, sql);
  }
  assert.equal(one('afterErrors').one, 1, 'the connection is usable after the errors');

  const denied = one('denied');
  isPgError(denied, '42501', 'DROP TABLE patients');
  assert.match(denied.message!, /denied by policy/);
  assert.match(denied.detail!, /rule: block-ddl; .*request id: [0-9a-f-]{36}/);

  const copy = one('copy');
  assert.equal(copy.error, undefined, copy.error);
  assert.equal(copy.tag, 'COPY 5');
  assert.equal(copy.out, '1,[REDACTED]\n2,[REDACTED]\n3,[REDACTED]\n4,[REDACTED]\n5,[REDACTED]\n');

  assert.deepEqual([one('batch').error, one('batch').ids], [undefined, [1, 2, 3]], 'a pipelined batch');
  assert.equal(one('ping').error, undefined, `pgx's ping ("-- ping"): ${one('ping').error}`);

  // The pool: 16 concurrent queries on 4 connections; Acquire/Release cycles with a ping on every
  // acquire and RESET ALL on every release, no connection lost to either (no more opened than the pool holds).
  assert.deepEqual([one('poolConcurrent').ok, one('poolConcurrent').errors], [16, null]);
  const cycles = one('poolCycles');
  assert.equal(cycles.error, undefined, `pool.Ping: ${cycles.error}`);
  assert.equal(cycles.cycleErrors, null, String(cycles.cycleErrors));
  assert.equal(cycles.failedResets, 0, 'AfterRelease RESET ALL');
  assert.ok(cycles.acquires > 12 && cycles.pings >= cycles.acquires, `a ping on every acquire: ${all}`);
  // The last release (pool.Ping's) may still be resetting when the fixture counts.
  assert.ok(cycles.resets >= cycles.acquires - 1, `a reset on every release: ${all}`);
  assert.ok(cycles.newConns <= cycles.maxConns, `no pooled connection was destroyed by a failed ping or reset (${cycles.newConns} opened)`);

  const tx = one('poolTx');
  assert.equal(tx.commit, null, tx.commit);
  isPgError(tx.denied, '42501', 'TRUNCATE in a transaction');
  isPgError(tx.aborted, '25P02', 'a statement after the failure');
  assert.equal(tx.commitOfFailedIsRollback, true, `Commit of a failed transaction is pgx.ErrTxCommitRollback: ${tx.commitOfFailed}`);
  assert.equal(tx.rollback, null, tx.rollback);
  assert.deepEqual([tx.beginFunc, tx.beginFuncId, tx.afterTx], [null, 2, null]);
});
