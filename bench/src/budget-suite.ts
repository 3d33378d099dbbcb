// What a PHI budget costs a statement (issue 21: "npm run bench shows the budget check's cost per
// statement"). One gateway replica this suite starts, with the stack's bindings but the analytics
// agent's binding replaced: a budget (rows, patients and bytes, limits never reached) that applies
// only to the purpose `bench-budgeted`. The same 100-row page of patients runs, alternately, under
// that purpose (counted: one Redis script per statement) and under `bench-plain` (no budget applies:
// no Redis call). Figures: the check's own latency from the replica's histogram, and the page's
// latency both ways, as ratios of this run.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoToken, freePort, REPO_ROOT, spawnApp, uniqueName } from '@phigate/testkit';
import { tempDir, track } from './processes.js';
import { ratio, round1, tail } from './stats.js';

export interface BudgetBench {
  pages: number;
  rowsPerPage: number;
  /** The budget check alone (one Redis script round trip; the patient key hashing is in addedP50Us), mean over the budgeted pages. */
  checkMeanUs: number;
  /** A page with no budget applying (no Redis call) and with one (counted), end to end through the HTTP door. */
  plainPage: { p50Us: number; p99Us: number };
  budgetedPage: { p50Us: number; p99Us: number };
  /** Budgeted page p50 minus plain page p50. */
  addedP50Us: number;
  /** The check's mean over the plain page's p50: its share of a statement. */
  checkVsPlainPageP50: number;
}

export async function budgetBench(pages = Number(process.env.BENCH_BUDGET_PAGES ?? 400)): Promise<BudgetBench> {
  const stack = readFileSync(join(REPO_ROOT, 'deploy/local/gateway/connections.yaml'), 'utf8');
  const agent = /\n {2}- groups: \[ai-agents\]\n(?: {4}.*\n)+/;
  if (!agent.test(stack)) throw new Error("bench: the stack's bindings file has no analytics agent binding");
  const dir = tempDir('bench-budget-');
  const file = join(dir.path, 'connections.yaml');
  writeFileSync(
    file,
    stack.replace(
      agent,
      `
  - groups: [ai-agents]
    connections: { clinical-pg: analytics_reader }
    budgets:
      - id: bench
        window: 1m
        purposes: [bench-budgeted]
        columns: ["*.patients.*"]
        limits: { rows: 1000000000, patients: 1000000000, bytes: 1000000000000 }
`,
    ),
  );
  const http = await freePort();
  const gw = await spawnApp('gateway', 'services/gateway/dist/src/main.js', http, {
    GATEWAY_HTTP_PORT: String(http),
    GATEWAY_PG_PORT: String(await freePort()),
    GATEWAY_PG_HOST: '127.0.0.1',
    GATEWAY_CONNECTIONS_FILE: file,
    // Counters of its own, gone a minute after the run (the window).
    GATEWAY_BUDGET_KEY_PREFIX: `${uniqueName('phigate:budget:bench')}:`,
    GATEWAY_RATE_LIMIT_KEY_PREFIX: `${uniqueName('phigate:rl:bench-budget')}:`,
    GATEWAY_REPLICA_ID: `bench-budget-${http}`,
  });
  const stop = track('budget bench gateway', () => gw.kill('SIGTERM'));
  try {
    const token = await demoToken('analytics-agent');
    const page = async (purpose: string, n: number): Promise<number> => {
      const t0 = process.hrtime.bigint();
      const res = await fetch(`${gw.url}/v1/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-phigate-purpose': purpose },
        // 100 pages of 100: each budgeted page brings patients the window has not seen yet for its first 100 pages.
        body: JSON.stringify({ connection: 'clinical-pg', sql: `SELECT id, mrn, zip FROM patients ORDER BY id LIMIT 100 OFFSET ${(n % 100) * 100}` }),
      });
      const body = (await res.json()) as { rows?: unknown[] };
      if (res.status !== 200 || body.rows?.length !== 100) throw new Error(`bench: a page answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
      return Number(process.hrtime.bigint() - t0) / 1000;
    };
    for (let i = 0; i < 50; i++) await page(i % 2 ? 'bench-plain' : 'bench-budgeted', i);
    const before = await checkHistogram(gw.url);
    const plain: number[] = [];
    const budgeted: number[] = [];
    // Alternating, so drift hits both alike.
    for (let i = 0; i < pages; i++) {
      plain.push(await page('bench-plain', i));
      budgeted.push(await page('bench-budgeted', i));
    }
    const after = await checkHistogram(gw.url);
    const checks = after.count - before.count;
    if (checks !== pages) throw new Error(`bench: ${checks} budget checks for ${pages} budgeted pages`);
    const checkMeanUs = round1(((after.sum - before.sum) / checks) * 1e6);
    const p = tail(plain);
    const b = tail(budgeted);
    return {
      pages,
      rowsPerPage: 100,
      checkMeanUs,
      plainPage: { p50Us: p.p50Us, p99Us: p.p99Us },
      budgetedPage: { p50Us: b.p50Us, p99Us: b.p99Us },
      addedP50Us: round1(b.p50Us - p.p50Us),
      checkVsPlainPageP50: ratio(checkMeanUs, p.p50Us),
    };
  } finally {
    await stop();
    await dir.remove();
  }
}

/** The replica's budget check histogram: sum (seconds) and count. */
async function checkHistogram(url: string): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { sum: value('phigate_gateway_budget_check_seconds_sum'), count: value('phigate_gateway_budget_check_seconds_count') };
}

export function printBudget(b: BudgetBench): void {
  console.log(`\nPHI budget check (${b.pages} pages of ${b.rowsPerPage} patients each way, HTTP door, alternating)`);
  console.log(`   check alone (one Redis script, mean)   ${String(b.checkMeanUs).padStart(8)} µs   ${b.checkVsPlainPageP50}× a page's p50`);
  console.log(`   page, no budget applies (baseline)     p50 ${String(b.plainPage.p50Us).padStart(8)} µs   p99 ${String(b.plainPage.p99Us).padStart(8)} µs`);
  console.log(
    `   page, counted by a budget              p50 ${String(b.budgetedPage.p50Us).padStart(8)} µs   p99 ${String(b.budgetedPage.p99Us).padStart(8)} µs   (+${b.addedP50Us} µs p50)`,
  );
}
