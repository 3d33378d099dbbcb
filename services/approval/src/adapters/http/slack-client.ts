import { AppError } from '@phigate/errors';
import type { SlackMessage } from '../../domain/slack-message.js';

/** Posts messages to Slack: the incoming webhook, or a payload's `response_url`. */
export interface SlackClient {
  post(url: string, message: SlackMessage): Promise<void>;
}

export function createSlackClient(opts: { timeoutMs: number }): SlackClient {
  return {
    async post(url, message) {
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=utf-8' },
          body: JSON.stringify(message),
          // A redirect could lead anywhere; only the vetted URL is ever contacted.
          redirect: 'error',
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
      } catch (cause) {
        // Interim code: APPROVAL_SLACK_UNAVAILABLE is proposed for this (UNAVAILABLE, retriable).
        throw new AppError('APPROVAL_SLACK_UNAVAILABLE', { cause });
      }
      await res.body?.cancel();
      if (!res.ok) {
        throw new AppError('APPROVAL_SLACK_UNAVAILABLE', {
          message: 'Slack did not accept the message',
          retriable: res.status >= 500 || res.status === 429,
          details: { status: res.status },
        });
      }
    },
  };
}

/**
 * Which `response_url`s may be fetched: exactly the given origins (scheme, host and port), with no
 * credentials in the URL. A payload is signed by Slack, but the URL in it still decides where this
 * service sends requests, so it is held to an allow-list rather than trusted.
 */
export function responseUrlPolicy(origins: readonly string[]): (url: string) => boolean {
  const allowed = new Set(origins.map((o) => new URL(o).origin));
  return (candidate) => {
    let url: URL;
    try {
      url = new URL(candidate);
    } catch {
      return false;
    }
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.username === '' && url.password === '' && allowed.has(url.origin);
  };
}
