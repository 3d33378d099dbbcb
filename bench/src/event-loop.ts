// A service's event-loop delay during a load run, from its /metrics: prom-client's default
// collector keeps a monitorEventLoopDelay histogram and resets it after each scrape, so a scrape
// before the run starts the window and the p99 read by a scrape after it is the run's own.

const P99 = /^phigate_nodejs_eventloop_lag_p99_seconds(?:\{[^}]*\})?\s+([0-9.eE+-]+)$/m;

/** Starts a window on the service at `httpUrl`; the returned function ends it with the p99 delay in ms. */
export async function eventLoopWindow(httpUrl: string): Promise<() => Promise<number | undefined>> {
  await scrape(httpUrl);
  return async () => {
    const text = await scrape(httpUrl);
    const m = text === undefined ? null : P99.exec(text);
    return m ? Math.round(Number(m[1]) * 1e6) / 1000 : undefined;
  };
}

async function scrape(httpUrl: string): Promise<string | undefined> {
  const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
  return res?.ok ? res.text() : undefined;
}
