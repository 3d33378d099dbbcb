// Runs after the rest of the suite: nothing under the stack's log directory, and nothing on the
// Kafka topic, may contain an access token, a client secret or an upstream/service password.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDevIdentities } from '@phigate/dev-idp/clients';
import { demoToken, kcatArgs, need } from '@phigate/testkit';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

test('no access token, client secret or password in any log file or on the Kafka topic', async () => {
  const home = need('PHIGATE_HOME');
  const secrets = [
    ...loadDevIdentities().map((i) => i.clientSecret),
    // Every secret file, in subdirectories too (the dev TLS key); public halves are not secrets.
    ...filesUnder(join(home, 'secrets'))
      .filter((f) => !/\.(json|pub)$/.test(f) && !f.endsWith('cert.pem'))
      .map((f) => readFileSync(f, 'utf8').trim()),
    need('PG_ADMIN_URL').replace(/^.*:\/\/[^:]+:([^@]+)@.*$/, '$1'),
  ].filter((s) => s.length >= 8);
  const sealing = JSON.parse(readFileSync(join(home, 'secrets/sealing-keys.json'), 'utf8')) as { keys: Record<string, string> };
  secrets.push(...Object.values(sealing.keys));
  const token = await demoToken('etl-pipeline');
  const signature = token.split('.')[2]!;
  const jwt = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

  const logs = filesUnder(need('PHIGATE_LOG_DIR'));
  assert.ok(logs.length >= 8, 'every service writes a log');
  const kafka = execFileSync('kcat', ['-C', ...kcatArgs(), '-t', 'phigate.audit.v1', '-o', 'beginning', '-e', '-q'], {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    timeout: 120_000,
  });
  assert.ok(kafka.length > 0, 'the topic has events');
  for (const [where, text] of [...logs.map((f) => [f, readFileSync(f, 'utf8')] as const), ['kafka topic phigate.audit.v1', kafka] as const]) {
    assert.doesNotMatch(text, jwt, `an access token appears in ${where}`);
    assert.ok(!text.includes(signature), `a token signature appears in ${where}`);
    for (const s of secrets) assert.ok(!text.includes(s), `a secret appears in ${where}`);
  }
});
