// Failure suite: the Redis primary is killed (-9) under load, and its Sentinels promote the replica.
// A gateway replica and an approval replica of this drill's own (own ports, the stack's environment
// otherwise) find the primary through three Sentinels (sentinel-topology.ts: TLS and the ACL login
// as the stack's Redis has them); the stack's Redis and services are not touched.
//
// The load uses Redis on every path: reads and writes (the rate limiter), statements held for
// approval (continuations and approvals), a Snowflake-door session (its state), and approvals
// answered through the Slack stand-in, one of them while the primary is down.
//
// Promises:
//   failover         the Sentinels name another primary, and the services follow it without restarting
//   no-hang          every client got an answer within its timeout
//   clear-errors     every refusal is one of the documented "Redis unavailable" codes
//   no-phi           no successful read carried an unmasked identifier; no error carried rows or an SSN
//   held-survive     every statement held before or during the failover (answered 202), approved after
//                    it, returns its row, and ran exactly once (one execution record in the audit store:
//                    query.executed, or query.served where a read is recorded once)
//   session-survives the Snowflake session opened before the failover serves statements after it
//   audit-durable    every released result is in the audit store exactly once
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { deliverClick, signedClick } from '@phigate/slack-sink/click';
import { demoToken, eventually, freePort, need, spawnApp } from '@phigate/testkit';
import pg from 'pg';
import { auditOf, CLIENT_TIMEOUT_MS, Load, recovered, tally } from './load.js';
import { startSentinelTopology } from './sentinel-topology.js';

/** The documented answers while Redis cannot be reached (docs/errors.md, docs/operations.md). */
const REDIS_UNAVAILABLE = new Set([
  'GATEWAY_RATE_LIMIT_UNAVAILABLE',
  'GATEWAY_APPROVAL_UNAVAILABLE',
  'GATEWAY_SF_SESSION_STORE_UNAVAILABLE',
  'APPROVAL_STORE_UNAVAILABLE',
]);
const SSN = /\b\d{3}-\d{2}-\d{4}\b/;

/** One answer of a held statement, a Snowflake statement or a click. */
interface Answer {
  what: 'held' | 'sf' | 'click';
  at: number;
  ok: boolean;
  status: number;
  code: string;
  hung: boolean;
  transport?: string;
  leak?: string;
  detail?: string | undefined;
}

async function timed(what: Answer['what'], call: (signal: AbortSignal) => Promise<Omit<Answer, 'what' | 'at' | 'hung'>>): Promise<Answer> {
  const at = Date.now();
  try {
    return { what, at, hung: false, ...(await call(AbortSignal.timeout(CLIENT_TIMEOUT_MS))) };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return { what, at, ok: false, status: 0, code: '', hung: true };
    return { what, at, ok: false, status: 0, code: '', hung: false, transport: e.cause?.code ?? e.message };
  }
}

interface Held {
  requestId: string;
  approvalId: string;
  id: number;
}

