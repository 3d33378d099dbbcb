// phigate-test: stack
// Readiness names the Kafka link and why it is down: a gateway replica of our own (own ports, own
// outbox) whose SASL password file (a temporary copy; the stack's files are never touched) holds a
// wrong password, then the right one, against the real local broker (`npm run stack:up`).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { demoToken, eventually, freePort, kafkaEventsSince, need, spawnApp } from '@phigate/testkit';

interface Readiness {
  status: string;
  checks: Record<string, boolean>;
  reasons?: Record<string, string>;
}

async function readyz(base: string): Promise<{ code: number; text: string; body: Readiness }> {
  const res = await fetch(`${base}/readyz`);
  const text = await res.text();
  return { code: res.status, text, body: JSON.parse(text) as Readiness };
}

test('a gateway whose Kafka credentials are refused is not ready and says so (without the password); the right password file, and its outbox drains', {
  timeout: 180_000,
}, async (t) => {
  if (need('KAFKA_SECURITY_PROTOCOL') !== 'SASL_SSL')
    throw new Error('the local stack runs Kafka without SASL_SSL: restart it with the default PHIGATE_KAFKA_SECURE=1 (npm run stack:down && npm run stack:up)');
  const dir = mkdtempSync(join(tmpdir(), 'phigate-kafka-readiness-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const right = readFileSync(join(dirname(need('KAFKA_SASL_PASSWORD_FILE')), 'gateway.password'));
  const wrong = `wrong-${randomBytes(12).toString('hex')}`;
  const pwFile = join(dir, 'gateway.password');
  writeFileSync(pwFile, `${wrong}\n`);
  const port = await freePort();
  const gw = await spawnApp(
    'gateway',
    'services/gateway/dist/src/main.js',
    port,
    {
      GATEWAY_HTTP_PORT: String(port),
      GATEWAY_PG_PORT: '0',
      GATEWAY_REPLICA_ID: `kafka-readiness-${port}`,
      GATEWAY_AUDIT_OUTBOX_DIR: join(dir, 'outbox'),
      KAFKA_SASL_PASSWORD_FILE: pwFile,
      KAFKA_SECRETS_REFRESH_MS: '1000',
    },
    '/healthz', // it is alive, and (the point) not ready
  );
  t.after(() => gw.kill('SIGTERM'));

  const refused = await eventually(
    'readiness to name the refused Kafka credentials',
    async () => {
      const r = await readyz(gw.url);
      return r.body.reasons?.kafka ? r : undefined;
    },
    60_000,
  );
  assert.equal(refused.code, 503);
  assert.equal(refused.body.status, 'not_ready');
  assert.equal(refused.body.checks.kafka, false);
  assert.equal(refused.body.reasons?.kafka, 'authentication failed (SASL credentials refused by the broker); events wait in the outbox');
  // Every other link is fine: readiness points at the one that is down.
  assert.deepEqual(
    Object.entries(refused.body.checks)
      .filter(([, ok]) => !ok)
      .map(([name]) => name),
    ['kafka'],
  );
  assert.ok(!refused.text.includes(wrong) && !refused.text.includes(right.toString('utf8').trim()), 'readiness quotes a password');

  // Statements still run meanwhile: their events are durable in the outbox.
  const since = Date.now() - 1000;
  const res = await fetch(`${gw.url}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await demoToken('etl-pipeline')}` },
    body: JSON.stringify({ connection: 'clinical-pg', sql: 'SELECT id FROM patients WHERE id = 1' }),
  });
  const answer = (await res.json()) as { requestId?: string };
  assert.equal(res.status, 200, JSON.stringify(answer));
  const requestId = answer.requestId as string;

  // The right password, written as a secrets operator writes it: no restart.
  writeFileSync(`${pwFile}.new`, right);
  renameSync(`${pwFile}.new`, pwFile);
  const ready = await eventually(
    'readiness once Kafka accepts the new password',
    async () => {
      const r = await readyz(gw.url);
      return r.code === 200 && !r.body.reasons?.kafka ? r : undefined;
    },
    60_000,
  );
  assert.equal(ready.body.checks.kafka, true);
  // Whatever events a statement records (their set is the gateway's business), they reach Kafka.
  await eventually(
    "the statement's events on Kafka, drained from the outbox",
    async () => (kafkaEventsSince(since).some((e) => e.requestId === requestId) ? true : undefined),
    60_000,
    500,
  );
});
