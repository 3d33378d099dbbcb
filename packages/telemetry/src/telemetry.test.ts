import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { childTrace, createLogger, traceIdOf } from './index.js';

test('logger censors tokens, statements and rows wherever they appear', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const log = createLogger({ service: 't', destination: sink });
  log.info({ token: 'eyJsecret', req: { headers: { authorization: 'Bearer eyJsecret' } }, sql: "select '123-45-6789'", ctx: { rows: [['123-45-6789']] } }, 'x');
  await new Promise((r) => setImmediate(r));
  const out = lines.join('');
  assert.ok(!out.includes('eyJsecret'), out);
  assert.ok(!out.includes('123-45-6789'), out);
  assert.match(out, /"service":"t"/);
});

test('childTrace continues a valid traceparent and starts one otherwise', () => {
  const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const child = childTrace(parent);
  assert.equal(traceIdOf(child.traceparent), '0af7651916cd43dd8448eb211c80319c');
  assert.notEqual(child.traceparent, parent);
  assert.match(childTrace('garbage').traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
});
