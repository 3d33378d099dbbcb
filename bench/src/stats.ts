/** Percentiles (µs) of a sample of durations in nanoseconds. */
export function summarise(ns: bigint[]): { n: number; p50Us: number; p90Us: number; p99Us: number; meanUs: number } {
  const us = ns.map((x) => Number(x) / 1000).sort((a, b) => a - b);
  const at = (q: number) => us[Math.min(us.length - 1, Math.floor(q * us.length))] ?? 0;
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    n: us.length,
    p50Us: round(at(0.5)),
    p90Us: round(at(0.9)),
    p99Us: round(at(0.99)),
    meanUs: round(us.reduce((a, b) => a + b, 0) / (us.length || 1)),
  };
}

/** Latency percentiles in µs (p50, p99, p99.9) of a sample already in µs. */
export interface Tail {
  samples: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
}

/** p50/p99/p99.9 of latencies in µs (the array is sorted in place). */
export function tail(us: Float64Array | number[]): Tail {
  const sorted = us instanceof Float64Array ? us.sort() : Float64Array.from(us).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { samples: sorted.length, p50Us: round1(at(0.5)), p99Us: round1(at(0.99)), p999Us: round1(at(0.999)) };
}

/** `a / b` to three decimals (NaN when either is missing). */
export function ratio(a: number, b: number): number {
  return Math.round((a / b) * 1000) / 1000;
}

export function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** Times `fn` `iterations` times after `warmup` untimed runs, one at a time. */
export async function timeEach(iterations: number, warmup: number, fn: (i: number) => Promise<unknown> | unknown): Promise<bigint[]> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const out: bigint[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    await fn(i);
    out.push(process.hrtime.bigint() - t0);
  }
  return out;
}

/** Throughput and latency of a closed loop: `clients` callers, each awaiting `op` back to back. */
export interface LoopFigure extends Tail {
  clients: number;
  tps: number;
  failed: number;
}

/**
 * Runs `clients` concurrent closed loops of `op(client, i)` for `warmupSec` untimed, then
 * `seconds` timed; each call's latency is recorded. A failing call counts in `failed`; the first
 * failure's error is rethrown if nothing succeeded.
 */
export async function closedLoop(
  clients: number,
  seconds: number,
  warmupSec: number,
  op: (client: number, i: number) => Promise<unknown>,
): Promise<LoopFigure> {
  const latencies: number[] = [];
  let failed = 0;
  let firstError: unknown;
  let measuring = false;
  let stop = false;
  let counter = 0;
  const loop = async (client: number) => {
    while (!stop) {
      const t0 = process.hrtime.bigint();
      try {
        await op(client, counter++);
        if (measuring) latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
      } catch (err) {
        firstError ??= err;
        if (measuring) failed++;
      }
    }
  };
  const loops = Array.from({ length: clients }, (_, c) => loop(c));
  await new Promise((r) => setTimeout(r, warmupSec * 1000));
  measuring = true;
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  stop = true;
  await Promise.all(loops);
  if (latencies.length === 0) throw firstError ?? new Error('the closed loop completed no call');
  return { clients, tps: Math.round(latencies.length / wall), failed, ...tail(latencies) };
}
