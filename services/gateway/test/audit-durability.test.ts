// phigate-test: stack
// Acceptance for issue 7, part 1 ("nothing lost on the way in"): the Kafka broker stops in the
// middle of 2,000 queries and starts again, and every completed query's events end up in the audit
// store exactly once. The test runs its own gateway process (this checkout's build, with a durable
// outbox under a temporary directory) next to the stack's, with the environment the stack gives its
// gateway, and stops the shared broker for a short while (deploy/local/bin/infra stop|start kafka),
// always starting it again. Needs `npm run stack:up`.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { demoToken, eventually, kcatArgs, need, REPO_ROOT, requireHttp, stackAuditRecovered } from '@phigate/testkit';
import pg from 'pg';

const run = promisify(execFile);
const QUERIES = 2000;
const WORKERS = 16;
const SQL = 'SELECT id, zip FROM patients ORDER BY id LIMIT 1';
// A read that runs without waiting is one record (query.served).
const EXPECTED = ['query.served'];
const ENTRY = process.env.PHIGATE_TEST_GATEWAY_ENTRY ?? join(REPO_ROOT, 'services/gateway/dist/src/main.js');

/** The environment the stack gave its own gateway (read from the running process). */
function stackGatewayEnv(): Record<string, string> {
  const pid = readFileSync(join(need('PHIGATE_HOME'), 'run/apps/gateway.pid'), 'utf8').trim();
  const env: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  if (!env.KAFKA_BROKERS) throw new Error(`cannot read the stack gateway's environment (pid ${pid}): restart the stack with \`npm run stack:up\``);
  return env;
}

/** Starts a gateway process and resolves with its HTTP port once it listens. */
async function startGateway(env: Record<string, string>): Promise<{ proc: ChildProcess; port: number; logs: string[] }> {
  const proc = spawn(join(REPO_ROOT, 'node_modules/.bin/node'), ['--disable-warning=TimeoutNegativeWarning', ENTRY], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const keep = (l: string) => {
    logs.push(l);
    if (logs.length > 200) logs.shift();
  };
  createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on('line', keep);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the test gateway did not listen within 60 s; last lines:\n${logs.slice(-20).join('\n')}`)), 60_000);
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      keep(l);
      try {
        const j = JSON.parse(l) as { msg?: string; httpPort?: number };
        if (j.msg === 'gateway listening' && j.httpPort) {
          clearTimeout(timer);
          resolve(j.httpPort);
        }
      } catch {
        // not JSON: kept for the failure message
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the test gateway exited with ${code}; last lines:\n${logs.slice(-20).join('\n')}`));
    });
  });
  return { proc, port, logs };
}

const segments = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.seg')) : []);

