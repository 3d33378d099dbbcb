// Approval resume latency: from the approver's click (a signed Slack interaction delivered to the
// approval service) to the held statement's result in the hands of a client already waiting on
// GET /v1/requests/:id?wait. Baseline: the same client running an allowed point query through the
// same door in the same run, so the figure is also a ratio.
import { setTimeout as sleep } from 'node:timers/promises';
import { deliverClick, signedClick } from '@phigate/slack-sink/click';
import { demoToken, need } from '@phigate/testkit';
import { summarise } from './stats.js';

export interface ApprovalBench {
  iterations: number;
  /** An allowed point query through the HTTP door, one at a time. */
  directQuery: ReturnType<typeof summarise>;
  /** Click delivered → result body received by the waiting client. */
  clickToResult: ReturnType<typeof summarise> & { p50VsDirectQuery: number };
  target: { clickToResultP50Ms: number; met: boolean; missByMs: number };
}

/** The analytics agent's statement, with the purpose of use its binding requires (X-Phigate-Purpose). */
async function post(base: string, token: string, sql: string) {
  const res = await fetch(`${base}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-phigate-purpose': 'population-health' },
    body: JSON.stringify({ connection: 'clinical-pg', sql }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export async function approvalBench(iterations = Number(process.env.BENCH_APPROVAL_ITERATIONS ?? 40)): Promise<ApprovalBench> {
  const gateway = need('GATEWAY_URL');
  const approvalUrl = need('APPROVAL_URL');
  const secret = need('SLACK_SIGNING_SECRET');
  const agent = await demoToken('analytics-agent');

  const direct: bigint[] = [];
  for (let i = 0; i < iterations + 5; i++) {
    const t0 = process.hrtime.bigint();
    const r = await post(gateway, agent, `SELECT id, first_name FROM patients WHERE id = ${(i % 500) + 1}`);
    if (r.status !== 200) throw new Error(`baseline query failed: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    if (i >= 5) direct.push(process.hrtime.bigint() - t0);
  }

  const resume: bigint[] = [];
  for (let i = 0; i < iterations + 3; i++) {
    const held = await post(gateway, agent, `SELECT id, ssn FROM patients WHERE id = ${(i % 500) + 1}`);
    if (held.status !== 202) throw new Error(`expected a held statement: HTTP ${held.status} ${JSON.stringify(held.body)}`);
    const waiting = fetch(`${gateway}${held.body.statusUrl}?wait=20`, { headers: { authorization: `Bearer ${agent}` } });
    await sleep(20); // the client is parked on its long poll before the approver clicks
    const click = signedClick({ approvalUrl, secret, user: i % 2 ? 'U0ALICE' : 'U0BOB', action: 'approve', approvalId: String(held.body.approvalId) });
    const t0 = process.hrtime.bigint();
    const vote = await deliverClick(approvalUrl, click);
    const res = await waiting;
    const body = (await res.json()) as Record<string, unknown>;
    const t1 = process.hrtime.bigint();
    if (vote.body.outcome !== 'granted' || res.status !== 200)
      throw new Error(`resume failed: vote ${JSON.stringify(vote.body)}, HTTP ${res.status} ${JSON.stringify(body)}`);
    if (i >= 3) resume.push(t1 - t0);
  }
  const d = summarise(direct);
  const r = summarise(resume);
  const targetMs = 100;
  const p50Ms = r.p50Us / 1000;
  return {
    iterations,
    directQuery: d,
    clickToResult: { ...r, p50VsDirectQuery: Math.round((r.p50Us / d.p50Us) * 100) / 100 },
    target: { clickToResultP50Ms: targetMs, met: p50Ms <= targetMs, missByMs: Math.max(0, Math.round((p50Ms - targetMs) * 10) / 10) },
  };
}
