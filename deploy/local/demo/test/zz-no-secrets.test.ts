// phigate-test: stack
// Runs after the rest of the suite: nothing under the stack's log directory, and nothing on the
// Kafka topics (the audit topic and the SIEM copy), may contain an access token, a client secret or an upstream/service password.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { loadDevIdentities } from '@phigate/dev-idp/clients';
import { demoToken, kcatArgs, need } from '@phigate/testkit';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

test('no access token, client secret or password in any log file or on the Kafka topics', async () => {
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

  const check = (where: string, text: string) => {
    assert.doesNotMatch(text, jwt, `an access token appears in ${where}`);
    assert.ok(!text.includes(signature), `a token signature appears in ${where}`);
    for (const s of secrets) assert.ok(!text.includes(s), `a secret appears in ${where}`);
  };
  const logs = filesUnder(need('PHIGATE_LOG_DIR'));
  assert.ok(logs.length >= 8, 'every service writes a log');
  // Line by line (a log line, a message): a long-lived stack's logs and topics outgrow one string.
  for (const f of logs) for await (const line of createInterface({ input: createReadStream(f), crlfDelay: Number.POSITIVE_INFINITY })) check(f, line);
  for (const topic of ['phigate.audit.v1', 'phigate.siem.v1']) {
    const kcat = spawn('kcat', ['-C', ...kcatArgs(), '-t', topic, '-o', 'beginning', '-e', '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    kcat.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    const exited = new Promise<number | null>((resolve) => kcat.once('close', resolve));
    let messages = 0;
    for await (const line of createInterface({ input: kcat.stdout, crlfDelay: Number.POSITIVE_INFINITY })) {
      messages++;
      check(`kafka topic ${topic}`, line);
    }
    assert.equal(await exited, 0, `kcat could not read ${topic}: ${stderr.split('\n')[0]}`);
    assert.ok(messages > 0, `${topic} has messages`);
  }
});
