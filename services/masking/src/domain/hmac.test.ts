import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { TokenHmac } from './hmac.js';
import { token } from './strategies.js';

function reference(value: string | Buffer, id: string, secret: Buffer): string {
  return `tok_${id}_${createHmac('sha256', secret).update(value).digest('base64url').slice(0, 22)}`;
}

test('tokens equal node:crypto HMAC-SHA-256 for every length around the block boundaries', () => {
  const secret = Buffer.from('0123456789abcdef0123456789abcdef');
  const h = new TokenHmac('k1', secret);
  for (let n = 0; n <= 300; n++) {
    const v = 'x'.repeat(n);
    assert.equal(h.token(v), reference(v, 'k1', secret), `length ${n}`);
  }
});

test('tokens equal node:crypto for random values, unicode, and keys of any length', () => {
  for (const keyLen of [32, 63, 64, 65, 100, 200]) {
    const secret = randomBytes(keyLen);
    const h = new TokenHmac('abc123', secret);
    for (let i = 0; i < 300; i++) {
      const v = randomBytes(i % 90).toString('base64') + (i % 3 === 0 ? 'éñ漢字😀' : '');
      assert.equal(h.token(v), reference(v, 'abc123', secret));
      // The byte path: the token of the value's UTF-8 bytes, written into a buffer.
      const src = Buffer.concat([Buffer.from('pad'), Buffer.from(v, 'utf8'), Buffer.from('pad')]);
      const out = Buffer.alloc(100);
      const w = h.writeTokenOf(src, 3, src.length - 3, out, 7);
      assert.equal(w - 7, h.length);
      assert.equal(out.toString('latin1', 7, w), reference(v, 'abc123', secret));
    }
  }
});

test('the exported token() and TokenHmac agree (tokens stay stable)', () => {
  const key = { id: 'k1', secret: Buffer.from('0123456789abcdef0123456789abcdef') };
  const h = new TokenHmac(key.id, key.secret);
  assert.equal(h.token('MRN-0000001'), token('MRN-0000001', key));
  assert.equal(h.token('MRN-0000001'), 'tok_k1_' + createHmac('sha256', key.secret).update('MRN-0000001').digest('base64url').slice(0, 22));
});
