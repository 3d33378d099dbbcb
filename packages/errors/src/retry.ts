import { isAppError } from './app-error.js';

/** Options for {@link retry}. */
export interface RetryOptions {
  retries: number;
  /** First backoff in ms; doubles each attempt, with full jitter. */
  initialMs: number;
  maxMs: number;
  /** Decides whether an error is worth another attempt. Default: `AppError.retriable`. */
  isRetriable?: (err: unknown) => boolean;
  signal?: AbortSignal;
}

/** Runs `fn` until it succeeds, the error is not retriable, or retries run out (jittered exponential backoff). */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const retriable = opts.isRetriable ?? ((e: unknown) => isAppError(e) && e.retriable);
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= opts.retries || !retriable(err) || opts.signal?.aborted) throw err;
      const cap = Math.min(opts.maxMs, opts.initialMs * 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * cap));
    }
  }
}
