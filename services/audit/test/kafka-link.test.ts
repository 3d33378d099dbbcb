// phigate-test: stack
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createKafka, TOPICS } from '@phigate/bus';
import { eventually, freePort, kafkaConnection, need, REPO_ROOT, uniqueName } from '@phigate/testkit';
import { auditEnv, createTopics, log } from './helpers.js';

// The Kafka link as managed services run it (the local stack's default): SASL_SSL with SCRAM users,
// the broker's certificate from a dev CA, and topic ACLs per service (deploy/local/infra/kafka.sh).

const WRONG = 'not-the-password-0123456789';

function secureConnection() {
  const c = kafkaConnection();
  if (c.security.KAFKA_SECURITY_PROTOCOL !== 'SASL_SSL')
    throw new Error('the local stack runs Kafka without SASL_SSL: restart it with the default PHIGATE_KAFKA_SECURE=1 (npm run stack:down && npm run stack:up)');
  return c;
}

test('an audit service with a wrong SASL password does not start, and says Kafka refused its credentials (without quoting them)', async () => {
  secureConnection();
  const env = auditEnv({
    AUDIT_TOPIC: TOPICS.AUDIT,
    AUDIT_CONSUMER_GROUP: uniqueName('audit-badpw'),
    KAFKA_SASL_USERNAME: 'audit',
    KAFKA_SASL_PASSWORD: WRONG,
  });
  delete env.KAFKA_SASL_PASSWORD_FILE;
  const run = promisify(execFile)(join(REPO_ROOT, 'node_modules/.bin/node'), [join(REPO_ROOT, 'services/audit/dist/src/main.js')], { env, timeout: 60_000 });
  const err = await run.then(
    () => assert.fail('the audit service started with a wrong Kafka password'),
    (e: { code?: number; stdout: string; stderr: string }) => e,
  );
  assert.equal(err.code, 1);
  const fatal = err.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: string; msg: string; problems?: string[] })
    .find((l) => l.level === 'fatal');
  assert.ok(fatal, err.stderr);
  assert.equal(fatal.msg, 'failed to start');
  assert.match(fatal.problems?.join(' ') ?? '', /SASL SCRAM SHA512 authentication failed.*invalid credentials/);
  assert.ok(!`${err.stdout}${err.stderr}`.includes(WRONG), 'the password appears in the output');
});

test('a Kafka client that does not trust the dev CA is refused at the TLS handshake', async () => {
  const c = secureConnection();
  const admin = createKafka(
    { brokers: c.brokers, security: { ...c.security, KAFKA_SSL_CA_FILE: undefined }, clientId: 'audit-noca-test', log },
    { retry: { retries: 0 } },
  ).admin();
  await assert.rejects(admin.connect(), /self-signed certificate|unable to verify/);
});

test('topic ACLs: the gateway identity may produce audit events but not read them or write the SIEM topic', async (t) => {
  const c = secureConnection();
  const pw = join(dirname(need('KAFKA_SASL_PASSWORD_FILE')), 'gateway.password');
  const gateway = createKafka(
    {
      brokers: c.brokers,
      security: { ...c.security, KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'gateway', KAFKA_SASL_PASSWORD: readFileSync(pw, 'utf8').trim() },
      clientId: 'audit-acl-test',
      log,
    },
    { retry: { retries: 1 } },
  );
  const producer = gateway.producer({ idempotent: true, allowAutoTopicCreation: false });
  await producer.connect();
  t.after(() => producer.disconnect());
  await assert.rejects(producer.send({ topic: 'phigate.siem.v1', acks: -1, messages: [{ key: 'k', value: 'v' }] }), /Not authorized to access topics/);
  // The broker answers FindCoordinator with GROUP_AUTHORIZATION_FAILED, which kafkajs reports as
  // "Failed to find group coordinator"; the admin identity, with the same settings, joins (control).
  const consume = async (kafka: ReturnType<typeof createKafka>, retries: number) => {
    const consumer = kafka.consumer({ groupId: uniqueName('audit-acl-group'), retry: { retries, restartOnFailure: async () => false } });
    t.after(() => consumer.disconnect());
    const outcome = new Promise<string>((resolve) => {
      consumer.on(consumer.events.CRASH, (e) => resolve(`crashed: ${e.payload.error.name} ${e.payload.error.message}`));
      consumer.on(consumer.events.GROUP_JOIN, () => resolve('joined'));
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [TOPICS.AUDIT], fromBeginning: false });
    await consumer.run({ eachMessage: async () => {} });
    return outcome;
  };
  assert.match(await consume(gateway, 0), /^crashed: KafkaJSGroupCoordinatorNotFound/);
  assert.equal(await consume(createKafka({ ...c, clientId: 'audit-acl-test', log }), 5), 'joined');
});

