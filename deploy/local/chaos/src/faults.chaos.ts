// The failure suite (`npm run test:chaos`): for each dependency, stop it under load and start it
// again, then check the promises. Writes .phigate/chaos-report.json and prints one line per fault.
//
// Promises checked for every fault:
//   no-hang        every client got an answer (a result, a clear error, or a refused connection)
//                  within its timeout
//   no-phi         no successful read carried an unmasked identifier; no error carried rows
//   audit-durable  every result released (HTTP 200) has its query.executed and query.completed (a
//                  read: its one query.served) in the audit store, once each (nothing released
//                  without durable audit, nothing lost, nothing doubled)
//   recovers       statements succeed again after the dependency returns, and no other process
//                  was restarted
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { deliverClick, signedClick } from '@phigate/slack-sink/click';
import { demoToken, eventually, need, REPO_ROOT, type SpawnedApp, spawnApp } from '@phigate/testkit';
import pg from 'pg';
import { auditOf, Load, type Outcome, recovered, tally } from './load.js';

const APPS = ['dev-idp', 'slack-sink', 'policy', 'masking', 'audit', 'approval', 'gateway'] as const;
const STACK = join(REPO_ROOT, 'deploy/local/bin/stack');
const INFRA = join(REPO_ROOT, 'deploy/local/bin/infra');
const OUTAGE_MS = Number(process.env.CHAOS_OUTAGE_MS ?? 4000);

interface ReportLine {
  fault: string;
  requests: number;
  answers: Record<string, number>;
  promises: Record<string, 'kept' | string>;
  notes: string[];
}
const report: ReportLine[] = [];

after(() => {
  const file = join(need('PHIGATE_HOME'), 'chaos-report.json');
  writeFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), outageMs: OUTAGE_MS, faults: report }, null, 2)}\n`);
  console.log(`\nfailure suite report (${file}):`);
  for (const r of report) {
    const broken = Object.entries(r.promises).filter(([, v]) => v !== 'kept');
    console.log(
      `  ${r.fault.padEnd(16)} ${String(r.requests).padStart(5)} requests  ${broken.length ? `BROKEN ${broken.map(([k, v]) => `${k}: ${v}`).join('; ')}` : `all kept (${Object.keys(r.promises).join(', ')})`}`,
    );
  }
});

const pidOf = (app: string): number => {
  try {
    return Number(readFileSync(join(need('PHIGATE_HOME'), 'run/apps', `${app}.pid`), 'utf8'));
  } catch {
    return 0;
  }
};
const pids = () => Object.fromEntries(APPS.map((a) => [a, pidOf(a)]));
const stack = (...args: string[]): void => void execFileSync('bash', [STACK, ...args], { stdio: 'ignore', timeout: 180_000 });
const infra = (...args: string[]): void => void execFileSync('bash', [INFRA, ...args], { stdio: 'ignore', timeout: 180_000 });

function killApp(app: string): void {
  const pid = pidOf(app);
  if (pid) process.kill(pid, 'SIGKILL');
}

interface Drill {
  fault: string;
  stop(): Promise<void> | void;
  start(): Promise<void> | void;
  /** Apps the fault itself restarts (their PIDs may change). */
  restarts?: readonly string[];
  gateways?: () => string[];
  /** Runs while the dependency is down; returns notes and broken promises. */
  during?: () => Promise<Partial<Pick<ReportLine, 'notes' | 'promises'>>>;
  /** Runs once the dependency is back and the gateway recovered. */
  afterwards?: () => Promise<Partial<Pick<ReportLine, 'notes' | 'promises'>>>;
}

async function drill(d: Drill): Promise<ReportLine> {
  const before = pids();
  const gateways = d.gateways?.() ?? [need('GATEWAY_URL')];
  const load = await Load.start(gateways);
  await sleep(1500);
  const downAt = Date.now();
  await d.stop();
  const during = (await d.during?.()) ?? {};
  await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downAt)));
  await d.start();
  let recoveredOk: 'kept' | string = 'kept';
  try {
    await recovered(need('GATEWAY_URL'), d.fault);
  } catch (err) {
    recoveredOk = (err as Error).message;
  }
  await sleep(1500);
  const outcomes = await load.stop();
  const afterwards = (await d.afterwards?.()) ?? {};
  const line = judge(d, outcomes, before, recoveredOk);
  line.notes.push(...(during.notes ?? []), ...(afterwards.notes ?? []));
  Object.assign(line.promises, during.promises ?? {}, afterwards.promises ?? {});
  const audit = await auditOf(outcomes);
  line.promises['audit-durable'] =
    audit.missing.length === 0 && audit.duplicated.length === 0
      ? 'kept'
      : `${audit.missing.length} of ${audit.completed} released results missing from the store, ${audit.duplicated.length} doubled`;
  report.push(line);
  return line;
}

function judge(d: Drill, outcomes: Outcome[], before: Record<string, number>, recoveredOk: string): ReportLine {
  const hung = outcomes.filter((o) => o.hung).length;
  const leaks = outcomes.filter((o) => o.leak);
  const unclear = outcomes.filter((o) => !o.hung && !o.transport && o.status !== 200 && !o.code);
  const now = pids();
  const restarted = APPS.filter((a) => !(d.restarts ?? []).includes(a) && before[a] !== now[a]);
  return {
    fault: d.fault,
    requests: outcomes.length,
    answers: tally(outcomes),
    promises: {
      'no-hang': hung === 0 ? 'kept' : `${hung} requests got no answer within their timeout`,
      'no-phi': leaks.length === 0 ? 'kept' : `${leaks.length} answers leaked: ${leaks[0]?.leak}`,
      'clear-errors': unclear.length === 0 ? 'kept' : `${unclear.length} errors without a code`,
      recovers: recoveredOk !== 'kept' ? recoveredOk : restarted.length ? `restarted: ${restarted.join(', ')}` : 'kept',
    },
    notes: [],
  };
}

function assertKept(line: ReportLine): void {
  const broken = Object.entries(line.promises).filter(([, v]) => v !== 'kept');
  assert.deepEqual(broken, [], `${line.fault}: ${JSON.stringify(line.answers)}`);
  assert.ok((line.answers['200'] ?? 0) > 0, `${line.fault}: some statements succeeded`);
}

/** The analytics agent's statement held for approval, with the purpose of use its binding requires. */
async function held(token: string, gateway = need('GATEWAY_URL')) {
  const res = await fetch(`${gateway}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-phigate-purpose': 'population-health' },
    body: JSON.stringify({ connection: 'clinical-pg', sql: 'SELECT id, ssn FROM patients WHERE id = 11' }),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, body: (await res.json()) as { requestId: string; approvalId: string; code?: string } };
}

