// phigate-test: stack
// The Kafka link's files rotated under a running publisher and consumer, against the real local
// broker (`npm run stack:up`, SASL_SSL): every test works on copies of the stack's files in a
// temporary directory (the stack's own files are never touched) and re-reads them every second.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type TLSSocket, connect as tlsConnect, createServer as tlsServer } from 'node:tls';
import type { KafkaSecuritySettings } from '@phigate/config';
import { eventually, foreignCertificate, kafkaConnection, kcatArgs, need, uniqueName } from '@phigate/testkit';
import { type AuditEvent, buildEvent, createKafka, EventConsumer, EventPublisher, type PublisherOptions } from '../src/index.js';
import { capture, makeTopic } from './helpers.js';

/** The stack's Kafka link, SASL_SSL, or a failure that says how to get it. */
function stackLink(): { brokers: string[]; security: KafkaSecuritySettings } {
  const c = kafkaConnection();
  if (c.security.KAFKA_SECURITY_PROTOCOL !== 'SASL_SSL' || !c.security.KAFKA_SSL_CA_FILE || !c.security.KAFKA_SASL_PASSWORD_FILE)
    throw new Error('the local stack runs Kafka without SASL_SSL: restart it with the default PHIGATE_KAFKA_SECURE=1 (npm run stack:down && npm run stack:up)');
  return c;
}

/** Writes a file the way a secrets operator does: a new file renamed over the old one. */
function replace(path: string, body: string | Buffer): void {
  writeFileSync(`${path}.new`, body);
  renameSync(`${path}.new`, path);
}

