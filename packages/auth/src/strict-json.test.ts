import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeJsonObjectSegment, hasUniqueMemberNames } from './strict-json.js';

test('hasUniqueMemberNames finds repeated names at any depth, after escape decoding', () => {
  for (const ok of ['{}', ' { } ', '{"a":1,"b":[1,{"a":2}],"c":{"a":{"a":null}}}', '{"a":"}\\"{","b":"\\\\"}', '{"a":[],"b":[[]],"c":{}}']) {
    assert.equal(hasUniqueMemberNames(ok), true, ok);
  }
  for (const bad of [
    '{"a":1,"a":2}',
    '{"sub":"x","\\u0073ub":"y"}',
    '{"a":{"b":1,"b":1}}',
    '{"a":[{"b":1,"b":2}]}',
    '[]',
    '"x"',
    '{"a":1}{"b":2}',
    '{"a":1',
    '{"a" 1}',
  ]) {
    assert.equal(hasUniqueMemberNames(bad), false, bad);
  }
  assert.equal(hasUniqueMemberNames(`{"a":${'['.repeat(17)}${']'.repeat(17)}}`), false, 'nesting is bounded');
  assert.equal(hasUniqueMemberNames(`{"a":${'['.repeat(15)}${']'.repeat(15)}}`), true);
});

test('decodeJsonObjectSegment accepts only base64url JSON objects', () => {
  const seg = (s: string) => Buffer.from(s).toString('base64url');
  assert.deepEqual(decodeJsonObjectSegment(seg('{"alg":"RS256"}')), { alg: 'RS256' });
  for (const bad of [
    '',
    '====',
    'a',
    seg('[]'),
    seg('null'),
    seg('1'),
    seg('{"a":1,"a":1}'),
    `${seg('{"a":1}')}+`,
    Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url'),
  ]) {
    assert.equal(decodeJsonObjectSegment(bad), undefined, bad);
  }
});
