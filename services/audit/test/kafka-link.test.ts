import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createKafka, TOPICS } from '@phigate/bus';
import { kafkaConnection, need, REPO_ROOT, uniqueName } from '@phigate/testkit';
import { auditEnv, log } from './helpers.js';

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
