import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from './index.js';
import { kafkaClientSchema } from './kafka-security.js';

const dir = mkdtempSync(join(tmpdir(), 'kafka-security-'));
const file = (name: string, body = 'x') => {
  writeFileSync(join(dir, name), body);
  return join(dir, name);
};
const CA = file('ca.pem');
const PASSWORD = 'a-password-that-must-never-be-quoted';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(kafkaClientSchema(), env);
    return [];
  } catch (err) {
    return (err as { details: { problems: string[] } }).details.problems;
  }
}

test('SASL_SSL with SCRAM, a CA and a password file loads; the password comes from the file', () => {
  const c = loadConfig(kafkaClientSchema(), {
    KAFKA_BROKERS: 'b-1.example:9096,b-2.example:9096',
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SSL_CA_FILE: CA,
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: 'phigate-gateway',
    KAFKA_SASL_PASSWORD_FILE: file('pw', `${PASSWORD}\n`),
  });
  assert.equal(c.KAFKA_SASL_MECHANISM, 'scram-sha-512');
  assert.equal(c.KAFKA_SASL_PASSWORD, PASSWORD);
});

test('PLAINTEXT is the default, and is accepted on loopback brokers only', () => {
  assert.deepEqual(problems({ KAFKA_BROKERS: '127.0.0.1:9092,localhost:9092' }), []);
  const remote = problems({ KAFKA_BROKERS: '127.0.0.1:9092,kafka:9092' });
  assert.equal(remote.length, 1, remote.join('\n'));
  assert.match(remote[0]!, /KAFKA_SECURITY_PROTOCOL=PLAINTEXT: refused, kafka:9092 is not a loopback address/);
  assert.deepEqual(problems({ KAFKA_BROKERS: 'kafka:9092', KAFKA_PLAINTEXT: 'true' }), []);
});

test('TLS without SASL or a client certificate is unauthenticated: refused to a remote broker unless KAFKA_PLAINTEXT=true', () => {
  assert.match(problems({ KAFKA_BROKERS: 'kafka:9093', KAFKA_SECURITY_PROTOCOL: 'SSL' })[0]!, /without a client certificate: refused/);
  assert.deepEqual(
    problems({ KAFKA_BROKERS: 'kafka:9093', KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CERT_FILE: file('c'), KAFKA_SSL_KEY_FILE: file('k') }),
    [],
  );
  assert.match(
    problems({
      KAFKA_BROKERS: 'kafka:9093',
      KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT',
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: PASSWORD,
    })[0]!,
    /in clear/,
  );
});

test('every inconsistency is reported at once, and no problem quotes the password', () => {
  const list = problems({
    KAFKA_BROKERS: 'kafka:9092',
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SSL_CERT_FILE: CA,
    KAFKA_SSL_CA_FILE: join(dir, 'missing.pem'),
    KAFKA_SASL_PASSWORD: PASSWORD,
    KAFKA_PLAINTEXT: 'true',
  });
  const text = list.join('\n');
  assert.match(text, /KAFKA_SASL_MECHANISM: required/);
  assert.match(text, /KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE: set both/);
  assert.match(text, /KAFKA_SSL_CA_FILE: cannot read/);
  assert.match(text, /KAFKA_PLAINTEXT: set together with KAFKA_SECURITY_PROTOCOL=SASL_SSL/);
  assert.ok(!text.includes(PASSWORD));
  assert.match(
    problems({ KAFKA_BROKERS: 'k:1', KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'u' }).join('\n'),
    /KAFKA_SASL_PASSWORD_FILE\): required/,
  );
  assert.match(problems({ KAFKA_BROKERS: 'k:1', KAFKA_SASL_MECHANISM: 'plain' }).join('\n'), /KAFKA_SASL_\*: set, but KAFKA_SECURITY_PROTOCOL=PLAINTEXT/);
  assert.match(problems({ KAFKA_BROKERS: 'k:1', KAFKA_SSL_CA_FILE: CA, KAFKA_PLAINTEXT: 'true' }).join('\n'), /KAFKA_SSL_\*: set, but/);
  assert.match(problems({ KAFKA_BROKERS: 'k:1', KAFKA_SASL_MECHANISM: 'gssapi' }).join('\n'), /KAFKA_SASL_MECHANISM/);
});

test('OAUTHBEARER takes a token file, not a user and password', () => {
  const base = { KAFKA_BROKERS: 'pkc.example:9092', KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'oauthbearer' };
  assert.match(problems(base).join('\n'), /KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: required/);
  assert.deepEqual(problems({ ...base, KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: file('token', 'eyJ.x.y') }), []);
  assert.match(
    problems({ ...base, KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: file('token'), KAFKA_SASL_USERNAME: 'u' }).join('\n'),
    /not used with KAFKA_SASL_MECHANISM=oauthbearer/,
  );
});
