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
