// The PHI budget suite of npm run bench on its own (about a minute, against the running stack):
//   node bench/dist/src/budget-run.js        BENCH_BUDGET_PAGES pages each way (default 400)
// Prints the table, then the result as JSON.
import { budgetBench, printBudget } from './budget-suite.js';
import { stopAll, stopAllOnSignals } from './processes.js';

stopAllOnSignals();
process.removeAllListeners('warning');
await budgetBench().then(
  (b) => {
    printBudget(b);
    console.log(JSON.stringify(b));
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
await stopAll();
process.exit();
