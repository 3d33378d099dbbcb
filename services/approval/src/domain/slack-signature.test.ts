import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { SLACK_SIGNATURE_WINDOW_SEC, slackSignature, verifySlackSignature } from './slack-signature.js';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const NOW = new Date('2025-03-01T12:00:00Z');
const TS = Math.floor(NOW.getTime() / 1000);
const BODY = Buffer.from('payload=%7B%22type%22%3A%22block_actions%22%7D', 'utf8');

function signed(body = BODY, ts: number | string = TS, secret = SECRET) {
  return { rawBody: body, timestamp: String(ts), signature: slackSignature(secret, ts, body) };
}

test('slackSignature is v0= and the hex HMAC-SHA-256 of v0:{timestamp}:{body}', () => {
  const expected = createHmac('sha256', SECRET)
    .update(`v0:${TS}:${BODY.toString('utf8')}`)
    .digest('hex');
  assert.equal(slackSignature(SECRET, TS, BODY), `v0=${expected}`);
});

test('a correctly signed request verifies', () => {
  assert.deepEqual(verifySlackSignature(signed(), SECRET, NOW), { ok: true, timestampSec: TS });
});

test('a signature made with another secret is a mismatch', () => {
  assert.deepEqual(verifySlackSignature(signed(BODY, TS, 'another-secret-of-enough-length'), SECRET, NOW), { ok: false, reason: 'mismatch' });
});

test('a body changed by one byte is a mismatch', () => {
  const req = signed();
  const tampered = Buffer.from(req.rawBody);
  const i = tampered.length - 2;
  tampered.writeUInt8(tampered.readUInt8(i) ^ 1, i);
  assert.deepEqual(verifySlackSignature({ ...req, rawBody: tampered }, SECRET, NOW), { ok: false, reason: 'mismatch' });
});

test('the signature covers the raw bytes, not a re-encoding of them', () => {
  // Same form fields, different bytes (`+` versus `%20` for a space): only the signed one verifies.
  const a = Buffer.from('payload=%7B%22a%22%3A%22x+y%22%7D');
  const b = Buffer.from('payload=%7B%22a%22%3A%22x%20y%22%7D');
  assert.equal(new URLSearchParams(a.toString()).get('payload'), new URLSearchParams(b.toString()).get('payload'));
  assert.equal(verifySlackSignature({ ...signed(a), rawBody: b }, SECRET, NOW).ok, false);
});

test('the timestamp must be within five minutes either way', () => {
  const w = SLACK_SIGNATURE_WINDOW_SEC;
  assert.equal(verifySlackSignature(signed(BODY, TS - w), SECRET, NOW).ok, true);
  assert.equal(verifySlackSignature(signed(BODY, TS + w), SECRET, NOW).ok, true);
  assert.deepEqual(verifySlackSignature(signed(BODY, TS - w - 1), SECRET, NOW), { ok: false, reason: 'stale' });
  assert.deepEqual(verifySlackSignature(signed(BODY, TS + w + 1), SECRET, NOW), { ok: false, reason: 'future' });
});

test('a signed timestamp cannot be swapped for a fresh one', () => {
  const old = signed(BODY, TS - 3600);
  assert.deepEqual(verifySlackSignature({ ...old, timestamp: String(TS) }, SECRET, NOW), { ok: false, reason: 'mismatch' });
});

test('missing, repeated or malformed headers are refused before any HMAC', () => {
  const req = signed();
  assert.deepEqual(verifySlackSignature({ ...req, timestamp: undefined }, SECRET, NOW), { ok: false, reason: 'missing_headers' });
  assert.deepEqual(verifySlackSignature({ ...req, signature: undefined }, SECRET, NOW), { ok: false, reason: 'missing_headers' });
  assert.deepEqual(verifySlackSignature({ ...req, signature: '' }, SECRET, NOW), { ok: false, reason: 'missing_headers' });
  assert.deepEqual(verifySlackSignature({ ...req, signature: [req.signature, req.signature] }, SECRET, NOW), { ok: false, reason: 'missing_headers' });
  for (const ts of ['abc', '-1', '1.5', `${TS} `, '1e9', '9'.repeat(13)]) {
    assert.deepEqual(verifySlackSignature({ ...req, timestamp: ts }, SECRET, NOW), { ok: false, reason: 'malformed_timestamp' }, ts);
  }
  const hex = req.signature.slice(3);
  for (const sig of [hex, `v1=${hex}`, `v0=${hex.toUpperCase()}`, `v0=${hex.slice(2)}`, `v0=${hex}00`, `v0=${'z'.repeat(64)}`]) {
    assert.deepEqual(verifySlackSignature({ ...req, signature: sig }, SECRET, NOW), { ok: false, reason: 'malformed_signature' }, sig);
  }
});

test('an empty body verifies only when it was signed empty', () => {
  const empty = Buffer.alloc(0);
  assert.equal(verifySlackSignature(signed(empty), SECRET, NOW).ok, true);
  assert.equal(verifySlackSignature({ ...signed(), rawBody: empty }, SECRET, NOW).ok, false);
});
