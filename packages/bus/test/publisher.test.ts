// phigate-test: stack
// The publisher against the real local Kafka (`npm run stack:up`): group commit, the durable outbox
// while Kafka is unreachable or stopped, in-order drain, bounds, and the async mode. One test stops
// the shared broker for a few seconds (deploy/local/bin/infra stop|start kafka) and always starts it
// again.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { AppError } from '@phigate/errors';
import { eventually, kafkaConnection, kcatArgs, need, REPO_ROOT, stackAuditRecovered, uniqueName } from '@phigate/testkit';
import { type AuditEvent, buildEvent, EventConsumer, EventPublisher, type PublisherOptions } from '../src/index.js';
import { capture, makeTopic } from './helpers.js';

const run = promisify(execFile);
const UNREACHABLE = ['127.0.0.1:1'];

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'phigate-publisher-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function publisher(opts: Partial<PublisherOptions> & { topic: string }, log = capture().log): EventPublisher {
  return new EventPublisher({ ...kafkaConnection(), clientId: 'publisher-test', log, ackTimeoutMs: 1000, ...opts });
}

/** A request's events, in the order the gateway would publish them. */
function requestEvents(requestId: string, n: number, from = 0): AuditEvent[] {
  return Array.from({ length: n }, (_, i) =>
    buildEvent('query.completed', { requestId, frontDoor: 'http', producer: 'publisher-test' }, { rows: from + i, bytes: 0, durationMs: 0 }),
  );
}

/** Everything on the topic, as a SIEM would read it (kcat), as [key, id, rows]. */
function consumeAll(topic: string): Array<{ key: string; id: string; n: number }> {
  const out = execFileSync('kcat', ['-C', ...kcatArgs(), '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%k\t%s\n'], {
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 512 * 1024 * 1024,
  });
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [key, value] = l.split('\t') as [string, string];
      const e = JSON.parse(value) as { id: string; queryCompleted: { rows: number } };
      return { key, id: e.id, n: e.queryCompleted.rows };
    });
}

/** Every id published is on the topic, and per key the first copies are in publishing order. */
function assertDelivered(topic: string, published: Map<string, AuditEvent[]>): { total: number; duplicates: number } {
  const seen = consumeAll(topic);
  const firsts = new Map<string, string[]>();
  const ids = new Set<string>();
  let duplicates = 0;
  for (const m of seen) {
    if (ids.has(m.id)) {
      duplicates++;
      continue;
    }
    ids.add(m.id);
    firsts.set(m.key, [...(firsts.get(m.key) ?? []), m.id]);
  }
  let total = 0;
  for (const [key, events] of published) {
    total += events.length;
    assert.deepEqual(
      firsts.get(key),
      events.map((e) => e.id),
      `events of ${key} all delivered, in order`,
    );
  }
  assert.equal(ids.size, total, 'nothing else on the topic');
  return { total, duplicates };
}

const segments = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.seg'));

test('group commit: concurrent publishes share produce requests and all arrive in order', async (t) => {
  const topic = await makeTopic(t);
  const p = publisher({ topic });
  await p.start();
  t.after(() => p.stop());
  const published = new Map<string, AuditEvent[]>();
  await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const key = `req-${i % 20}`;
      const events = requestEvents(key, 3, i * 3);
      // Per key, publish order is the order of these calls (synchronous up to publish()).
      published.set(key, [...(published.get(key) ?? []), ...events]);
      await p.publish(events);
    }),
  );
  assert.equal(assertDelivered(topic, published).total, 600);
});

test('before-release without an outbox fails closed when Kafka cannot be reached', async () => {
  const p = new EventPublisher({ brokers: UNREACHABLE, clientId: 'publisher-test', log: capture().log, topic: 'x', ackTimeoutMs: 500 });
  await assert.rejects(p.start());
});

test('with an outbox, events are durable while Kafka is unreachable, and drain in order on the next start', async (t) => {
  const topic = await makeTopic(t);
  const dir = tempDir(t);
  const down = new EventPublisher({ brokers: UNREACHABLE, clientId: 'publisher-test', log: capture().log, topic, ackTimeoutMs: 500, outbox: { dir } });
  await down.start(); // Kafka being down is not fatal with an outbox
  const published = new Map<string, AuditEvent[]>();
  await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const key = `req-${i % 10}`;
      const events = requestEvents(key, 4, i * 4);
      published.set(key, [...(published.get(key) ?? []), ...events]);
      await down.publish(events);
    }),
  );
  assert.equal(down.status().mode, 'spool');
  assert.equal(down.status().spool?.pendingEvents, 200);
  assert.equal(down.status().kafkaConnected, false);
  assert.equal(down.isAccepting, true, 'still accepting: the outbox has room');
  await down.stop();
  assert.ok(segments(dir).length > 0, 'the events are on disk across the restart');

  // A new process (here: a new publisher on the same directory) with Kafka back drains first.
  const up = publisher({ topic, outbox: { dir } });
  await up.start();
  t.after(() => up.stop());
  await eventually('the outbox to drain', async () => (up.status().mode === 'direct' ? true : undefined), 30_000);
  assert.equal(up.status().drainedEvents, 200);
  const after = requestEvents('req-0', 2, 10_000);
  published.set('req-0', [...(published.get('req-0') ?? []), ...after]);
  await up.publish(after); // goes behind the drained events, directly
  const { total, duplicates } = assertDelivered(topic, published);
  assert.equal(total, 202);
  assert.equal(duplicates, 0);
  assert.deepEqual(segments(dir), [], 'a drained outbox holds no segment files');
});

