// phigate-test: stack
// PHI budgets end to end (issue 21, item 2 and its acceptance test): two gateway replicas this file
// starts with the stack's environment and a bindings file of its own, sharing the stack's Redis.
// The analytics agent's binding gives each purpose of use its own budget of 500 rows and 500
// distinct patients per 10 minutes, so each way of spreading a paging loop gets a fresh budget.
// A loop paging through `patients` 100 rows at a time is stopped exactly at its budget, with the
// same outcome however its pages are spread over the replicas and doors (HTTP, PostgreSQL; the
// Snowflake door through the Python connector), and even when they all arrive at once. The
// refusal is in each door's protocol and on the audit topic (budget.exceeded); a require_approval
// budget holds a page for an approver; a COPY stream is counted batch by batch and stopped.
import './fixtures/snowflake/driver-env.js';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { demoToken, eventually, freePort, kafkaEventsSince, kcatArgs, need, REPO_ROOT, type SpawnedApp, spawnApp, uniqueName } from '@phigate/testkit';
import pg from 'pg';
import { runPython } from './fixtures/snowflake/clients.js';

const run = promisify(execFile);
const AGENT = 'analytics-agent';
const BUDGET = 500;
const PAGE = 100;

interface Replica {
  gw: SpawnedApp;
  pgPort: number;
}
const replicas: Replica[] = [];
const clients = new Map<string, pg.Client>();
let token = '';

before(async () => {
  const stack = readFileSync(join(REPO_ROOT, 'deploy/local/gateway/connections.yaml'), 'utf8');
  const agent = /\n {2}- groups: \[ai-agents\]\n(?: {4}.*\n)+/;
  assert.match(stack, agent, "the stack's bindings file has the analytics agent's binding");
  const binding = `
  - groups: [ai-agents]
    connections: { clinical-pg: analytics_reader, clinical-sf: analytics_reader }
    budgets:
      - id: agent-paging
        window: 10m
        per: [purpose]
        columns: ["*.patients.*"]
        limits: { rows: ${BUDGET}, patients: ${BUDGET} }
        onExceed: deny
      - id: agent-held
        window: 10m
        purposes: [needs-approval]
        columns: ["*.patients.*"]
        limits: { patients: 200 }
        onExceed: require_approval
        approvers: [phi-approvers]
        expiresIn: 5m
`;
  const file = join(mkdtempSync(join(tmpdir(), 'budgets-')), 'connections.yaml');
  writeFileSync(file, stack.replace(agent, binding));
  // One budget store for both replicas (a prefix of their own: the stack gateway's budgets are not spent).
  const prefix = `${uniqueName('phigate:budget:e2e')}:`;
  // Held statements of their own too: the stack's gateway does not resume this file's holds.
  const heldPrefix = `${uniqueName('phigate:gw:budgets')}:`;
  for (let i = 0; i < 2; i++) {
    const http = await freePort();
    const pgPort = await freePort();
    const gw = await spawnApp('gateway', 'services/gateway/dist/src/main.js', http, {
      GATEWAY_HTTP_PORT: String(http),
      GATEWAY_PG_PORT: String(pgPort),
      GATEWAY_PG_HOST: '127.0.0.1',
      GATEWAY_CONNECTIONS_FILE: file,
      GATEWAY_BUDGET_KEY_PREFIX: prefix,
      GATEWAY_KEY_PREFIX: heldPrefix,
      GATEWAY_RATE_LIMIT_KEY_PREFIX: `${uniqueName('phigate:rl:budgets')}:`,
      GATEWAY_REPLICA_ID: `budgets-${i}-${http}`,
    });
    replicas.push({ gw, pgPort });
  }
  token = await demoToken(AGENT);
});
after(async () => {
  for (const c of clients.values()) await c.end().catch(() => undefined);
  for (const r of replicas) r.gw.kill('SIGTERM');
});

const pageSql = (n: number) => `SELECT id, mrn, zip FROM patients ORDER BY id LIMIT ${PAGE} OFFSET ${n * PAGE}`;

type Outcome = { ok: true; rows: number } | { ok: false; code: string; status: string; requestId?: string; message: string };

