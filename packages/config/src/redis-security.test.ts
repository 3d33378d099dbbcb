import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '@phigate/errors';
import { loadConfig, redactRedisUrl, redisFields, redisRefine, z } from './index.js';

const schema = z.object(redisFields()).superRefine(redisRefine);
const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(schema, env);
    return [];
  } catch (err) {
    assert.ok(isAppError(err));
    return err.details.problems as string[];
  }
};

test('Redis: plaintext only to loopback unless REDIS_PLAINTEXT says so; TLS anywhere', () => {
  assert.deepEqual(problems({ REDIS_URL: 'redis://127.0.0.1:6379' }), []);
  assert.deepEqual(problems({ REDIS_URL: 'redis://localhost:6379/2' }), []);
  assert.match(problems({ REDIS_URL: 'redis://redis.internal:6379' })[0]!, /plaintext redis:\/\/ refused, redis\.internal:6379 is not a loopback address/);
  assert.deepEqual(problems({ REDIS_URL: 'redis://redis.internal:6379', REDIS_PLAINTEXT: 'true' }), []);
  assert.deepEqual(problems({ REDIS_URL: 'rediss://user:pw@redis.internal:6380', REDIS_TLS_CA_FILE: '/ca.pem' }), []);
  assert.match(problems({ REDIS_URL: 'rediss://redis.internal:6380', REDIS_PLAINTEXT: 'true' })[0]!, /choose one/);
  assert.match(problems({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_TLS_CA_FILE: '/ca.pem' })[0]!, /use rediss:\/\//);
  assert.match(problems({ REDIS_URL: 'http://127.0.0.1:6379' })[0]!, /redis:\/\/ or rediss:\/\//);
});

test('Redis: each mode has its own settings; every address is checked for plaintext', () => {
  assert.match(problems({ REDIS_URL: 'rediss://h:1', REDIS_MODE: 'sentinel' })[0]!, /required when REDIS_MODE=sentinel/);
  assert.deepEqual(problems({ REDIS_URL: 'rediss://h:1', REDIS_MODE: 'sentinel', REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_NAME: 'mymaster' }), []);
  assert.match(
    problems({ REDIS_URL: 'redis://127.0.0.1:1', REDIS_MODE: 'sentinel', REDIS_SENTINELS: '127.0.0.1:26379,10.0.0.9:26379', REDIS_SENTINEL_NAME: 'm' })[0]!,
    /10\.0\.0\.9:26379 is not a loopback address/,
  );
  assert.match(problems({ REDIS_URL: 'redis://127.0.0.1:7000', REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: '127.0.0.1:7001,node-3:7002' })[0]!, /node-3:7002/);
  assert.match(problems({ REDIS_URL: 'rediss://h:1', REDIS_CLUSTER_NODES: 'a:1' })[0]!, /only with REDIS_MODE=cluster/);
  assert.match(problems({ REDIS_URL: 'rediss://h:1', REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'no-port' }).join('\n'), /host:port/);
  assert.match(problems({ REDIS_URL: 'rediss://h:1', REDIS_TLS_CERT_FILE: '/c.pem' })[0]!, /set both, or neither/);
});

test('Redis: the password never appears in what is logged, nor in a problem', () => {
  assert.equal(redactRedisUrl('rediss://app:s3cret-pw@h:6380/0'), 'rediss://app:***@h:6380/0');
  assert.ok(!problems({ REDIS_URL: 'redis://app:s3cret-pw@redis.internal:6379' }).join('\n').includes('s3cret-pw'));
});
