import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startupOptions } from './session.js';

test('startup options: -c name=value in its spellings, escaped spaces; anything else is not a setting', () => {
  assert.deepEqual(startupOptions('-c statement_timeout=5s -cTimeZone=Asia/Tokyo --lock-timeout=1s'), [
    ['statement_timeout', '5s'],
    ['TimeZone', 'Asia/Tokyo'],
    ['lock_timeout', '1s'],
  ]);
  assert.deepEqual(startupOptions('  -c application_name=etl\\ job\\ 7  '), [['application_name', 'etl job 7']]);
  assert.deepEqual(startupOptions(''), []);
  assert.equal(startupOptions('-c statement_timeout'), undefined);
  assert.equal(startupOptions('-d 5'), undefined);
});
