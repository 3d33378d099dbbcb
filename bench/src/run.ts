// npm run bench: runs every suite against the running local stack and writes
// bench/results/latest.json (machine-readable) plus a short table. Every process a suite starts
// (gateway replicas, pgbouncer, an audit service) is stopped at the end, on failure and on signals.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@phigate/testkit';
import { approvalBench } from './approval-suite.js';
import { auditBench, auditLagSampler } from './audit-suite.js';
import { budgetBench, printBudget } from './budget-suite.js';
import { httpBench } from './http-suite.js';
import { maskingBench } from './masking-suite.js';
import { pgwireBench } from './pgwire-suite.js';
import { policyBench } from './policy-suite.js';
import { startReplicas, stopAll, stopAllOnSignals } from './processes.js';
import { printReplay, replayBench } from './replay-suite.js';
import { auditSettler } from './settle.js';
import { snowflakeBench } from './snowflake-suite.js';
import { evaluateTargets, printTargets } from './targets.js';
import { tlsCostBench } from './tls-suite.js';

stopAllOnSignals();
// kafkajs arms timers with negative delays (harmless; the stack's services hide the same warning).
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name !== 'TimeoutNegativeWarning') console.warn(w);
});
const iterations = Number(process.env.BENCH_ITERATIONS ?? 5000);
const started = new Date();
try {
  const policy = await policyBench(iterations);
  const masking = await maskingBench(); // prints its own rows
  const approval = await approvalBench();
  // Before the doors: their load leaves the stack's audit service a backlog that would compete.
  const audit = await auditBench(); // prints its own line
  const replicas = await startReplicas();
  const settler = await auditSettler();
  const settle = () => settler.wait();
  // The stack's audit consumer lag while the PostgreSQL door's load runs (issue 17: lag is visible).
  const lag = auditLagSampler();
  const pgwire = await pgwireBench(replicas, settle); // prints its own table
  const pgwireAuditLag = lag.stop();
  console.log(
    `\naudit consumer lag during the PostgreSQL door runs: max ${pgwireAuditLag.maxLag}, last ${pgwireAuditLag.lastLag} (${pgwireAuditLag.samples} samples)`,
  );
  const http = await httpBench(replicas, settle);
  const snowflake = await snowflakeBench(replicas, settle);
  // What internal TLS costs on the PostgreSQL door path (issue 18): replicas of its own, TLS and plaintext.
  const tlsCost = await tlsCostBench(settle); // prints its own lines
  // What a PHI budget costs a statement (issue 21): a replica of its own, pages with and without a budget.
  const budget = await budgetBench();
  // Policy replay over every recorded statement (issue 25): throughput and the tool's peak RSS.
  const replay = replayBench();
  const targets = evaluateTargets({ policy, approval, pgwire, http, snowflake, audit });
  const result = {
    startedAt: started.toISOString(),
    durationSec: Math.round((Date.now() - started.getTime()) / 1000),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    iterations,
    targets,
    /** Waits before measured door runs for the stack's audit service to drain the backlog the previous run left. */
    auditBacklogSettling: settler.stats,
    /** The stack's audit consumer lag (events, all partitions) sampled during the PostgreSQL door runs. */
    pgwireAuditLag,
    suites: { policy, masking, approval, audit, pgwire, http, snowflake, tlsCost, budget, replay },
  };
  mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(REPO_ROOT, 'bench/results/latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  const row = (name: string, s: { p50Us: number; p99Us: number }, ratio?: number) =>
    `${name.padEnd(34)} p50 ${String(s.p50Us).padStart(8)} µs   p99 ${String(s.p99Us).padStart(8)} µs${ratio === undefined ? '' : `   ${ratio}× gRPC RTT`}`;
  console.log(`\npolicy decisions (${policy.corpusStatements}-statement corpus, ${iterations} iterations, 1 in flight)`);
  console.log(row('bare gRPC round trip (baseline)', policy.grpcRoundTrip));
  console.log(row('SQL analysis (PostgreSQL parser)', policy.analysis, policy.analysis.p50VsGrpcRoundTrip), `  ${policy.analysis.perSecond}/s`);
  console.log(row('decision, cold (analysis + RPC)', policy.decisionCold, policy.decisionCold.p50VsGrpcRoundTrip));
  console.log(row('decision, cached', policy.decisionCached, policy.decisionCached.p50VsGrpcRoundTrip), `  hit rate ${policy.decisionCached.hitRate}`);
  console.log(`\napproval resume (${approval.iterations} held statements, signed Slack click → result at a waiting client)`);
  console.log(row('allowed point query (baseline)', approval.directQuery));
  console.log(row('click → result', approval.clickToResult), `  ${approval.clickToResult.p50VsDirectQuery}× the point query`);
  printBudget(budget);
  printReplay(replay);
  printTargets(targets);
  console.log(`\nwritten to bench/results/latest.json (${result.durationSec} s)`);
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await stopAll();
}
// Drivers (kafkajs, snowflake-sdk) can leave timers behind; the bench is done.
process.exit();
