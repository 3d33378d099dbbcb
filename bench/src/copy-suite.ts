// COPY (SELECT …) TO STDOUT of 100,000 patient rows (the demo's 10,000 patients, ten times over)
// with psql, through the gateway's PostgreSQL door (each audit durability mode), directly against
// PostgreSQL as the same upstream role, and through pgbouncer: without a masked column, and with
// one (etl-pipeline's `phone`, partial). Wall time of the whole psql run (login included), median
// of several runs, rows per second, the gateway's CPU per export, and the ratios to direct and
// pgbouncer of the same run.
import { spawn } from 'node:child_process';
import { cpuUs, DURABILITIES, type Durability } from './processes.js';
import { ratio, round1 } from './stats.js';

export interface CopyEndpoint {
  conninfo: string;
  env: Record<string, string>;
  pid?: number;
}

const COPY_ROWS = 100_000;
const COLUMNS = { plain: 'p.id, p.first_name, p.last_name, p.zip, p.dob', masked: 'p.id, p.first_name, p.last_name, p.zip, p.dob, p.phone' } as const;
type CopyScript = keyof typeof COLUMNS;
const copySql = (s: CopyScript) => `COPY (SELECT ${COLUMNS[s]} FROM patients p CROSS JOIN generate_series(1, 10) g) TO STDOUT WITH (FORMAT csv)`;

export interface CopyRun {
  script: CopyScript;
  target: 'direct' | 'pgbouncer' | Durability;
  rows: number;
  medianMs: number;
  rowsPerSec: number;
  megabytesPerSec: number;
  /** Gateway CPU per export (gateway targets only). */
  cpuMsPerExport?: number;
  vsDirect?: number;
  vsPgbouncer?: number;
}

export interface CopyBench {
  rows: number;
  runsPerTarget: number;
  statements: Record<CopyScript, string>;
  runs: CopyRun[];
}

/** One psql COPY: wall time, rows and bytes it wrote. */
function psqlCopy(e: CopyEndpoint, sql: string): Promise<{ ms: number; rows: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('psql', [e.conninfo, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: { ...process.env, ...e.env } });
    let rows = 0;
    let bytes = 0;
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      bytes += b.length;
      for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) rows++;
    });
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`psql COPY failed (${code}) against ${e.conninfo}: ${err.trim()}`));
      else resolve({ ms: performance.now() - started, rows, bytes });
    });
  });
}

export async function copyBench(
  endpoints: Record<CopyRun['target'], CopyEndpoint>,
  settle: () => Promise<void>,
  runs = Number(process.env.BENCH_COPY_RUNS ?? 5),
): Promise<CopyBench> {
  const targets = ['direct', 'pgbouncer', ...DURABILITIES] as const;
  const out: CopyRun[] = [];
  for (const script of ['plain', 'masked'] as const) {
    const sql = copySql(script);
    // Warm-up: pools, JIT and the decision of each gateway replica.
    for (const t of targets) await psqlCopy(endpoints[t], sql);
    const samples = new Map<string, Array<{ ms: number; rows: number; bytes: number; cpuUs: number }>>();
    // Interleaved, so drift of the shared machine hits every target alike.
    for (let i = 0; i < runs; i++) {
      for (const t of targets) {
        await settle();
        const pid = endpoints[t].pid;
        const cpu0 = pid ? cpuUs(pid) : 0;
        const r = await psqlCopy(endpoints[t], sql);
        if (r.rows !== COPY_ROWS) throw new Error(`COPY through ${t} wrote ${r.rows} rows, not ${COPY_ROWS}`);
        samples.set(t, [...(samples.get(t) ?? []), { ...r, cpuUs: pid ? cpuUs(pid) - cpu0 : 0 }]);
      }
    }
    const median = (t: string) => {
      const s = [...samples.get(t)!].sort((a, b) => a.ms - b.ms);
      return s[Math.floor(s.length / 2)]!;
    };
    const direct = median('direct');
    const bouncer = median('pgbouncer');
    for (const t of targets) {
      const m = median(t);
      const gateway = DURABILITIES.includes(t as Durability);
      const cpu = samples.get(t)!.reduce((a, s) => a + s.cpuUs, 0) / runs;
      out.push({
        script,
        target: t,
        rows: m.rows,
        medianMs: round1(m.ms),
        rowsPerSec: Math.round(m.rows / (m.ms / 1000)),
        megabytesPerSec: round1(m.bytes / 1e6 / (m.ms / 1000)),
        ...(gateway ? { cpuMsPerExport: round1(cpu / 1000), vsDirect: ratio(direct.ms, m.ms), vsPgbouncer: ratio(bouncer.ms, m.ms) } : {}),
      });
    }
  }
  const result = { rows: COPY_ROWS, runsPerTarget: runs, statements: { plain: copySql('plain'), masked: copySql('masked') }, runs: out };
  printCopy(result);
  return result;
}

function printCopy(r: CopyBench): void {
  console.log(`\nCOPY … TO STDOUT of ${r.rows} patient rows with psql (median of ${r.runsPerTarget}; ×: throughput relative to the baseline)`);
  const widths = [7, 15, 10, 10, 8, 12, 8, 11];
  const line = (cells: Array<string | number | undefined>) => cells.map((c, i) => String(c ?? '').padStart(widths[i]!)).join(' ');
  console.log(line(['script', 'target', 'median ms', 'rows/s', 'MB/s', 'CPU ms/exp', '×direct', '×pgbouncer']));
  for (const x of r.runs) console.log(line([x.script, x.target, x.medianMs, x.rowsPerSec, x.megabytesPerSec, x.cpuMsPerExport, x.vsDirect, x.vsPgbouncer]));
}