test('readiness names the Kafka link that is down and why: a running audit service whose password file turns wrong says authentication failed for its consumer and the SIEM relay, and recovers without a restart', {
  timeout: 180_000,
}, async (t) => {
  const c = secureConnection();
  const dir = mkdtempSync(join(tmpdir(), 'audit-kafka-readiness-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A copy of the tools identity's password file: the stack's own files are never touched.
  const right = readFileSync(c.security.KAFKA_SASL_PASSWORD_FILE as string);
  const pwFile = join(dir, 'password');
  writeFileSync(pwFile, right);
  const replace = (body: string | Buffer) => {
    writeFileSync(`${pwFile}.new`, body);
    renameSync(`${pwFile}.new`, pwFile);
  };
  const topic = uniqueName('audit-readiness');
  const siem = uniqueName('audit-readiness-siem');
  await createTopics(topic, siem);
  const port = await freePort();
  const env = auditEnv({
    AUDIT_HTTP_PORT: String(port),
    AUDIT_TOPIC: topic,
    AUDIT_CONSUMER_GROUP: uniqueName('audit-readiness'),
    AUDIT_SIEM_TOPIC: siem,
    AUDIT_SIEM_CONSUMER_GROUP: uniqueName('audit-readiness-siem'),
    KAFKA_SASL_PASSWORD_FILE: pwFile,
    KAFKA_SECRETS_REFRESH_MS: '1000',
  });
  delete env.KAFKA_SASL_PASSWORD;
  const child = spawn(join(REPO_ROOT, 'node_modules/.bin/node'), [join(REPO_ROOT, 'services/audit/dist/src/main.js')], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  t.after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });
  const readyz = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    return { code: res.status, text, body: JSON.parse(text) as { checks: Record<string, boolean>; reasons?: Record<string, string> } };
  };
  const state = (want: (r: Awaited<ReturnType<typeof readyz>>) => boolean, what: string) =>
    eventually(
      what,
      async () => {
        if (child.exitCode !== null) throw new Error(`the audit service exited with ${child.exitCode}: ${stderr}`);
        const r = await readyz();
        if (!want(r)) throw new Error(`readiness is ${r.code} ${r.text}`);
        return r;
      },
      90_000,
      250,
    );

  const up = await state((r) => r.code === 200, 'the audit service to be ready');
  assert.equal(up.body.checks.kafka, true);
  assert.equal(up.body.checks.siem, true);

  const wrong = `wrong-${randomBytes(12).toString('hex')}`;
  replace(`${wrong}\n`);
  const down = await state((r) => Boolean(r.body.reasons?.kafka && r.body.reasons?.siem), 'readiness to name the refused credentials');
  assert.equal(down.code, 503);
  assert.equal(down.body.checks.kafka, false);
  assert.equal(down.body.checks.siem, false);
  assert.equal(down.body.reasons?.kafka, 'authentication failed (SASL credentials refused by the broker)');
  assert.equal(down.body.reasons?.siem, 'authentication failed (SASL credentials refused by the broker)');
  assert.equal(down.body.checks.store, true, 'the store link is not blamed');
  assert.ok(!down.text.includes(wrong) && !down.text.includes(right.toString('utf8').trim()), 'readiness quotes a password');

  replace(right);
  const back = await state((r) => r.code === 200, 'readiness once Kafka accepts the password again');
  assert.equal(back.body.reasons, undefined);
  assert.ok(!stderr.includes(wrong) && !stderr.includes(right.toString('utf8').trim()), 'a password appears in the logs');
});
