// The policy replay measure of npm run bench on its own (minutes, against the running stack's
// audit store): node bench/dist/src/replay-run.js. Prints the line, then the result as JSON.
import { printReplay, replayBench } from './replay-suite.js';

const b = replayBench();
printReplay(b);
console.log(JSON.stringify(b));
