import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '@phigate/config';
import { responseUrlPolicy } from './adapters/http/slack-client.js';
import { approvalConfigSchema } from './config.js';

const base = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  SLACK_SIGNING_SECRET: 'a-signing-secret-of-40-characters-000000',
  SLACK_WEBHOOK_URL: 'http://127.0.0.1:9401/services/T0/B0/x',
  OIDC_ISSUER: 'http://127.0.0.1:9400',
  OIDC_AUDIENCE: 'phigate',
  OIDC_JWKS_URI: 'http://127.0.0.1:9400/jwks',
};

test('the stack’s variables are enough; everything new has a safe default', () => {
  const c = loadConfig(approvalConfigSchema, base);
  assert.deepEqual(c.APPROVAL_SLACK_USERS, {});
  assert.equal(c.APPROVAL_INTERNAL_TOKEN, undefined);
  assert.deepEqual(c.APPROVAL_RESPONSE_URL_ORIGINS, ['https://hooks.slack.com']);
  assert.equal(c.APPROVAL_KEY_PREFIX, 'phigate:approval:');
});

test('the Slack user map and internal token are read and frozen', () => {
  const c = loadConfig(approvalConfigSchema, {
    ...base,
    APPROVAL_SLACK_USERS: '{"U0ALICE": {"subject": "alice", "groups": ["phi-approvers"]}}',
    APPROVAL_INTERNAL_TOKEN: 'x'.repeat(32),
    INTERNAL_PLAINTEXT: 'true',
    APPROVAL_RESPONSE_URL_ORIGINS: 'https://hooks.slack.com, http://127.0.0.1:9401',
  });
  assert.deepEqual(c.APPROVAL_SLACK_USERS.U0ALICE, { subject: 'alice', groups: ['phi-approvers'] });
  assert.ok(Object.isFrozen(c.APPROVAL_SLACK_USERS.U0ALICE));
  assert.deepEqual(c.APPROVAL_RESPONSE_URL_ORIGINS, ['https://hooks.slack.com', 'http://127.0.0.1:9401']);
});

test('the internal API needs mutual TLS, or plaintext by explicit choice on loopback only', () => {
  const token = { ...base, APPROVAL_INTERNAL_TOKEN: 'x'.repeat(32) };
  assert.throws(() => loadConfig(approvalConfigSchema, token), /INTERNAL_TLS_CA_FILE, INTERNAL_TLS_CERT_FILE and INTERNAL_TLS_KEY_FILE are required/);
  assert.throws(
    () => loadConfig(approvalConfigSchema, { ...token, INTERNAL_PLAINTEXT: 'true', APPROVAL_INTERNAL_HOST: '0.0.0.0' }),
    /0\.0\.0\.0 is not a loopback address/,
  );
  const files = { INTERNAL_TLS_CA_FILE: 'ca.pem', INTERNAL_TLS_CERT_FILE: 'approval.pem', INTERNAL_TLS_KEY_FILE: 'approval.key' };
  assert.equal(loadConfig(approvalConfigSchema, { ...token, ...files, APPROVAL_INTERNAL_HOST: '0.0.0.0' }).APPROVAL_INTERNAL_PORT, 8083);
  // Without the token there is no internal listener, so nothing to secure.
  assert.equal(loadConfig(approvalConfigSchema, base).APPROVAL_INTERNAL_TOKEN, undefined);
});

test('every problem is reported at once', () => {
  assert.throws(
    () =>
      loadConfig(approvalConfigSchema, {
        ...base,
        APPROVAL_SLACK_USERS: '{"alice": {"subject": "", "groups": "phi-approvers"}}',
        APPROVAL_INTERNAL_TOKEN: 'short',
        APPROVAL_RESPONSE_URL_ORIGINS: 'https://hooks.slack.com/actions',
        SLACK_SIGNING_SECRET: 'short',
      }),
    (err: Error & { details?: { problems?: string[] } }) => {
      const problems = err.details?.problems ?? [];
      for (const name of ['APPROVAL_SLACK_USERS', 'APPROVAL_INTERNAL_TOKEN', 'APPROVAL_RESPONSE_URL_ORIGINS', 'SLACK_SIGNING_SECRET']) {
        assert.ok(
          problems.some((p) => p.startsWith(name)),
          `${name} in ${problems.join('; ')}`,
        );
      }
      return true;
    },
  );
  assert.throws(() => loadConfig(approvalConfigSchema, { ...base, APPROVAL_SLACK_USERS: 'not json' }), /APPROVAL_SLACK_USERS: must be JSON/);
});

test('response_url is fetched only at an allowed origin', () => {
  const allowed = responseUrlPolicy(['https://hooks.slack.com', 'http://127.0.0.1:9401']);
  assert.equal(allowed('https://hooks.slack.com/actions/T0/1/abc'), true);
  assert.equal(allowed('http://127.0.0.1:9401/response/abc'), true);
  for (const bad of [
    'http://hooks.slack.com/actions/x',
    'https://hooks.slack.com.evil.example/actions',
    'https://evil.example/?https://hooks.slack.com',
    'https://user:pw@hooks.slack.com/actions',
    'http://127.0.0.1:6379/',
    'http://127.0.0.1:94010/response',
    'http://169.254.169.254/latest/meta-data',
    'file:///etc/passwd',
    'not a url',
  ]) {
    assert.equal(allowed(bad), false, bad);
  }
});
