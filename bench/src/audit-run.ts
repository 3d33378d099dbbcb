// The audit ingest suite of npm run bench on its own (a minute or two, against the running stack):
//   node bench/dist/src/audit-run.js                  the whole suite (writer comparison, service runs)
//   node bench/dist/src/audit-run.js --writer         the writer comparison only (chained vs chain-free)
//   ... --store <file>                                the writers of another build of @phigate/audit/store
//                                                     (its dist/src/adapters/store/index.js), e.g. from before a change
//   ... --main <file>                                 the service runs start another build of the service (its dist/src/main.js)
// BENCH_AUDIT_EVENTS, BENCH_AUDIT_TRIALS and BENCH_AUDIT_RUNS as for npm run bench. Prints the result as JSON last.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { auditBench, auditEvents, type Writers, writerComparison } from './audit-suite.js';
import { stopAll, stopAllOnSignals } from './processes.js';

stopAllOnSignals();
process.removeAllListeners('warning');
const args = process.argv.slice(2);
const option = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? resolve(args[at + 1]!) : undefined;
};
const store = option('--store');
const main = option('--main');
try {
  const writers = store ? ((await import(pathToFileURL(store).href)) as Writers) : undefined;
  if (args.includes('--writer')) {
    const w = await writerComparison(auditEvents(Number(process.env.BENCH_AUDIT_EVENTS ?? 24_000)), Number(process.env.BENCH_AUDIT_TRIALS ?? 6), writers);
    console.log(JSON.stringify(w));
  } else console.log(JSON.stringify(await auditBench(undefined, undefined, undefined, { ...(writers ? { writers } : {}), ...(main ? { main } : {}) })));
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await stopAll();
}
process.exit();