test('the Redis primary fails over under load: nothing held is lost, clients get only documented errors, no hang, no PHI', async (t) => {
  const started = Date.now();
  // Undone last first: the replicas stop before what they use (Redis, their certificate files) goes.
  const undo: Array<() => unknown> = [];
  t.after(async () => {
    for (const step of undo.reverse()) await step();
  });
  const redis = await startSentinelTopology();
  undo.push(() => redis.stop());
  const topologyUp = Date.now();

  const [approvalPort, approvalInternalPort, gatewayPort] = [await freePort(), await freePort(), await freePort()];
  const outbox = mkdtempSync(join(tmpdir(), 'chaos-redis-failover-outbox-'));
  undo.push(() => rmSync(outbox, { recursive: true, force: true }));
  const approval = await spawnApp('approval', 'services/approval/dist/src/main.js', approvalPort, {
    ...redis.env,
    APPROVAL_HTTP_PORT: String(approvalPort),
    APPROVAL_INTERNAL_PORT: String(approvalInternalPort),
  });
  undo.push(() => approval.kill('SIGTERM'));
  const gateway = await spawnApp('gateway', 'services/gateway/dist/src/main.js', gatewayPort, {
    ...redis.env,
    GATEWAY_HTTP_PORT: String(gatewayPort),
    GATEWAY_PG_PORT: '0',
    GATEWAY_REPLICA_ID: `chaos-redis-failover-${gatewayPort}`,
    GATEWAY_APPROVAL_URL: `https://127.0.0.1:${approvalInternalPort}`,
    GATEWAY_AUDIT_OUTBOX_DIR: outbox,
  });
  undo.push(() => gateway.kill('SIGTERM'));
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  const agent = await demoToken('analytics-agent');
  const etl = await demoToken('etl-pipeline');
  const post = (path: string, body: unknown, headers: Record<string, string>, signal: AbortSignal) =>
    fetch(`${gateway.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal });

  // Statements held for approval: each a different patient, so each result names its own row.
  const held: Held[] = [];
  let patient = 100;
  const hold = () =>
    timed('held', async (signal) => {
      const id = patient++;
      const res = await post(
        '/v1/query',
        { connection: 'clinical-pg', sql: `SELECT id, ssn FROM patients WHERE id = ${id}` },
        // With the purpose of use the analytics agent's binding requires.
        { authorization: `Bearer ${agent}`, 'x-phigate-purpose': 'population-health' },
        signal,
      );
      const text = await res.text();
      const body = JSON.parse(text || '{}') as { requestId?: string; approvalId?: string; code?: string; rows?: unknown };
      if (res.status === 202 && body.requestId && body.approvalId) held.push({ requestId: body.requestId, approvalId: body.approvalId, id });
      return {
        ok: res.status === 202,
        status: res.status,
        code: String(body.code ?? ''),
        ...(res.status !== 202 && (body.rows !== undefined || SSN.test(text)) ? { leak: 'a refusal carried rows or an SSN' } : {}),
      };
    });

  // A Snowflake-door session, opened before the failover and used throughout.
  const login = await post(
    `/session/v1/login-request?requestId=${randomUUID()}`,
    { data: { ACCOUNT_NAME: 'clinical-sf', AUTHENTICATOR: 'OAUTH', TOKEN: etl, CLIENT_APP_ID: 'chaos', SESSION_PARAMETERS: {} } },
    { accept: 'application/snowflake' },
    AbortSignal.timeout(CLIENT_TIMEOUT_MS),
  );
  const session = ((await login.json()) as { success: boolean; data?: { token?: string } }).data?.token;
  assert.ok(session, 'the Snowflake door opened a session');
  let sequence = 0;
  const sfStatement = () =>
    timed('sf', async (signal) => {
      const res = await post(
        `/queries/v1/query-request?requestId=${randomUUID()}`,
        { sqlText: 'SELECT ID, SSN FROM PATIENTS WHERE ID = 7', sequenceId: ++sequence },
        { accept: 'application/snowflake', authorization: `Snowflake Token="${session}"` },
        signal,
      );
      const text = await res.text();
      const body = JSON.parse(text || '{}') as { success?: boolean; message?: string; data?: { rowset?: unknown[][] } };
      const ok = body.success === true && JSON.stringify(body.data?.rowset) === '[["7","[REDACTED]"]]';
      return {
        ok,
        status: res.status,
        code: /\(phigate ([A-Z0-9_]+)[,)]/.exec(body.message ?? '')?.[1] ?? '',
        detail: ok ? undefined : text.slice(0, 300),
        ...(SSN.test(text) ? { leak: 'an SSN left unmasked' } : !ok && body.data?.rowset ? { leak: 'a refusal carried rows' } : {}),
      };
    });

  const click = (approvalId: string) =>
    timed('click', async () => {
      const r = await deliverClick(
        approval.url,
        signedClick({ approvalUrl: approval.url, secret: need('SLACK_SIGNING_SECRET'), user: 'U0ALICE', action: 'approve', approvalId }),
      );
      return { ok: r.status === 200 && r.body.outcome === 'granted', status: r.status, code: String(r.body.code ?? r.body.outcome ?? '') };
    });

  // Held before the failover, and answered only after it.
  const before = [await hold(), await hold(), await hold()];
  assert.deepEqual(
    before.map((a) => a.status),
    [202, 202, 202],
    'statements held before the failover',
  );
  const firstSf = await sfStatement();
  assert.ok(firstSf.ok, `the session serves a masked statement before the failover: ${JSON.stringify(firstSf)}`);

  // Load: reads and writes (rate limiter), held statements, the session's statements.
  const answers: Answer[] = [];
  let running = true;
  const loop = (next: () => Promise<Answer>) =>
    (async () => {
      while (running) {
        const a = await next();
        answers.push(a);
        await sleep(a.ok ? 50 : 100);
      }
    })();
  const load = await Load.start([gateway.url], 3);
  const loops = [loop(hold), loop(sfStatement)];
  await sleep(1500);

  const old = await redis.primary();
  const killedAt = Date.now();
  await redis.kill(old);
  // A Slack click while the primary is down (Slack retries a failed delivery): a documented refusal, or
  // applied if the new primary already serves.
  const duringClick = await click(held[0]!.approvalId);
  answers.push(duringClick);
  const promoted = await eventually(
    'the Sentinels to promote the replica',
    async () => {
      const now = await redis.primary();
      return now !== old ? now : undefined;
    },
    60_000,
    100,
  );
  const promotedAt = Date.now();
  await recovered(gateway.url, 'Redis failover');
  const again = async (next: () => Promise<Answer>) => {
    const a = await next();
    answers.push(a);
    return a.ok ? true : undefined;
  };
  await eventually('a statement to be held again', () => again(hold), 60_000, 100);
  await eventually('the session opened before the failover to serve statements again', () => again(sfStatement), 60_000, 100);
  await sleep(1500);
  running = false;
  const outcomes = await load.stop();
  await Promise.all(loops);

  // The new primary is the promoted replica, and it holds what the old one was asked to keep.
  assert.match(await redis.info(promoted, 'replication'), /role:master/);
  assert.ok(alive(gateway.pid) && alive(approval.pid), 'the gateway and approval replicas were not restarted');

  const refusals = [
    ...outcomes.filter((o) => o.status !== 200).map((o) => ({ what: o.kind, at: o.at, hung: o.hung, transport: o.transport, status: o.status, code: o.code })),
    ...answers.filter((a) => !a.ok),
  ];
  const hung = refusals.filter((r) => r.hung);
  assert.deepEqual(hung, [], 'every request was answered within its timeout');
  const unclear = refusals.filter((r) => !r.hung && !REDIS_UNAVAILABLE.has(r.code));
  assert.deepEqual(unclear, [], 'every refusal during the failover is a documented "Redis unavailable" code');
  const leaks = [...outcomes.filter((o) => o.leak), ...answers.filter((a) => a.leak)];
  assert.deepEqual(leaks, [], 'no PHI in any answer');

  // Every held statement, approved now, returns its own row, once.
  const audit = new pg.Pool({ connectionString: need('AUDIT_DATABASE_URL'), max: 2 });
  undo.push(() => audit.end());
  const executed = async (requestId: string) => {
    const { rows } = await audit.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM audit_events WHERE request_id = $1 AND type IN ('query.executed', 'query.served')`,
      [requestId],
    );
    return Number(rows[0]?.n ?? 0);
  };
  const results = await Promise.all(
    held.map(async (h) => {
      const c = h === held[0] && duringClick.ok ? duringClick : await click(h.approvalId);
      const res = await fetch(`${gateway.url}/v1/requests/${h.requestId}?wait=15`, { headers: { authorization: `Bearer ${agent}` } });
      const body = (await res.json()) as { rows?: unknown[][] };
      const runs = await eventually(
        `the execution record of held request ${h.requestId} in the audit store`,
        async () => (await executed(h.requestId)) || undefined,
        60_000,
        250,
      ).catch(() => 0);
      return { id: h.id, click: c.code, status: res.status, row: body.rows?.[0]?.[0], runs };
    }),
  );
  const wrong = results.filter((r) => r.click !== 'granted' || r.status !== 200 || String(r.row) !== String(r.id) || r.runs !== 1);
  assert.deepEqual(wrong, [], `every held statement approved after the failover returns its row and ran once (${held.length} held)`);

  const window = refusals.length ? `${Math.min(...refusals.map((r) => r.at)) - killedAt}..${Math.max(...refusals.map((r) => r.at)) - killedAt} ms` : 'none';
  t.diagnostic(
    `redis-failover: topology up in ${topologyUp - started} ms; promoted ${promoted} ${promotedAt - killedAt} ms after the kill; ` +
      `${outcomes.length} reads/writes ${JSON.stringify(tally(outcomes))}; held ${held.length}, each resumed once; ` +
      `sf ${answers.filter((a) => a.what === 'sf').length} statements; refusals by code ${JSON.stringify(
        Object.fromEntries([...new Set(refusals.map((r) => r.code))].map((c) => [c, refusals.filter((r) => r.code === c).length])),
      )} (sent ${window} after the kill); click during the outage: ${duringClick.status} ${duringClick.code}; drill ${Date.now() - started} ms`,
  );
  const durable = await auditOf(outcomes);
  assert.deepEqual(
    { missing: durable.missing, duplicated: durable.duplicated },
    { missing: [], duplicated: [] },
    `every released result stored once (${durable.missing.length} of ${durable.completed} missing: is the stack's audit service consuming? npm run stack:status, .phigate/logs/audit.log)`,
  );
});