/** One page through a replica's HTTP door. */
async function httpPage(r: Replica, purpose: string, n: number): Promise<Outcome> {
  const res = await fetch(`${r.gw.url}/v1/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-phigate-purpose': purpose },
    body: JSON.stringify({ connection: 'clinical-pg', sql: pageSql(n) }),
  });
  const body = (await res.json()) as { rows?: unknown[]; code?: string; message?: string; requestId?: string };
  if (res.status === 200) return { ok: true, rows: body.rows?.length ?? 0 };
  return {
    ok: false,
    code: body.code ?? '',
    status: String(res.status),
    message: body.message ?? '',
    ...(body.requestId ? { requestId: body.requestId } : {}),
  };
}

/** One page through a replica's PostgreSQL door (one session per replica and purpose). */
async function pgPage(r: Replica, purpose: string, n: number): Promise<Outcome> {
  const key = `${r.pgPort}/${purpose}`;
  let c = clients.get(key);
  if (!c) {
    c = new pg.Client({
      connectionString: `postgresql://${AGENT}:${encodeURIComponent(token)}@127.0.0.1:${r.pgPort}/clinical-pg?sslmode=disable&options=${encodeURIComponent(`-c phigate.purpose=${purpose}`)}`,
    });
    await c.connect();
    clients.set(key, c);
  }
  try {
    return { ok: true, rows: (await c.query(pageSql(n))).rows.length };
  } catch (e) {
    const x = e as pg.DatabaseError;
    return { ok: false, code: x.code ?? '', status: x.code ?? '', message: x.message };
  }
}

/** Pages until the first refusal (at most 10), each through the door and replica `route` picks. */
async function loop(purpose: string, route: (n: number) => (purpose: string, n: number) => Promise<Outcome>): Promise<{ served: number; refusal: Outcome }> {
  let served = 0;
  for (let n = 0; n < 10; n++) {
    const o = await route(n)(purpose, n);
    if (!o.ok) return { served, refusal: o };
    assert.equal(o.rows, PAGE);
    served += o.rows;
  }
  assert.fail(`the loop was never stopped (${served} rows served)`);
}

test('a loop paging through patients 100 rows at a time is stopped exactly at its budget, however its pages are spread over two replicas and two doors', async () => {
  const [a, b] = replicas as [Replica, Replica];
  const http = (r: Replica) => (p: string, n: number) => httpPage(r, p, n);
  const pgd = (r: Replica) => (p: string, n: number) => pgPage(r, p, n);
  const spreads: Record<string, (n: number) => (p: string, n: number) => Promise<Outcome>> = {
    'all on replica A (HTTP)': () => http(a),
    'alternating A and B (HTTP)': (n) => http(n % 2 ? b : a),
    'first page on A, the rest on B (HTTP)': (n) => http(n ? b : a),
    'alternating doors and replicas (HTTP on A, PostgreSQL on B)': (n) => (n % 2 ? pgd(b) : http(a)),
    'all on replica B (PostgreSQL)': () => pgd(b),
  };
  for (const [name, route] of Object.entries(spreads)) {
    const purpose = `spread-${randomUUID().slice(0, 8)}`;
    const { served, refusal } = await loop(purpose, route);
    assert.equal(served, BUDGET, `${name}: exactly the budget is served`);
    assert.equal(refusal.ok, false);
    if (!refusal.ok) {
      if (refusal.status === '429') assert.equal(refusal.code, 'GATEWAY_BUDGET_EXCEEDED', name);
      else assert.equal(refusal.code, '53400', `${name}: PostgreSQL's SQLSTATE for a resource limit`);
      assert.match(
        refusal.message,
        new RegExp(
          `^PHI budget 'agent-paging' exceeded: this result would bring (rows|patients) to ${BUDGET + PAGE} of ${BUDGET} in 10 min \\(${BUDGET} used\\); no rows were released`,
        ),
        name,
      );
    }
    // Once exhausted, every replica refuses, and patients already taken are still free to read again.
    assert.equal((await httpPage(a, purpose, 7)).ok, false);
    assert.equal((await httpPage(b, purpose, 8)).ok, false);
  }
});