/** A fresh certificate and key signed by the stack's Kafka dev CA (read, never written); a client's by default. */
function devCaClientCert(dir: string, name: string, ext = 'extendedKeyUsage=clientAuth\n'): { cert: string; key: string } {
  const ca = join(need('PHIGATE_HOME'), 'secrets/kafka');
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`, '-keyout', key, '-out', csr);
  writeFileSync(join(dir, `${name}.ext`), ext);
  ossl(
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    join(ca, 'ca.pem'),
    '-CAkey',
    join(ca, 'ca.key'),
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    '1',
    '-extfile',
    join(dir, `${name}.ext`),
    '-out',
    cert,
  );
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

/** A temporary copy of the stack's link files, with a client certificate, re-read every second. */
function copiedLink(t: { after(fn: () => void): void }) {
  const c = stackLink();
  const dir = mkdtempSync(join(tmpdir(), 'phigate-kafka-rotation-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'client.pem'), key: join(dir, 'client.key'), password: join(dir, 'password') };
  copyFileSync(c.security.KAFKA_SSL_CA_FILE as string, files.ca);
  copyFileSync(c.security.KAFKA_SASL_PASSWORD_FILE as string, files.password);
  const first = devCaClientCert(dir, 'client-1');
  writeFileSync(files.cert, first.cert);
  writeFileSync(files.key, first.key);
  const security: KafkaSecuritySettings = {
    ...c.security,
    KAFKA_SSL_CA_FILE: files.ca,
    KAFKA_SSL_CERT_FILE: files.cert,
    KAFKA_SSL_KEY_FILE: files.key,
    KAFKA_SASL_PASSWORD_FILE: files.password,
    KAFKA_SECRETS_REFRESH_MS: 1000,
  };
  return { dir, files, brokers: c.brokers, security };
}

/** A publisher on the copied link with an outbox of its own, started (and stopped after the test). */
/**
 * A TLS tap in front of the broker for bootstrap connections: it asks each client for its
 * certificate (the local broker does not: ssl.client.auth=none), records its SHA-256 fingerprint,
 * and relays the connection to the broker over TLS. kafkajs bootstraps every new producer and
 * consumer through it; the broker's metadata then sends them to the broker itself.
 */
async function bootstrapTap(t: { after(fn: () => void): void }, dir: string): Promise<{ broker: string; presented: string[] }> {
  const c = stackLink();
  const [host, port] = (c.brokers[0] as string).split(':') as [string, string];
  const server = devCaClientCert(dir, 'tap', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  const ca = readFileSync(c.security.KAFKA_SSL_CA_FILE as string);
  const presented: string[] = [];
  const tap = tlsServer({ ...server, requestCert: true, rejectUnauthorized: false }, (client: TLSSocket) => {
    presented.push(client.getPeerX509Certificate()?.fingerprint256 ?? 'none');
    const upstream = tlsConnect({ host, port: Number(port), ca });
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) s.on('error', close).on('close', close);
  });
  await new Promise<void>((r) => tap.listen(0, '127.0.0.1', r));
  t.after(() => tap.close());
  return { broker: `127.0.0.1:${(tap.address() as { port: number }).port}`, presented };
}

async function outboxPublisher(
  t: { after(fn: () => Promise<void>): void },
  link: ReturnType<typeof copiedLink>,
  topic: string,
  over: Partial<PublisherOptions> = {},
): Promise<{ publisher: EventPublisher; lines: Array<Record<string, unknown>>; text: () => string }> {
  const { log, lines, text } = capture();
  const publisher = new EventPublisher({
    brokers: link.brokers,
    security: link.security,
    clientId: 'rotation-test',
    log,
    topic,
    ackTimeoutMs: 5000,
    outbox: { dir: join(link.dir, 'outbox') },
    ...over,
  });
  await publisher.start();
  t.after(() => publisher.stop().catch(() => undefined));
  return { publisher, lines, text };
}

const events = (requestId: string, n: number): AuditEvent[] =>
  Array.from({ length: n }, (_, i) =>
    buildEvent('query.completed', { requestId, frontDoor: 'http', producer: 'rotation-test' }, { rows: i, bytes: 0, durationMs: 0 }),
  );

/** Event ids on the topic, as a SIEM would read them (kcat with the stack's own settings). */
function idsOnTopic(topic: string): string[] {
  const out = execFileSync('kcat', ['-C', ...kcatArgs(), '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%s\n'], { encoding: 'utf8', timeout: 60_000 });
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { id: string }).id);
}

function counts(ids: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

test('the client certificate is rotated while events flow: the producer and the consumer reconnect with it, every event is on the topic once, consumed once, and committed', {
  timeout: 180_000,
}, async (t) => {
  const link = copiedLink(t);
  // Bootstrap connections go through a tap that sees which client certificate each one presents.
  const tap = await bootstrapTap(t, link.dir);
  const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
  const firstCert = fingerprint(readFileSync(link.files.cert, 'utf8'));
  const topic = await makeTopic(t, 'test.rotation');
  const pub = capture();
  const sub = capture();
  const publisher = new EventPublisher({
    brokers: [tap.broker],
    security: link.security,
    clientId: 'rotation-test',
    log: pub.log,
    topic,
    ackTimeoutMs: 10_000,
  });
  const group = uniqueName('rotation-group');
  const consumed: string[] = [];
  const consumer = new EventConsumer({
    brokers: [tap.broker],
    security: link.security,
    clientId: 'rotation-test',
    log: sub.log,
    topic,
    groupId: group,
    handleBatch: async (messages) => {
      for (const m of messages) if (m.event) consumed.push(m.event.id);
    },
  });
  await publisher.start();
  await consumer.start();
  t.after(async () => {
    await consumer.stop().catch(() => undefined);
    await publisher.stop().catch(() => undefined);
  });
  await eventually('the consumer to join its group', async () => (consumer.isRunning ? true : undefined), 60_000);

  // A steady stream: 20 events per request, one request after another, until told to stop.
  const sent: string[] = [];
  let streaming = true;
  const stream = (async () => {
    while (streaming) {
      const batch = events(uniqueName('req'), 20);
      await publisher.publish(batch);
      sent.push(...batch.map((e) => e.id));
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  await eventually('200 events before the rotation', async () => (sent.length >= 200 ? true : undefined), 60_000, 10);

  // Rotation: a new key and certificate from the same CA, key first (the half-way state is refused).
  const second = devCaClientCert(link.dir, 'client-2');
  replace(link.files.key, second.key);
  replace(link.files.cert, second.cert);
  const before = sent.length;
  const connectionsBefore = tap.presented.length;
  await eventually(
    'the producer and the consumer to take the new certificate',
    async () =>
      pub.lines.some((l) => l.msg === 'Kafka TLS or SASL files changed; reconnecting with them') &&
      sub.lines.some((l) => l.msg === 'Kafka TLS or SASL files changed; rejoining with them')
        ? true
        : undefined,
    30_000,
  );
  assert.equal(
    pub.lines.filter((l) => l.msg === 'Kafka TLS or SASL files changed; reconnecting with them').length,
    1,
    'one change, taken once (the half-written state is not a change)',
  );
  // The new connections present the new certificate: the replaced producer and consumer bootstrap
  // again, each with client-2; before the rotation every one presented client-1.
  const secondCert = fingerprint(second.cert);
  await eventually(
    'the replaced producer and consumer to bootstrap with the new certificate',
    async () => (tap.presented.filter((f) => f === secondCert).length >= 2 ? true : undefined),
    60_000,
  );
  await eventually('the consumer to rejoin after the rotation', async () => (consumer.isRunning && consumer.link.up ? true : undefined), 60_000);
  assert.ok(connectionsBefore >= 2, `the producer and the consumer bootstrapped through the tap (${connectionsBefore})`);
  assert.deepEqual(new Set(tap.presented.slice(0, connectionsBefore)), new Set([firstCert]));
  const firstNew = tap.presented.indexOf(secondCert);
  assert.deepEqual(new Set(tap.presented.slice(firstNew)), new Set([secondCert]), 'no connection after it used the old certificate');
  await eventually('200 more events after the rotation', async () => (sent.length >= before + 200 ? true : undefined), 60_000, 10);
  streaming = false;
  await stream;

  // The swap went through a fresh producer, not through the outbox: nothing failed, nothing re-sent.
  assert.equal(publisher.status().mode, 'direct');
  assert.equal(publisher.status().drainedEvents, 0);
  assert.deepEqual(publisher.status().link, { up: true });
  await eventually('the consumer to see every event', async () => (new Set(consumed).size >= sent.length ? true : undefined), 60_000);

  const onTopic = counts(idsOnTopic(topic));
  assert.equal(onTopic.size, sent.length, 'every event reached the topic');
  assert.deepEqual(
    [...onTopic].filter(([, n]) => n !== 1),
    [],
    'no event twice on the topic',
  );
  // Exactly once through the consumer: the replaced consumer committed its last batch before it
  // left, and the new one resumed after it (a replay would show as a second copy).
  const seen = counts(consumed);
  assert.deepEqual(
    [...seen].filter(([, n]) => n !== 1),
    [],
    'no event consumed twice across the swap',
  );
  const admin = createKafka({ ...stackLink(), clientId: 'rotation-test', log: capture().log }).admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  const ends = await admin.fetchTopicOffsets(topic);
  const committed = (await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0]?.partitions ?? [];
  assert.deepEqual(
    committed.map((p) => [p.partition, p.offset]).sort(),
    ends.map((p) => [p.partition, p.high]).sort(),
    'the group committed every partition to its end',
  );
});

test('the CA file is replaced by another CA: the link says the handshake fails and events wait in the outbox; the right CA back, they drain once', {
  timeout: 180_000,
}, async (t) => {
  const link = copiedLink(t);
  const topic = await makeTopic(t, 'test.rotation');
  const { publisher } = await outboxPublisher(t, link, topic);
  const first = events(uniqueName('req'), 10);
  await publisher.publish(first);
  assert.deepEqual(publisher.status().link, { up: true });

  const devCa = readFileSync(link.files.ca);
  replace(link.files.ca, readFileSync(foreignCertificate().INTERNAL_TLS_CA_FILE));
  const refused = await eventually(
    'the link to report the refused handshake',
    async () => {
      const l = publisher.status().link;
      return l.up ? undefined : l;
    },
    30_000,
  );
  assert.match(
    refused.reason ?? '',
    /^TLS handshake failed \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)$/,
  );

  const during = events(uniqueName('req'), 10);
  await publisher.publish(during); // before-release with an outbox: durable in the outbox
  assert.equal(publisher.status().mode, 'spool');
  assert.equal(publisher.status().spool?.pendingEvents, 10);

  replace(link.files.ca, devCa);
  await eventually(
    'the outbox to drain with the dev CA back',
    async () => (publisher.status().mode === 'direct' && publisher.status().link.up ? true : undefined),
    60_000,
  );
  assert.equal(publisher.status().drainedEvents, 10);
  const onTopic = counts(idsOnTopic(topic));
  assert.deepEqual(
    [...first, ...during].map((e) => onTopic.get(e.id) ?? 0),
    Array(20).fill(1),
    'each event once on the topic',
  );
});

test('the SASL password file holds a wrong password: the link says authentication failed (never the password); the right one back, events drain', {
  timeout: 180_000,
}, async (t) => {
  const link = copiedLink(t);
  const topic = await makeTopic(t, 'test.rotation');
  const right = readFileSync(link.files.password);
  const wrong = `wrong-${randomBytes(12).toString('hex')}`;
  replace(link.files.password, `${wrong}\n`);
  // Loaded as a service does: KAFKA_SASL_PASSWORD is what the file held at start.
  const { publisher, text } = await outboxPublisher(t, link, topic, { security: { ...link.security, KAFKA_SASL_PASSWORD: wrong } });
  const held = events(uniqueName('req'), 5);
  await publisher.publish(held);
  const down = await eventually(
    'the link to report refused credentials',
    async () => {
      const l = publisher.status().link;
      return l.up || l.reason === 'not connected yet' ? undefined : l;
    },
    30_000,
  );
  assert.equal(down.reason, 'authentication failed (SASL credentials refused by the broker)');
  assert.equal(publisher.status().mode, 'spool');

  replace(link.files.password, right);
  await eventually(
    'the outbox to drain with the right password',
    async () => (publisher.status().mode === 'direct' && publisher.status().link.up ? true : undefined),
    60_000,
  );
  const onTopic = counts(idsOnTopic(topic));
  assert.deepEqual(
    held.map((e) => onTopic.get(e.id) ?? 0),
    [1, 1, 1, 1, 1],
  );
  assert.ok(!text().includes(wrong) && !text().includes(right.toString('utf8').trim()), 'a password appears in the logs');
});
