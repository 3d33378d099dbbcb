// Masking throughput through the real gRPC stream, against a masking server started here in a
// child process on port 0 (the stack's masking service is not used). Each figure stands beside a
// plain pass-through (every column `none`) of the same rows over the same kind of stream, in the
// same run: column strategies in rows/s on a 12-column patient row, free-text scrubbing in MB/s.
// "Per core" divides by the CPU time the masking server process used (its own process.cpuUsage).
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { encodeRequest, PATIENT_COLUMNS, patientRow, rawMaskClient } from '@phigate/masking/load';
import { encodeRow, maskingV1 } from '@phigate/proto';
import { REPO_ROOT } from '@phigate/testkit';

const BATCH = 500; // the gateway's batch size
const S = maskingV1.Strategy;
const KEY = 'bench-only-key-0123456789abcdef0123456789';

interface ChildStats {
  rss: number;
  peakRss: number;
  cpuUserUs: number;
  cpuSystemUs: number;
}

const p = (x: number, n: number) => String(x).padStart(n, '0');
const NOTES: Array<(i: number) => string> = [
  (i) =>
    `Pt called from (415) 555-${p(i % 10_000, 4)} re: refill; SSN on file 9${p(i % 100, 2)}-${p(1 + (i % 99), 2)}-${p(1 + (i % 9999), 4)}; follow-up 2024-0${1 + (i % 9)}-1${i % 10}.`,
  (i) =>
    `Prefers contact via jane.doe${i}@example.org. MRN-${p(i % 10_000_000, 7)} cross-ref (sibling, same household). Discussed plan of care at length with patient and daughter.`,
  (i) =>
    `DOB 0${1 + (i % 9)}/1${i % 10}/19${p(20 + (i % 80), 2)} verified at check-in; lives in 787${p(i % 100, 2)}. Lives at ${1 + (i % 9000)} Oak Ave. Callback 512555${p(i % 10_000, 4)} after 5pm.`,
  () => 'Routine follow-up; vitals stable. BP 128/82, HR 71. Diet-controlled; A1c 6.8 on last check. Recheck in 3 months. Metformin 500 mg twice daily.',
  () =>
    'Patient reports adherence to medication regimen. No known drug allergies. Wound healing well; sutures removed, steri-strips applied. Labs WNL. Return PRN.',
  () =>
    'Discussed smoking cessation; pt receptive, 1/2 ppd currently. Pain controlled on acetaminophen 650 mg q6h PRN. Continue current meds and follow up with PCP.',
];

const encode = encodeRequest;
const headerOf = (cols: Array<{ name: string; strategy: maskingV1.Strategy; keepLast?: number }>) =>
  encode({
    msg: {
      $case: 'header',
      value: {
        requestId: 'bench',
        asOf: '2026-06-30',
        canary: maskingV1.CanaryMode.CANARY_MODE_OFF,
        visiblePhiKinds: [],
        columns: cols.map((c, index) => ({ index, name: c.name, strategy: c.strategy, keepLast: c.keepLast ?? 0 })),
      },
    },
  });

interface Measured {
  rowsPerSec: number;
  rowsPerServerCoreSec: number;
  serverCpuShare: number;
  clientCpuShare: number;
}