test('Snowflake door (the Python connector, the purpose in QUERY_TAG): the same loop is stopped at the same page', async (t) => {
  const [, b] = replicas as [Replica, Replica];
  const url = new URL(b.gw.url);
  const p = runPython(t, 'budget_pages.py', [url.hostname, url.port, 'clinical-sf', token, `sf-${randomUUID().slice(0, 8)}`]);
  assert.equal(await p.done, 0, `the Python script failed:\n${p.stderr()}`);
  const r = p.steps.pages!.result as { served: number; refusal: { code: string; msg: string; sqlstate: string } | null };
  assert.equal(r.served, BUDGET);
  assert.equal(r.refusal?.code, 'GATEWAY_BUDGET_EXCEEDED', JSON.stringify(r));
  assert.match(r.refusal?.msg ?? '', /PHI budget 'agent-paging' exceeded/);
});

test('pages that all arrive at once over both replicas: exactly the budget is served', async () => {
  const [a, b] = replicas as [Replica, Replica];
  const purpose = `burst-${randomUUID().slice(0, 8)}`;
  const outcomes = await Promise.all(Array.from({ length: 10 }, (_, n) => httpPage(n % 2 ? b : a, purpose, n)));
  const served = outcomes.filter((o) => o.ok);
  assert.equal(served.length * PAGE, BUDGET, `served ${served.length} pages`);
  assert.ok(outcomes.filter((o) => !o.ok).every((o) => !o.ok && o.code === 'GATEWAY_BUDGET_EXCEEDED'));
  // Metrics per identity, on each replica: its checks by outcome, and the counter's use.
  const metrics = await (await fetch(`${a.gw.url}/metrics`)).text();
  assert.match(metrics, /phigate_gateway_budget_checks_total\{identity="analytics-agent",outcome="allowed"[^}]*\} \d+/);
  assert.match(metrics, /phigate_gateway_budget_checks_total\{identity="analytics-agent",outcome="refused"[^}]*\} \d+/);
  // The replica that checked last saw the counter at its limit.
  const used = new RegExp(`phigate_gateway_budget_used\\{identity="analytics-agent",budget="agent-paging",metric="patients"[^}]*\\} ${BUDGET}\n`);
  const other = await (await fetch(`${b.gw.url}/metrics`)).text();
  assert.ok(used.test(metrics) || used.test(other), 'the use of the counter, as of the latest check');
  assert.match(metrics, /phigate_gateway_budget_check_seconds_count\{[^}]*\} \d+/);
});

test('the audit and SIEM topics carry the signals: budget.threshold_reached once, then budget.exceeded with the refusal', async () => {
  const [a] = replicas as [Replica];
  const purpose = `audit-${randomUUID().slice(0, 8)}`;
  const since = Date.now() - 1000;
  const { refusal } = await loop(purpose, () => (p, n) => httpPage(a, p, n));
  assert.ok(!refusal.ok && refusal.requestId, 'the HTTP refusal names its request');
  // As a SIEM reads the topic (kcat): the purpose's events, in order.
  const events = await eventually('the refusal on the audit topic', async () => {
    const mine = kafkaEventsSince(since).filter((e) => e.purpose === purpose);
    return mine.some((e) => e.type === 'query.failed') ? mine : undefined;
  });
  const refused = events.filter((e) => e.requestId === (!refusal.ok && refusal.requestId));
  assert.deepEqual(
    refused.map((e) => e.type),
    ['query.received', 'policy.decided', 'budget.exceeded', 'query.failed'],
  );
  const exceeded = refused[2]!.budgetExceeded;
  assert.deepEqual([exceeded.budgetId, exceeded.counter, exceeded.onExceed, exceeded.windowSec], ['agent-paging', `agent-paging:p=${purpose}`, 'deny', 600]);
  assert.deepEqual(exceeded.metrics[0], { metric: 'rows', limit: BUDGET, used: BUDGET, requested: PAGE });
  assert.equal(refused[3]!.queryFailed.code, 'GATEWAY_BUDGET_EXCEEDED');
  // 80% of 500 is crossed by the fourth page (300 → 400): one threshold event per metric, in its query.served record.
  const thresholds = events.filter((e) => e.type === 'budget.threshold_reached');
  assert.equal(thresholds.length, 1);
  assert.deepEqual(
    thresholds[0]!.budgetThresholdReached.metrics.map((m: { metric: string; used: number }) => [m.metric, m.used]),
    [
      ['rows', 300],
      ['patients', 300],
    ],
  );
  assert.equal(thresholds[0]!.ocsf.classUid, 2004);
  // And on the SIEM topic, as the stack's audit relay maps it: an OCSF Detection Finding, High.
  const exceededId = refused[2]!.id as string;
  const finding = await eventually('the budget.exceeded finding on the SIEM topic', async () => {
    const out = execFileSync('kcat', ['-C', ...kcatArgs(), '-t', 'phigate.siem.v1', '-o', `s@${since}`, '-e', '-q', '-f', '%s\n'], {
      encoding: 'utf8',
      timeout: 20_000,
      maxBuffer: 256 * 1024 * 1024,
    });
    return out
      .split('\n')
      .filter((l) => l.includes(exceededId))
      .map((l) => JSON.parse(l) as Record<string, any>)[0];
  });
  assert.deepEqual([finding.class_uid, finding.severity_id, finding.is_alert], [2004, 4, true]);
  assert.match(finding.finding_info.title, /^PHI budget agent-paging exceeded; the result was refused$/);
});