test('Kafka stops in the middle of 2,000 queries and starts again: every completed query is in the audit store exactly once', {
  timeout: 600_000,
}, async (t) => {
  await requireHttp('gateway', `${need('GATEWAY_URL')}/readyz`);
  const since = Date.now() - 1000;
  const tmp = mkdtempSync(join(tmpdir(), 'phigate-durability-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const outboxDir = join(tmp, 'outbox');
  const env = {
    ...stackGatewayEnv(),
    GATEWAY_HTTP_PORT: '0',
    GATEWAY_PG_PORT: '0',
    // The limit is counted per identity across replicas: this test alone sends 2,000 queries.
    GATEWAY_RATE_LIMIT_PER_MINUTE: '1000000',
    // Its own budgets: a bench-sized load must not spend the stack gateway's.
    GATEWAY_RATE_LIMIT_KEY_PREFIX: `phigate:rl:durability-test-${process.pid}:`,
    GATEWAY_AUDIT_DURABILITY: 'before-release',
    GATEWAY_AUDIT_OUTBOX_DIR: outboxDir,
    GATEWAY_AUDIT_ACK_TIMEOUT_MS: '2000',
    LOG_LEVEL: 'info',
  };
  const gw = await startGateway(env);
  t.after(async () => {
    if (gw.proc.exitCode === null) {
      const exited = new Promise((r) => gw.proc.once('exit', r));
      gw.proc.kill('SIGTERM');
      await exited;
    }
  });
  assert.ok(
    existsSync(outboxDir),
    'the gateway did not open its audit outbox: this build does not wire GATEWAY_AUDIT_OUTBOX_DIR (see docs/adr/0008-audit-durability.md)',
  );
  const url = `http://127.0.0.1:${gw.port}/v1/query`;
  const tokens = [await demoToken('etl-pipeline'), await demoToken('analytics-agent')];

  // The outage: the broker stops once 300 queries have completed and starts again after at least
  // a third of the queries went through the outbox (or 20 s), while queries keep flowing.
  const home = need('PHIGATE_HOME');
  const infra = (action: 'stop' | 'start') =>
    run('bash', [join(REPO_ROOT, 'deploy/local/bin/infra'), action, 'kafka'], { env: { ...process.env, PHIGATE_HOME: home }, timeout: 120_000 });
  let kafkaDown = false;
  t.after(async () => {
    if (kafkaDown) await infra('start'); // never leave the shared broker down
  });
  let completed = 0;
  let spooled = false;
  let duringOutage = 0;
  const outage = (async () => {
    await eventually('300 queries to complete', async () => (completed >= 300 ? true : undefined), 120_000, 10);
    kafkaDown = true;
    await infra('stop');
    const stoppedAt = completed;
    await eventually(
      'queries to go through the outbox',
      async () => {
        if (segments(outboxDir).length > 0) spooled = true;
        return spooled && (completed - stoppedAt >= QUERIES / 3 || completed >= QUERIES - 200) ? true : undefined;
      },
      20_000,
      20,
    ).catch(() => undefined);
    duringOutage = completed - stoppedAt;
    await infra('start');
    kafkaDown = false;
  })();

  const results: Array<{ status: number; requestId?: string; code?: string }> = [];
  let next = 0;
  const workers = Array.from({ length: WORKERS }, async () => {
    while (next < QUERIES) {
      const i = next++;
      const res = await fetch(url, {
        method: 'POST',
        // The analytics agent's binding requires a purpose of use; both state one.
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[i % tokens.length]}`, 'x-phigate-purpose': 'population-health' },
        body: JSON.stringify({ connection: 'clinical-pg', sql: SQL }),
        signal: AbortSignal.timeout(30_000),
      });
      const body = (await res.json()) as { requestId?: string; code?: string };
      results[i] = { status: res.status, requestId: body.requestId, code: body.code };
      if (res.status === 200) completed++;
      // Slow down once the broker is down, so that the outage spans many queries.
      if (kafkaDown) await new Promise((r) => setTimeout(r, 5));
    }
  });
  await Promise.all([...workers, outage]);

  assert.ok(spooled, 'queries went through the outbox while Kafka was down');
  assert.ok(duringOutage > 0, 'queries completed while Kafka was down');
  const failed = results.filter((r) => r.status !== 200);
  assert.deepEqual(
    failed.map((r) => `${r.status} ${r.code}`),
    [],
    'every query completed: the outbox absorbed the outage',
  );
  const ids = results.map((r) => r.requestId as string);
  assert.equal(new Set(ids).size, QUERIES);

  await eventually('the gateway outbox to drain to Kafka', async () => (segments(outboxDir).length === 0 ? true : undefined), 120_000, 200);

  // In the audit store, exactly once: every expected event of every completed query, one row each.
  const store = new pg.Pool({ connectionString: need('AUDIT_DATABASE_URL'), max: 2 });
  t.after(() => store.end());
  const count = async () =>
    (
      await store.query<{ request_id: string; type: string; n: number }>(
        'SELECT request_id, type, count(*)::int AS n FROM audit_events WHERE request_id = ANY($1) GROUP BY request_id, type',
        [ids],
      )
    ).rows;
  let rows: Awaited<ReturnType<typeof count>> = [];
  await eventually(
    'every event of the 2,000 queries in the audit store',
    async () => {
      rows = await count();
      const n = rows.reduce((s, r) => s + r.n, 0);
      return n >= QUERIES * EXPECTED.length ? true : undefined;
    },
    240_000,
    1000,
  ).catch((err) => {
    const n = rows.reduce((s, r) => s + r.n, 0);
    throw new Error(
      `${(err as Error).message}: the store has ${n} of ${QUERIES * EXPECTED.length} events (is the audit service ready? ${need('AUDIT_URL')}/readyz)`,
    );
  });
  const byRequest = new Map<string, string[]>();
  for (const r of rows) {
    assert.equal(r.n, 1, `${r.type} of ${r.request_id} is stored exactly once`);
    byRequest.set(r.request_id, [...(byRequest.get(r.request_id) ?? []), r.type]);
  }
  for (const id of ids) assert.deepEqual(byRequest.get(id)?.sort(), EXPECTED, `the events of ${id}`);

  // And the SIEM view (Kafka) has each event at least once: re-sends are copies with the same id.
  const onKafka = execFileSync('kcat', ['-C', ...kcatArgs(), '-t', 'phigate.audit.v1', '-o', `s@${since}`, '-e', '-q', '-f', '%k\n'], {
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 1024 * 1024 * 1024,
  });
  const keys = new Set(onKafka.split('\n'));
  assert.ok(
    ids.every((id) => keys.has(id)),
    'every request is on the topic',
  );
  // The shared broker restarted under the stack's audit service: the next test file needs it back.
  await stackAuditRecovered();
});
