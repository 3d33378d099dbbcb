// The TLS cost suite of npm run bench on its own (a couple of minutes, against the running stack):
//   node bench/dist/src/tls-run.js     BENCH_PGBENCH_SECONDS per run, BENCH_PGWIRE_PASSES passes
// Prints the table, then the result as JSON.
import { stopAll, stopAllOnSignals } from './processes.js';
import { auditSettler } from './settle.js';
import { tlsCostBench } from './tls-suite.js';

stopAllOnSignals();
process.removeAllListeners('warning');
const settler = await auditSettler();
await tlsCostBench(() => settler.wait()).then(
  (b) => console.log(JSON.stringify(b)),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
await stopAll();
process.exit();
