// phigate-test: stack
// What a publisher's link status says when Kafka refuses it, against the real local broker
// (`npm run stack:up`, SASL_SSL with topic ACLs): the reasons readiness shows, never a secret.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { eventually, kafkaConnection, need, uniqueName } from '@phigate/testkit';
import { buildEvent, EventPublisher, kafkaRefused } from '../src/index.js';
import { capture } from './helpers.js';

const event = () =>
  buildEvent('query.completed', { requestId: uniqueName('req'), frontDoor: 'http', producer: 'link-test' }, { rows: 0, bytes: 0, durationMs: 0 });

test('a topic the principal may not write: the link says not authorized, which readiness treats as refused', async (t) => {
  const c = kafkaConnection();
  if (c.security.KAFKA_SECURITY_PROTOCOL !== 'SASL_SSL')
    throw new Error('the local stack runs Kafka without SASL_SSL: restart it with the default PHIGATE_KAFKA_SECURE=1 (npm run stack:down && npm run stack:up)');
  const password = readFileSync(join(dirname(need('KAFKA_SASL_PASSWORD_FILE')), 'gateway.password'), 'utf8').trim();
  const { log, text } = capture();
  // The gateway's identity may write the audit topic only (deploy/local/infra/kafka.sh's ACLs).
  const publisher = new EventPublisher({
    brokers: c.brokers,
    security: { ...c.security, KAFKA_SASL_USERNAME: 'gateway', KAFKA_SASL_PASSWORD: password, KAFKA_SASL_PASSWORD_FILE: undefined },
    clientId: 'link-test',
    log,
    topic: 'phigate.siem.v1',
    ackTimeoutMs: 5000,
  });
  await publisher.start();
  t.after(() => publisher.stop());
  assert.deepEqual(publisher.status().link, { up: true }, 'connected: SASL accepted the gateway');
  await assert.rejects(publisher.publish([event()]), { code: 'BUS_PUBLISH_FAILED' });
  const link = publisher.status().link;
  assert.equal(link.up, false);
  assert.equal(link.reason, 'not authorized (a topic or group ACL refuses this principal)');
  assert.equal(kafkaRefused(link.reason), true);
  assert.ok(!text().includes(password), 'the password appears in the logs');
});

test('no broker listening: the link says unreachable, which readiness treats as an outage, not a refusal', async (t) => {
  const publisher = new EventPublisher({ brokers: ['127.0.0.1:1'], clientId: 'link-test', log: capture().log, topic: 'phigate.audit.v1', ackTimeoutMs: 2000 });
  await assert.rejects(publisher.start());
  t.after(() => publisher.stop());
  // Until kafkajs gives up on the attempt, the link says it had no answer in time; then why.
  const link = await eventually(
    'the connection attempt to fail',
    async () => (publisher.status().link.reason === 'no answer in time' ? undefined : publisher.status().link),
    30_000,
  );
  assert.equal(link.up, false);
  assert.equal(link.reason, 'unreachable (no connection to the brokers)');
  assert.equal(kafkaRefused(link.reason), false);
});
