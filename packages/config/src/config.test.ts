import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAppError } from '@phigate/errors';
import { fields, loadConfig, z } from './index.js';

const schema = z.object({
  PORT: fields.port(8080),
  KAFKA_BROKERS: fields.list(),
  SECRET: fields.secret(),
  LOG_LEVEL: fields.logLevel(),
});

test('loadConfig reports every problem at once', () => {
  try {
    loadConfig(schema, { PORT: 'abc', LOG_LEVEL: 'loud' });
    assert.fail('expected an error');
  } catch (err) {
    assert.ok(isAppError(err));
    assert.equal(err.code, 'COMMON_CONFIG_INVALID');
    const problems = err.details.problems as string[];
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('PORT')));
    assert.ok(problems.some((p) => p.startsWith('KAFKA_BROKERS')));
    assert.ok(problems.some((p) => p.startsWith('SECRET')));
    assert.ok(problems.some((p) => p.startsWith('LOG_LEVEL')));
  }
});

test('loadConfig parses, defaults, reads *_FILE and freezes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  writeFileSync(join(dir, 's'), 'a-very-long-secret-value\n');
  const cfg = loadConfig(schema, { KAFKA_BROKERS: 'a:1, b:2', SECRET_FILE: join(dir, 's') });
  assert.equal(cfg.PORT, 8080);
  assert.deepEqual(cfg.KAFKA_BROKERS, ['a:1', 'b:2']);
  assert.equal(cfg.SECRET, 'a-very-long-secret-value');
  assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.KAFKA_BROKERS));
});

test('several OIDC providers: the first from OIDC_*, others as a validated JSON list', async () => {
  const { oidcIssuers } = await import('./index.js');
  const schema = z.object(fields.oidc());
  const base = { OIDC_ISSUER: 'https://idp.a', OIDC_AUDIENCE: 'phigate', OIDC_JWKS_URI: 'https://idp.a/jwks' };
  const cfg = loadConfig(schema, {
    ...base,
    OIDC_EXTRA_ISSUERS: '[{"issuer":"https://idp.b","audience":"gw","jwksUri":"https://idp.b/keys","groupsClaim":"roles"}]',
  });
  assert.deepEqual(
    oidcIssuers(cfg).map((i) => i.issuer),
    ['https://idp.a', 'https://idp.b'],
  );
  assert.throws(() => loadConfig(schema, { ...base, OIDC_EXTRA_ISSUERS: 'not json' }), { code: 'COMMON_CONFIG_INVALID' });
  assert.throws(() => loadConfig(schema, { ...base, OIDC_EXTRA_ISSUERS: '[{"issuer":"x"}]' }), { code: 'COMMON_CONFIG_INVALID' });
});

test('internal TLS: all three files or none; plaintext only when asked for, and only on loopback', async () => {
  const { internalTlsProblems, isLoopbackAddress } = await import('./index.js');
  const base = { INTERNAL_TLS_REFRESH_MS: 60_000, INTERNAL_PLAINTEXT: false };
  const files = { INTERNAL_TLS_CA_FILE: 'ca.pem', INTERNAL_TLS_CERT_FILE: 'svc.pem', INTERNAL_TLS_KEY_FILE: 'svc.key' };
  assert.deepEqual(internalTlsProblems({ ...base, ...files }, ['10.0.0.5:50051']), []);
  assert.match(internalTlsProblems({ ...base, INTERNAL_TLS_CA_FILE: 'ca.pem' }, ['127.0.0.1:1'])[0]!, /set all three, or none/);
  assert.match(internalTlsProblems(base, ['127.0.0.1:50051'])[0]!, /are required/);
  assert.deepEqual(internalTlsProblems({ ...base, INTERNAL_PLAINTEXT: true }, ['127.0.0.1:50051', 'localhost:50052', '[::1]:1', '127.0.0.1']), []);
  assert.match(internalTlsProblems({ ...base, INTERNAL_PLAINTEXT: true }, ['policy:50051'])[0]!, /policy:50051 is not a loopback address/);
  assert.match(internalTlsProblems({ ...base, INTERNAL_PLAINTEXT: true }, ['0.0.0.0'])[0]!, /0\.0\.0\.0 is not a loopback address/);
  assert.match(internalTlsProblems({ ...base, ...files, INTERNAL_PLAINTEXT: true }, [])[0]!, /choose one/);
  assert.equal(isLoopbackAddress('127.10.0.1:80'), true);
  assert.equal(isLoopbackAddress('128.0.0.1:80'), false);
});
