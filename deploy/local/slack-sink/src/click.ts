import { createHmac, randomBytes } from 'node:crypto';

// The local stand-in for a person clicking a button in Slack: Slack delivers a `block_actions`
// interaction to the app's interactivity URL, form-encoded, signed with the app's signing secret
// (v0: HMAC-SHA-256 over `v0:<timestamp>:<raw body>`). DEV ONLY: real clicks come from Slack.

export interface Click {
  /** The approval service's base URL. */
  approvalUrl: string;
  /** The Slack app's signing secret. */
  secret: string;
  /** Slack user id of the clicker, e.g. U0ALICE. */
  user: string;
  action: 'approve' | 'deny';
  approvalId: string;
  /** Where the approval service posts the updated message (default: the local sink). */
  responseUrl?: string;
  /** Unix seconds to sign with (default: now). */
  timestampSec?: number;
}

/** The interaction's exact bytes and the headers Slack would send with them. */
export function signedClick(c: Click): { body: Buffer; headers: Record<string, string> } {
  const payload = {
    type: 'block_actions',
    user: { id: c.user, username: c.user.toLowerCase(), team_id: 'T0PHIGATE' },
    api_app_id: 'A0PHIGATE',
    team: { id: 'T0PHIGATE', domain: 'phigate' },
    container: { type: 'message', message_ts: '1740830400.000100', channel_id: 'C0APPROVALS', is_ephemeral: false },
    trigger_id: `${Date.now()}.${randomBytes(4).toString('hex')}`,
    response_url: c.responseUrl ?? `http://127.0.0.1:9401/response/${randomBytes(6).toString('hex')}`,
    actions: [{ type: 'button', action_id: c.action, block_id: 'phigate_approval_actions', value: c.approvalId, action_ts: `${Date.now() / 1000}` }],
  };
  const body = Buffer.from(new URLSearchParams({ payload: JSON.stringify(payload) }).toString());
  const ts = c.timestampSec ?? Math.floor(Date.now() / 1000);
  const signature = `v0=${createHmac('sha256', c.secret).update(`v0:${ts}:`).update(body).digest('hex')}`;
  return {
    body,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(ts), 'x-slack-signature': signature },
  };
}

/** Delivers a signed click (or the given bytes and headers) to the approval service. */
export async function deliverClick(
  approvalUrl: string,
  click: { body: Buffer; headers: Record<string, string> },
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${approvalUrl.replace(/\/$/, '')}/slack/interactions`, { method: 'POST', headers: click.headers, body: click.body });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}
