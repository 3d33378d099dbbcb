import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '@phigate/config';
import { gatewayConfigSchema } from './config.js';

// Everything required, all on loopback, with the internal TLS files set.
const base = {
  KAFKA_BROKERS: '127.0.0.1:9092',
  REDIS_URL: 'redis://127.0.0.1:6379',
  OIDC_ISSUER: 'http://127.0.0.1:9400',
  OIDC_AUDIENCE: 'phigate',
  OIDC_JWKS_URI: 'http://127.0.0.1:9400/jwks',
  GATEWAY_DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/phigate_control',
  GATEWAY_SEALING_KEYS_FILE: 'keys.json',
  GATEWAY_CONNECTIONS_FILE: 'connections.yaml',
  GATEWAY_SECRETS_DIR: '.',
  APPROVAL_INTERNAL_TOKEN: 'x'.repeat(32),
  INTERNAL_TLS_CA_FILE: 'ca.pem',
  INTERNAL_TLS_CERT_FILE: 'gateway.pem',
  INTERNAL_TLS_KEY_FILE: 'gateway.key',
};

test("the approval service's internal API is reached over mutual TLS by default", () => {
  assert.equal(loadConfig(gatewayConfigSchema, base).GATEWAY_APPROVAL_URL, 'https://127.0.0.1:8083');
  assert.throws(() => loadConfig(gatewayConfigSchema, { ...base, GATEWAY_APPROVAL_URL: 'http://approval:8083' }), /GATEWAY_APPROVAL_URL: must be https:\/\//);
});

test('plaintext to the approval service only by explicit choice, over http://, on loopback', () => {
  const plain = { ...base, INTERNAL_TLS_CA_FILE: '', INTERNAL_TLS_CERT_FILE: '', INTERNAL_TLS_KEY_FILE: '', INTERNAL_PLAINTEXT: 'true' };
  assert.equal(loadConfig(gatewayConfigSchema, { ...plain, GATEWAY_APPROVAL_URL: 'http://127.0.0.1:8083' }).INTERNAL_PLAINTEXT, true);
  assert.throws(() => loadConfig(gatewayConfigSchema, plain), /GATEWAY_APPROVAL_URL: must be http:\/\/ with INTERNAL_PLAINTEXT/);
  assert.throws(() => loadConfig(gatewayConfigSchema, { ...plain, GATEWAY_APPROVAL_URL: 'http://approval:8083' }), /approval:8083 is not a loopback address/);
});
