import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { parseKeyring, seal, unseal } from './sealing.js';

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const ring1 = { activeKeyId: 'k1', keys: new Map([['k1', k1]]) };
const ring2 = {
  activeKeyId: 'k2',
  keys: new Map([
    ['k1', k1],
    ['k2', k2],
  ]),
};

test('seal/unseal round-trips, names its key and never repeats an IV', () => {
  const a = seal('s3cret-password', ring1, 'clinical-pg');
  const b = seal('s3cret-password', ring1, 'clinical-pg');
  assert.equal(a.kid, 'k1');
  assert.notEqual(a.iv, b.iv);
  assert.notEqual(a.ct, b.ct);
  assert.ok(!JSON.stringify(a).includes('s3cret'));
  assert.equal(unseal(a, ring1, 'clinical-pg'), 's3cret-password');
});

test('tampering, another connection or a missing key are refused', () => {
  const s = seal('pw', ring1, 'clinical-pg');
  assert.throws(() => unseal(s, ring1, 'other-conn'), { code: 'GATEWAY_SEALED_CREDENTIAL_INVALID' });
  const ct = Buffer.from(s.ct, 'base64');
  ct[0] = (ct[0] ?? 0) ^ 1;
  assert.throws(() => unseal({ ...s, ct: ct.toString('base64') }, ring1, 'clinical-pg'), { code: 'GATEWAY_SEALED_CREDENTIAL_INVALID' });
  assert.throws(() => unseal({ ...s, kid: 'k9' }, ring1, 'clinical-pg'), { code: 'GATEWAY_SEALING_KEY_MISSING' });
});

test('rotation: old seals still open with the old key present; new seals use the active key', () => {
  const old = seal('pw', ring1, 'c');
  assert.equal(unseal(old, ring2, 'c'), 'pw');
  assert.equal(seal('pw', ring2, 'c').kid, 'k2');
});

test('parseKeyring reports every problem', () => {
  assert.throws(
    () => parseKeyring('{"active":"x","keys":{"bad id":"AAAA","k1":"short"}}'),
    (err: { details: { problems: string[] } }) => err.details.problems.length === 4,
  );
  const ring = parseKeyring(JSON.stringify({ active: 'k1', keys: { k1: k1.toString('base64') } }));
  assert.equal(ring.activeKeyId, 'k1');
});
