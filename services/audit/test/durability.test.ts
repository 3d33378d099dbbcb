// phigate-test: stack
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createPublicKey, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { EventPublisher, type Topic } from '@phigate/bus';
import { eventually, kafkaConnection, need, REPO_ROOT, uniqueName } from '@phigate/testkit';
import pg from 'pg';
import { PgAuditStore } from '../src/adapters/store/pg-store.js';
import { allowedQuery, auditEnv, context, createTopics, log, stackCheckpointKey } from './helpers.js';

function startAudit(env: Record<string, string>): ChildProcess {
  const child = spawn(
    join(REPO_ROOT, 'node_modules/.bin/node'),
    ['--disable-warning=TimeoutNegativeWarning', join(REPO_ROOT, 'services/audit/dist/src/main.js')],
    {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  child.stderr?.resume();
  return child;
}

const exited = (c: ChildProcess) =>
  new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', () => resolve())));

test('kill -9 of the audit consumer during a burst: after a restart the store holds every produced event exactly once', async (t) => {
  const topic = uniqueName('audit-kill9');
  const group = uniqueName('audit-kill9-group');
  await createTopics(topic);
  const env = auditEnv({ AUDIT_TOPIC: topic, AUDIT_CONSUMER_GROUP: group, AUDIT_CHECKPOINT_INTERVAL_MS: '1000' });
  const pool = new pg.Pool({ connectionString: need('AUDIT_DATABASE_URL'), max: 2 });
  const publisher = new EventPublisher({
    ...kafkaConnection(),
    clientId: 'audit-kill9-test',
    log,
    topic: topic as Topic,
    ackTimeoutMs: 10_000,
  });
  await publisher.start();
  let child = startAudit(env);
  t.after(async () => {
    child.kill('SIGKILL');
    await publisher.stop();
    await pool.end();
  });

  const subject = `kill9-${randomUUID()}`;
  const batches = Array.from({ length: 40 }, () => Array.from({ length: 20 }, () => allowedQuery(context(subject))).flat());
  const ids = batches.flat().map((e) => e.id);
  const stored = async () =>
    (await pool.query<{ n: number; d: number }>('SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM audit_events WHERE id = ANY($1::uuid[])', [ids]))
      .rows[0]!;

  // Produce the first half of the burst while the consumer is storing it; kill it -9 once part of
  // it is stored; produce the rest while no consumer runs. (The whole burst at once could be stored
  // before the kill, and the test would kill an idle consumer.)
  let killedAt = -1;
  const half = batches.length / 2;
  const producing = (async () => {
    for (const b of batches.slice(0, half)) await publisher.publish(b);
  })();
  await eventually(
    'the consumer to store part of the burst',
    async () => {
      const { n } = await stored();
      return n > 0 ? n : undefined;
    },
    60_000,
    20,
  );
  child.kill('SIGKILL');
  await exited(child);
  killedAt = (await stored()).n;
  await producing;
  for (const b of batches.slice(half)) await publisher.publish(b);
  assert.ok(killedAt < ids.length, `killed mid-burst (${killedAt} of ${ids.length} stored)`);

  child = startAudit(env);
  const final = await eventually(
    'every produced event in the store after the restart',
    async () => {
      const s = await stored();
      return s.n >= ids.length ? s : undefined;
    },
    90_000,
    200,
  );
  assert.equal(final.n, ids.length, 'stored count equals produced count');
  assert.equal(final.d, final.n, 'no duplicate ids');

  // Stop it cleanly; the shared store still verifies (its checkpoints are signed with the stack's key).
  child.kill('SIGTERM');
  await exited(child);
  const report = await new PgAuditStore(pool).verify({ keys: [{ publicKey: createPublicKey(stackCheckpointKey().key) }], origin: 'phigate-audit' });
  assert.equal(report.ok, true, JSON.stringify(report.firstBad));
});
