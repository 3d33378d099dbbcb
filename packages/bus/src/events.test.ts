import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildEvent, decodeEvent, encodeEvent } from './index.js';

const ctx = {
  requestId: 'req-1',
  frontDoor: 'http',
  producer: 'gateway',
  identity: { subject: 'etl-pipeline', clientId: 'etl-pipeline', groups: ['etl'], issuer: 'http://idp' },
  connection: 'clinical-pg',
  role: 'clinical_reader',
};

test('events round-trip through their Kafka JSON form', () => {
  const e = buildEvent('query.completed', ctx, { rows: 3, bytes: 120, durationMs: 7 });
  const json = JSON.parse(encodeEvent(e).toString());
  assert.equal(json.type, 'query.completed');
  assert.equal(json.requestId, 'req-1');
  assert.equal(json.ocsf.classUid, 6005);
  assert.deepEqual(json.queryCompleted, { rows: 3, bytes: 120, durationMs: 7 });
  const back = decodeEvent(encodeEvent(e));
  assert.equal(back.id, e.id);
  assert.deepEqual(back.detail, e.detail);
});

test('decodeEvent refuses malformed or inconsistent events', () => {
  assert.throws(() => decodeEvent('{not json'), { code: 'BUS_EVENT_INVALID' });
  const e = JSON.parse(encodeEvent(buildEvent('query.completed', ctx, { rows: 1, bytes: 1, durationMs: 1 })).toString());
  e.type = 'query.received';
  assert.throws(() => decodeEvent(JSON.stringify(e)), { code: 'BUS_EVENT_INVALID' });
});