test('a full outbox refuses new events with BUS_OUTBOX_FULL (fail closed)', async (t) => {
  const dir = tempDir(t);
  const p = new EventPublisher({
    brokers: UNREACHABLE,
    clientId: 'publisher-test',
    log: capture().log,
    topic: 'x',
    ackTimeoutMs: 500,
    outbox: { dir, maxEvents: 10 },
  });
  await p.start();
  t.after(() => p.stop());
  await p.publish(requestEvents('a', 4));
  await p.publish(requestEvents('b', 4));
  await assert.rejects(p.publish(requestEvents('c', 4)), (err: AppError) => err.code === 'BUS_OUTBOX_FULL');
  await p.publish(requestEvents('d', 2));
  assert.equal(p.isAccepting, false);
  assert.equal(p.status().spool?.pendingEvents, 10);
});

test('async mode resolves at once, delivers when Kafka is up, and without an outbox reports undelivered events at shutdown', async (t) => {
  const topic = await makeTopic(t);
  const p = publisher({ topic, durability: 'async' });
  await p.start();
  const published = new Map<string, AuditEvent[]>();
  for (let i = 0; i < 100; i++) {
    const key = `req-${i % 5}`;
    const events = requestEvents(key, 2, i * 2);
    published.set(key, [...(published.get(key) ?? []), ...events]);
    await p.publish(events);
  }
  await p.stop(); // delivers what is queued
  assert.equal(assertDelivered(topic, published).total, 200);

  const { log, lines } = capture();
  const down = new EventPublisher({
    brokers: UNREACHABLE,
    clientId: 'publisher-test',
    log,
    topic,
    ackTimeoutMs: 300,
    durability: 'async',
    maxQueuedEvents: 50,
  });
  await down.start();
  await down.publish(requestEvents('x', 30));
  await assert.rejects(down.publish(requestEvents('y', 30)), (err: AppError) => err.code === 'BUS_OUTBOX_FULL');
  await eventually('the events to be held in the memory spool', async () => (down.status().spool?.pendingEvents === 30 ? true : undefined));
  assert.equal(down.status().spool?.kind, 'memory');
  await down.stop();
  const loud = lines.find((l) => l.msg === 'audit events still undelivered at shutdown (async mode without an outbox)');
  assert.ok(loud, 'never dropped silently');
  assert.equal(loud.events, 30);
});

test('the broker stops in the middle of a stream and starts again: every event arrives, in order per key', async (t) => {
  const topic = await makeTopic(t);
  const dir = tempDir(t);
  const home = need('PHIGATE_HOME');
  const infra = (action: 'stop' | 'start') =>
    run('bash', [join(REPO_ROOT, 'deploy/local/bin/infra'), action, 'kafka'], { env: { ...process.env, PHIGATE_HOME: home }, timeout: 120_000 });
  let stopped = false;
  t.after(async () => {
    if (stopped) await infra('start'); // never leave the shared broker down
  });
  const p = publisher({ topic, outbox: { dir } });
  await p.start();
  t.after(() => p.stop());
  // A consumer group reading the same stream keeps consuming across the broker restart.
  const consumed = new Set<string>();
  const consumer = new EventConsumer({
    ...kafkaConnection(),
    clientId: 'publisher-test',
    log: capture().log,
    topic,
    groupId: uniqueName('publisher-test'),
    recoveryMs: 5000,
    handleBatch: async (messages) => {
      for (const m of messages) if (m.event) consumed.add(m.event.id);
    },
  });
  await consumer.start();
  t.after(() => consumer.stop());

  const published = new Map<string, AuditEvent[]>();
  let sent = 0;
  let spooledSeen = false;
  let stopAt = Number.POSITIVE_INFINITY;
  const outage = (async () => {
    await eventually('a first part of the stream', async () => (sent >= 150 ? true : undefined), 30_000, 10);
    stopped = true;
    await infra('stop');
    await eventually('the outbox to be used', async () => (p.status().mode === 'spool' ? true : undefined), 30_000, 50);
    await new Promise((r) => setTimeout(r, 2000));
    await infra('start');
    stopped = false;
  })().finally(() => {
    stopAt = sent + 400;
  });
  // Publishing goes on through the outage, and for a while after it.
  const workers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = w; sent < stopAt; i += 8) {
      const key = `req-${i % 40}`;
      const events = requestEvents(key, 3, i * 3);
      published.set(key, [...(published.get(key) ?? []), ...events]);
      await p.publish(events); // before-release: resolves once on Kafka or in the outbox
      if (p.status().mode === 'spool') spooledSeen = true;
      sent++;
      if (sent > 150) await new Promise((r) => setTimeout(r, 40));
    }
  });
  await Promise.all([...workers, outage]);
  assert.ok(spooledSeen, 'some events went through the outbox');
  await eventually('the outbox to drain', async () => (p.status().mode === 'direct' && p.status().spool?.pendingEvents === 0 ? true : undefined), 60_000);
  const { total } = assertDelivered(topic, published);
  assert.equal(total, sent * 3);
  assert.ok(p.status().drainedEvents > 0);
  await eventually('the consumer group to have read every event after the restart', async () => (consumed.size === total ? true : undefined), 90_000, 200);
  // The shared broker restarted under the stack's audit service too: the next test needs it back.
  await stackAuditRecovered();
});
