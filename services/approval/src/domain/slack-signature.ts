import { createHmac, timingSafeEqual } from 'node:crypto';

// Slack's request signing, version 0: https://api.slack.com/authentication/verifying-requests-from-slack

/** How far a request's timestamp may be from our clock, either way (Slack's recommendation). */
export const SLACK_SIGNATURE_WINDOW_SEC = 300;

/** Why a request failed verification; only ever logged or counted, never sent back in detail. */
export const SIGNATURE_FAILURE = {
  MISSING_HEADERS: 'missing_headers',
  MALFORMED_TIMESTAMP: 'malformed_timestamp',
  MALFORMED_SIGNATURE: 'malformed_signature',
  STALE: 'stale',
  FUTURE: 'future',
  MISMATCH: 'mismatch',
} as const;
export type SignatureFailure = (typeof SIGNATURE_FAILURE)[keyof typeof SIGNATURE_FAILURE];

export type SignatureCheck = { ok: true; timestampSec: number } | { ok: false; reason: SignatureFailure };

/** A header as node hands it over: absent, once, or repeated. */
type HeaderValue = string | readonly string[] | undefined;

export interface SignedRequest {
  /** The exact bytes received; re-encoding a parsed body would not match what Slack signed. */
  rawBody: Buffer;
  /** `X-Slack-Request-Timestamp`: Unix seconds. */
  timestamp: HeaderValue;
  /** `X-Slack-Signature`: `v0=` and 64 lowercase hex digits. */
  signature: HeaderValue;
}

const TIMESTAMP = /^[0-9]{1,12}$/;
const SIGNATURE = /^v0=([0-9a-f]{64})$/;

/** The v0 signature of a body at a timestamp: `v0=` + hex HMAC-SHA-256 of `v0:{timestamp}:{body}`. */
export function slackSignature(secret: string, timestampSec: number | string, rawBody: Buffer | string): string {
  return `v0=${digest(secret, String(timestampSec), typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody).toString('hex')}`;
}

/**
 * Verifies a Slack request: both headers present exactly once and well-formed, the timestamp within
 * {@link SLACK_SIGNATURE_WINDOW_SEC} of `now` (past or future), and the HMAC equal in constant time.
 */
export function verifySlackSignature(req: SignedRequest, secret: string, now: Date, windowSec = SLACK_SIGNATURE_WINDOW_SEC): SignatureCheck {
  const timestamp = single(req.timestamp);
  const signature = single(req.signature);
  if (timestamp === undefined || signature === undefined) return fail(SIGNATURE_FAILURE.MISSING_HEADERS);
  if (!TIMESTAMP.test(timestamp)) return fail(SIGNATURE_FAILURE.MALFORMED_TIMESTAMP);
  const given = SIGNATURE.exec(signature)?.[1];
  if (given === undefined) return fail(SIGNATURE_FAILURE.MALFORMED_SIGNATURE);
  const timestampSec = Number(timestamp);
  const nowSec = Math.floor(now.getTime() / 1000);
  if (nowSec - timestampSec > windowSec) return fail(SIGNATURE_FAILURE.STALE);
  if (timestampSec - nowSec > windowSec) return fail(SIGNATURE_FAILURE.FUTURE);
  const expected = digest(secret, timestamp, req.rawBody);
  // Both are 32 bytes: the pattern above admits exactly 64 hex digits.
  const actual = Buffer.from(given, 'hex');
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return fail(SIGNATURE_FAILURE.MISMATCH);
  return { ok: true, timestampSec };
}

function digest(secret: string, timestamp: string, rawBody: Buffer): Buffer {
  return createHmac('sha256', secret).update(`v0:${timestamp}:`).update(rawBody).digest();
}

function single(v: HeaderValue): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  // A repeated header is ambiguous: which one did Slack sign? Treat it as missing.
  return undefined;
}

function fail(reason: SignatureFailure): SignatureCheck {
  return { ok: false, reason };
}
