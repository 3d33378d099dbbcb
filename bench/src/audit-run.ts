// The audit ingest suite of npm run bench on its own (a minute or two, against the running stack):
//   node bench/dist/src/audit-run.js                  the whole suite (writer comparison, service runs)
//   node bench/dist/src/audit-run.js --writer         the writer comparison only (chained vs chain-free)
//   ... --store <file>                                the writers of another build of @phigate/audit/store
//                                                     (its dist/src/adapters/store/index.js), e.g. from before a change
// BENCH_AUDIT_EVENTS, BENCH_AUDIT_TRIALS and BENCH_AUDIT_RUNS as for npm run bench. Prints the result as JSON last.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { auditBench, auditEvents, type Writers, writerComparison } from './audit-suite.js';
import { stopAll, stopAllOnSignals } from './processes.js';

stopAllOnSignals();
process.removeAllListeners('warning');
const args = process.argv.slice(2);
const storeAt = args.indexOf('--store');
try {
  if (args.includes('--writer') || storeAt >= 0) {
    const writers = storeAt >= 0 ? ((await import(pathToFileURL(resolve(args[storeAt + 1]!)).href)) as Writers) : undefined;
    const w = await writerComparison(auditEvents(Number(process.env.BENCH_AUDIT_EVENTS ?? 24_000)), Number(process.env.BENCH_AUDIT_TRIALS ?? 6), writers);
    console.log(JSON.stringify(w));
  } else console.log(JSON.stringify(await auditBench()));
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await stopAll();
}
process.exit();