test('a require_approval budget holds the page that would pass it; the approver sees the budget; once approved it runs, counted past it', async () => {
  const [a, b] = replicas as [Replica, Replica];
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-phigate-purpose': 'needs-approval' };
  const post = async (r: Replica, n: number) => {
    const res = await fetch(`${r.gw.url}/v1/query`, { method: 'POST', headers, body: JSON.stringify({ connection: 'clinical-pg', sql: pageSql(n) }) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const offset = 0; // this file's budget counters are its own (a fresh key prefix per run)
  assert.equal((await post(a, offset)).status, 200);
  assert.equal((await post(b, offset + 1)).status, 200);
  const held = await post(a, offset + 2);
  assert.equal(held.status, 202, JSON.stringify(held.body));
  assert.equal(held.body.status, 'pending_approval');
  const alice = await demoToken('alice');
  const approvals = (await (await fetch(`${need('APPROVAL_URL')}/v1/approvals`, { headers: { authorization: `Bearer ${alice}` } })).json()) as {
    approvals: Array<{ approvalId: string; reason: string; ruleIds: string[]; purpose?: string }>;
  };
  const mine = approvals.approvals.find((x) => x.approvalId === held.body.approvalId);
  assert.ok(mine, 'alice (phi-approvers) sees the approval');
  assert.match(mine.reason, /PHI budget 'agent-held': this result would bring patients to 300 of 200 in 10 min \(200 used\); an approver may let it through/);
  assert.ok(mine.ruleIds.includes('budget:agent-held'));
  const vote = await fetch(`${need('APPROVAL_URL')}/v1/approvals/${held.body.approvalId}/approve`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice}` },
  });
  assert.equal(vote.status, 200, await vote.text());
  const done = await fetch(`${b.gw.url}${held.body.statusUrl}?wait=20`, { headers: { authorization: `Bearer ${token}` } });
  const result = (await done.json()) as { status: string; rows: unknown[] };
  assert.equal(done.status, 200, JSON.stringify(result));
  assert.equal(result.rows.length, PAGE, 'approved: the page runs, past the budget');
  // The approved page was counted: the next one is held again.
  assert.equal((await post(b, offset + 3)).status, 202);
});

test('a COPY stream is counted batch by batch and stopped at the budget; what left never passes it', async () => {
  const [, b] = replicas as [Replica, Replica];
  const purpose = `copy-${randomUUID().slice(0, 8)}`;
  const r = await run(
    'psql',
    [
      `host=127.0.0.1 port=${b.pgPort} user=${AGENT} dbname=clinical-pg sslmode=disable options='-c phigate.purpose=${purpose}'`,
      '-X',
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      '\\copy (SELECT id, zip FROM patients ORDER BY id LIMIT 2000) to stdout',
    ],
    { env: { ...process.env, PGPASSWORD: token, PGCONNECT_TIMEOUT: '10' }, maxBuffer: 1 << 24 },
  ).then(
    (x) => ({ code: 0, out: x.stdout, err: x.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
  );
  assert.notEqual(r.code, 0, 'the stream is stopped');
  assert.match(r.err, /PHI budget 'agent-paging' exceeded/);
  const lines = r.out.split('\n').filter(Boolean).length;
  assert.ok(lines <= BUDGET, `${lines} rows left, no more than the budget`);
});