export async function maskingBench(seconds = Number(process.env.BENCH_MASKING_SECONDS ?? 3)) {
  const entry = join(REPO_ROOT, 'services/masking/dist/src/tools/serve-child.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build first (npm run build)`);
  const child: ChildProcess = fork(entry, [], { env: { ...process.env, MASKING_TOKEN_KEY: KEY, LOG_LEVEL: 'silent' }, stdio: 'inherit' });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`masking child exited with ${code}`)));
    child.on('message', (m: { port?: number }) => m.port && resolve(m.port));
  });
  const stats = () =>
    new Promise<ChildStats>((resolve) => {
      const h = (m: { stats?: ChildStats }) => {
        if (m.stats) {
          child.off('message', h);
          resolve(m.stats);
        }
      };
      child.on('message', h);
      child.send('stats');
    });
  const client = rawMaskClient(`127.0.0.1:${port}`);

  /** One stream: header, warm-up, then batches one in flight for `seconds`, timed. */
  async function measure(header: Buffer, batches: Buffer[]): Promise<Measured> {
    const call = client.mask({ deadline: Date.now() + 600_000 });
    const waiting: Array<(b: Buffer) => void> = [];
    let failure: Error | undefined;
    call.on('data', (b: Buffer) => waiting.shift()?.(b));
    call.on('error', (e) => {
      failure = e;
      for (const w of waiting.splice(0)) w(Buffer.alloc(0));
    });
    const send = (b: Buffer) =>
      new Promise<Buffer>((resolve) => {
        waiting.push(resolve);
        call.write(b);
      });
    call.write(header);
    for (let i = 0; i < 100; i++) await send(batches[i % batches.length]!);
    const s0 = await stats();
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const deadline = t0 + BigInt(Math.round(seconds * 1e9));
    let n = 0;
    while (n % 20 !== 0 || process.hrtime.bigint() < deadline) {
      if (failure) throw failure;
      await send(batches[n % batches.length]!);
      n++;
    }
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const c1 = process.cpuUsage(c0);
    const s1 = await stats();
    const end = new Promise<Buffer>((resolve) => waiting.push(resolve));
    call.end();
    await end;
    if (failure) throw failure;
    const serverCpu = (s1.cpuUserUs + s1.cpuSystemUs - s0.cpuUserUs - s0.cpuSystemUs) / 1e6;
    const rows = n * BATCH;
    return {
      rowsPerSec: Math.round(rows / wall),
      rowsPerServerCoreSec: Math.round(rows / serverCpu),
      serverCpuShare: round2(serverCpu / wall),
      clientCpuShare: round2((c1.user + c1.system) / 1e6 / wall),
    };
  }

  /** Pass-through and masked, interleaved over three rounds; the median round of each. */
  async function pair(batches: Buffer[], masked: Buffer, plain: Buffer) {
    const m: Measured[] = [];
    const pt: Measured[] = [];
    for (let round = 0; round < 3; round++) {
      pt.push(await measure(plain, batches));
      m.push(await measure(masked, batches));
    }
    const median = (xs: Measured[]) => [...xs].sort((a, b) => a.rowsPerServerCoreSec - b.rowsPerServerCoreSec)[1]!;
    return { masked: median(m), passThrough: median(pt) };
  }

  // Column strategies: 40 distinct batches of 500 patient rows.
  const rowBatches = Array.from({ length: 40 }, (_, b) =>
    encode({ msg: { $case: 'rows', value: { rows: Array.from({ length: BATCH }, (_, k) => encodeRow(patientRow(b * BATCH + k))) } } }),
  );
  const rowBytes = rowBatches.reduce((a, b) => a + b.length, 0) / (rowBatches.length * BATCH);
  const columns = await pair(rowBatches, headerOf(PATIENT_COLUMNS), headerOf(PATIENT_COLUMNS.map((c) => ({ ...c, strategy: S.STRATEGY_NONE }))));

  // Free text: rows of (id, notes, status); MB/s counts the notes' UTF-8 bytes.
  let noteBytes = 0;
  let noteCount = 0;
  const textBatches = Array.from({ length: 40 }, (_, b) =>
    encode({
      msg: {
        $case: 'rows',
        value: {
          rows: Array.from({ length: BATCH }, (_, k) => {
            const i = b * BATCH + k;
            const note = `${NOTES[i % NOTES.length]!(i)} ${NOTES[(i * 7 + 3) % NOTES.length]!(i + 1)}`;
            noteBytes += Buffer.byteLength(note);
            noteCount++;
            return encodeRow([String(i), note, 'signed']);
          }),
        },
      },
    }),
  );
  const bytesPerNote = noteBytes / noteCount;
  const textCols = [
    { name: 'id', strategy: S.STRATEGY_NONE },
    { name: 'notes', strategy: S.STRATEGY_SCRUB },
    { name: 'status', strategy: S.STRATEGY_NONE },
  ];
  const text = await pair(textBatches, headerOf(textCols), headerOf(textCols.map((c) => ({ ...c, strategy: S.STRATEGY_NONE }))));
  client.close();
  child.send('stop');

  const mb = (rowsPerSec: number) => round2((rowsPerSec * bytesPerNote) / 1e6);
  const result = {
    server: 'child process, 127.0.0.1:0',
    batchRows: BATCH,
    columnStrategies: {
      row: {
        columns: PATIENT_COLUMNS.length,
        bytesOnWire: Math.round(rowBytes),
        strategies: PATIENT_COLUMNS.map((c) => `${c.name}:${c.strategy.replace('STRATEGY_', '').toLowerCase()}`),
      },
      masked: columns.masked,
      passThrough: columns.passThrough,
      wallVsPassThrough: round2(columns.masked.rowsPerSec / columns.passThrough.rowsPerSec),
      perCoreVsPassThrough: round2(columns.masked.rowsPerServerCoreSec / columns.passThrough.rowsPerServerCoreSec),
    },
    freeTextScrub: {
      bytesPerNote: Math.round(bytesPerNote),
      masked: { ...text.masked, mbPerSec: mb(text.masked.rowsPerSec), mbPerServerCoreSec: mb(text.masked.rowsPerServerCoreSec) },
      passThrough: { ...text.passThrough, mbPerSec: mb(text.passThrough.rowsPerSec), mbPerServerCoreSec: mb(text.passThrough.rowsPerServerCoreSec) },
      wallVsPassThrough: round2(text.masked.rowsPerSec / text.passThrough.rowsPerSec),
      perCoreVsPassThrough: round2(text.masked.rowsPerServerCoreSec / text.passThrough.rowsPerServerCoreSec),
    },
    targets: {
      columnRowsPerServerCoreSec: { target: 200_000, measured: columns.masked.rowsPerServerCoreSec, met: columns.masked.rowsPerServerCoreSec >= 200_000 },
      scrubMbPerServerCoreSec: { target: 12, measured: mb(text.masked.rowsPerServerCoreSec), met: mb(text.masked.rowsPerServerCoreSec) >= 12 },
    },
  };
  printMasking(result);
  return result;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function printMasking(r: {
  columnStrategies: { masked: Measured; passThrough: Measured; wallVsPassThrough: number; perCoreVsPassThrough: number };
  freeTextScrub: {
    bytesPerNote: number;
    masked: Measured & { mbPerSec: number; mbPerServerCoreSec: number };
    passThrough: Measured & { mbPerSec: number; mbPerServerCoreSec: number };
    wallVsPassThrough: number;
    perCoreVsPassThrough: number;
  };
}) {
  const c = r.columnStrategies;
  const t = r.freeTextScrub;
  const n = (x: number) => String(x).padStart(10);
  console.log(`\nmasking over gRPC (${BATCH}-row batches, one in flight; server in a child process; per core = per server CPU-second)`);
  console.log(`${'12-column patient row'.padEnd(34)} ${'rows/s'.padStart(10)} ${'per core'.padStart(10)}`);
  console.log(`${'  pass-through (all none)'.padEnd(34)} ${n(c.passThrough.rowsPerSec)} ${n(c.passThrough.rowsPerServerCoreSec)}`);
  console.log(
    `${'  column strategies'.padEnd(34)} ${n(c.masked.rowsPerSec)} ${n(c.masked.rowsPerServerCoreSec)}   ${c.wallVsPassThrough}× pass-through (per core ${c.perCoreVsPassThrough}×)`,
  );
  console.log(`${`free-text notes (~${t.bytesPerNote} B)`.padEnd(34)} ${'MB/s'.padStart(10)} ${'per core'.padStart(10)}`);
  console.log(`${'  pass-through (none)'.padEnd(34)} ${n(t.passThrough.mbPerSec)} ${n(t.passThrough.mbPerServerCoreSec)}`);
  console.log(
    `${'  scrub'.padEnd(34)} ${n(t.masked.mbPerSec)} ${n(t.masked.mbPerServerCoreSec)}   ${t.wallVsPassThrough}× pass-through (per core ${t.perCoreVsPassThrough}×)`,
  );
}