const approve = (approvalId: string) =>
  deliverClick(
    need('APPROVAL_URL'),
    signedClick({ approvalUrl: need('APPROVAL_URL'), secret: need('SLACK_SIGNING_SECRET'), user: 'U0ALICE', action: 'approve', approvalId }),
  );

async function executedCount(requestId: string): Promise<number> {
  const client = new pg.Client({ connectionString: need('AUDIT_DATABASE_URL') });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      `select count(*)::text as n from audit_events where request_id = $1 and type in ('query.executed', 'query.served')`,
      [requestId],
    );
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

for (const infraService of ['kafka', 'postgres'] as const) {
  test(`${infraService} stops under load and returns`, async () => {
    assertKept(await drill({ fault: infraService, stop: () => infra('stop', infraService), start: () => infra('start', infraService) }));
  });
}

test('redis stops under load and returns; a pending approval survives it and runs once', async () => {
  const agent = await demoToken('analytics-agent');
  const pending = await held(agent);
  assert.equal(pending.status, 202, JSON.stringify(pending.body));
  const line = await drill({
    fault: 'redis',
    stop: () => infra('stop', 'redis'),
    start: () => infra('start', 'redis'),
    during: async () => {
      const r = await held(agent);
      return {
        notes: [`a statement needing approval while Redis is down: ${r.status} ${r.body.code}`],
        promises: { 'held-fails-closed': r.status === 503 ? 'kept' : `answered ${r.status}` },
      };
    },
    afterwards: async () => {
      const click = await approve(pending.body.approvalId);
      const res = await fetch(`${need('GATEWAY_URL')}/v1/requests/${pending.body.requestId}?wait=15`, { headers: { authorization: `Bearer ${agent}` } });
      const runs = await eventually(
        'the approved statement in the audit store',
        async () => ((await executedCount(pending.body.requestId)) > 0 ? executedCount(pending.body.requestId) : undefined),
        30_000,
      );
      return {
        notes: [`approval held across the Redis restart: click ${click.body.outcome}, result HTTP ${res.status}, executed ${runs}×`],
        promises: {
          'approval-survives-once':
            click.body.outcome === 'granted' && res.status === 200 && runs === 1
              ? 'kept'
              : `click ${click.body.outcome}, HTTP ${res.status}, executed ${runs}×`,
        },
      };
    },
  });
  assertKept(line);
});

for (const app of ['policy', 'masking', 'audit'] as const) {
  test(`${app} crashes under load and is started again`, async () => {
    assertKept(await drill({ fault: app, stop: () => killApp(app), start: () => stack('restart', app), restarts: [app] }));
  });
}

test('approval crashes: statements that need approval are refused, others run; it returns', async () => {
  const agent = await demoToken('analytics-agent');
  const line = await drill({
    fault: 'approval',
    stop: () => killApp('approval'),
    start: () => stack('restart', 'approval'),
    restarts: ['approval'],
    during: async () => {
      const r = await held(agent);
      return {
        promises: { 'held-fails-closed': r.status === 503 && r.body.code === 'GATEWAY_APPROVAL_UNAVAILABLE' ? 'kept' : `answered ${r.status} ${r.body.code}` },
      };
    },
    afterwards: async () => {
      const r = await held(agent);
      return { promises: { 'held-works-again': r.status === 202 ? 'kept' : `answered ${r.status} ${r.body.code}` } };
    },
  });
  assertKept(line);
});

test('one of two gateway replicas crashes under load and is started again', async (t) => {
  const port = 18_290;
  const spawn = () =>
    spawnApp('gateway', 'services/gateway/dist/src/main.js', port, {
      GATEWAY_HTTP_PORT: String(port),
      GATEWAY_REPLICA_ID: 'chaos-replica',
      GATEWAY_PG_PORT: '0',
    });
  let b: SpawnedApp = await spawn();
  t.after(() => b.kill('SIGTERM'));
  const line = await drill({
    fault: 'gateway-replica',
    gateways: () => [need('GATEWAY_URL'), b.url],
    stop: () => b.kill('SIGKILL'),
    start: async () => {
      b = await spawn();
    },
  });
  assertKept(line);
});
