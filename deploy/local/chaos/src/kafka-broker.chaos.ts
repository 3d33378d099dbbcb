// Failure suite: one broker of a 3-node Kafka cluster (replication factor 3, min.insync.replicas=2,
// SASL_SSL with SCRAM users and topic ACLs like the stack's broker; `infra cluster up`) is killed
// (-9) under load: the leader of a partition of the audit topic. A gateway replica and an audit
// replica of their own run against the cluster as the stack's `gateway` and `audit` users, the
// audit replica writing to an audit store of this run (a database created here and dropped after,
// so the stack's chains for phigate.audit.v1 are never touched). Clients drive reads and writes
// through the replica's HTTP door. Promises: every client got a 200 (Kafka's own failover and the
// gateway's outbox are the documented retry behaviour: no client error), every released result
// has each of its events in the store exactly once, the store holds exactly the distinct events on
// the topic, every chain verifies against the topic's committed offsets, and once the broker is
// back every partition has three in-sync replicas again. The stack's broker (:9092) and services
// are not touched; the cluster is started (idempotent) and stopped here.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createKafka } from '@phigate/bus';
import { createLogger } from '@phigate/telemetry';
import { eventually, freePort, kafkaConnection, need, REPO_ROOT, type SpawnedApp, spawnApp } from '@phigate/testkit';
import pg from 'pg';
import { Load, recovered, tally } from './load.js';

const INFRA = join(REPO_ROOT, 'deploy/local/bin/infra');
const AUDIT_TOPIC = 'phigate.audit.v1';
const SIEM_TOPIC = 'phigate.siem.v1';
const PARTITIONS = 6;
const log = createLogger({ service: 'chaos-kafka-broker', level: 'silent' });

function infraCluster(cmd: 'up' | 'down' | 'env'): string {
  try {
    return execFileSync('bash', [INFRA, 'cluster', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(
      `\`deploy/local/bin/infra cluster ${cmd}\` failed (${(e.stderr ?? e.message).trim().split('\n').slice(-3).join(' | ')}): the cluster needs the stack's Kafka jars and secrets, so start the stack first with \`npm run stack:up\` (or \`deploy/local/bin/infra up\`), then run \`deploy/local/bin/infra cluster up\` to see why it does not start`,
    );
  }
}

const envLines = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

/** The pid of cluster node `n`, checked against its command line (never a reused pid). */
function nodePid(env: Record<string, string>, n: number): number {
  const pid = Number(readFileSync(env[`KAFKA_CLUSTER_NODE_${n}_PID_FILE`]!, 'utf8').trim());
  const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  assert.ok(cmd.includes('kafka.Kafka') && cmd.includes(`node-${n}/server.properties`), `pid ${pid} is cluster node ${n}`);
  return pid;
}

/** A fresh audit store for this run: the stack's migrations, applied by the admin, and a role of its own. */
function createStore(db: string, role: string, password: string): string {
  const admin = need('PG_ADMIN_URL');
  const psql = (url: string, args: string[]) =>
    execFileSync('psql', [url, '-q', '-v', 'ON_ERROR_STOP=1', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' },
    });
  psql(admin, ['-c', `create database ${db} template template0 encoding 'UTF8'`]);
  const dir = join(REPO_ROOT, 'services/audit/migrations');
  const dbUrl = new URL(admin);
  dbUrl.pathname = `/${db}`;
  for (const f of execFileSync('ls', [dir], { encoding: 'utf8' })
    .split('\n')
    .filter((x) => x.endsWith('.sql'))
    .sort())
    psql(dbUrl.toString(), ['-v', `app_role=${role}`, '-v', `app_password=${password}`, '-f', join(dir, f)]);
  // The stack's audit URL (TLS verify-full against the dev CA) with this run's role and database.
  const url = new URL(need('AUDIT_DATABASE_URL'));
  url.username = role;
  url.password = password;
  url.pathname = `/${db}`;
  return url.toString();
}

test('one of three Kafka brokers is killed (-9) under load: no client error, every event stored exactly once, every chain verifies, the cluster heals', async (t) => {
  const t0 = Date.now();
  // Cleanup in reverse order of setup (node runs t.after hooks in registration order): the
  // replicas first, the cluster last.
  const cleanup: (() => unknown)[] = [() => infraCluster('down')];
  t.after(async () => {
    for (const step of cleanup.reverse()) await step();
  });
  infraCluster('up');
  const cluster = envLines(infraCluster('env'));
  const brokers = cluster.KAFKA_BROKERS!.split(',');
  const kafka = createKafka({ ...kafkaConnection(), brokers, clientId: 'chaos-kafka-broker', log });
  const admin = kafka.admin();
  await admin.connect();
  cleanup.push(() => admin.disconnect().catch(() => undefined));

  // A fresh audit topic and groups for this run's fresh store (a store's chains start at offset 0).
  const existing = await admin.listTopics();
  await admin.deleteGroups(['phigate-audit', 'phigate-audit-siem']).catch(() => undefined);
  const ours = [AUDIT_TOPIC, SIEM_TOPIC].filter((x) => existing.includes(x));
  if (ours.length) await admin.deleteTopics({ topics: ours, timeout: 30_000 });
  await eventually(
    'the audit and SIEM topics recreated on the cluster',
    async () => {
      const now = await admin.listTopics();
      const missing = [AUDIT_TOPIC, SIEM_TOPIC].filter((x) => !now.includes(x));
      if (missing.length)
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({
            topic,
            numPartitions: PARTITIONS,
            replicationFactor: 3,
            configEntries: [{ name: 'min.insync.replicas', value: '2' }],
          })),
        });
      // Every broker must know the new topics (a service asking a broker that does not yet is refused).
      return brokers.every((b) => {
        const out = execFileSync('kcat', ['-L', '-F', cluster.KAFKA_KCAT_CONFIG!, '-b', b, '-m', '5'], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        const heads = out
          .split('\n')
          .filter((l) => l.includes(`"${AUDIT_TOPIC}" with ${PARTITIONS} partitions`) || l.includes(`"${SIEM_TOPIC}" with ${PARTITIONS} partitions`));
        return heads.length === 2 && !/isrs: \d+(,\d+)?$|isrs: $|Leader not available/m.test(out);
      })
        ? true
        : undefined;
    },
    60_000,
    500,
  );

  const suffix = randomBytes(4).toString('hex');
  const db = `phigate_audit_kc_${suffix}`;
  const role = 'phigate_audit_kcluster';
  cleanup.push(() => {
    execFileSync('psql', [need('PG_ADMIN_URL'), '-qc', `drop database if exists ${db} with (force)`, '-c', `drop role if exists ${role}`], { stdio: 'ignore' });
  });
  const storeUrl = createStore(db, role, randomBytes(18).toString('hex'));
  const outbox = mkdtempSync(join(tmpdir(), 'chaos-kafka-outbox-'));
  cleanup.push(() => rmSync(outbox, { recursive: true, force: true }));
  const apps: SpawnedApp[] = [];
  cleanup.push(async () => {
    for (const a of apps) await a.kill('SIGTERM');
  });

  const auditPort = await freePort();
  apps.push(
    await spawnApp('audit', 'services/audit/dist/src/main.js', auditPort, {
      KAFKA_BROKERS: cluster.KAFKA_BROKERS!,
      AUDIT_HTTP_PORT: String(auditPort),
      AUDIT_DATABASE_URL: storeUrl,
      AUDIT_PURGE_INTERVAL_MS: '0',
      AUDIT_CHECKPOINT_INTERVAL_MS: '1000',
    }),
  );
  const gatewayPort = await freePort();
  const gateway = await spawnApp('gateway', 'services/gateway/dist/src/main.js', gatewayPort, {
    KAFKA_BROKERS: cluster.KAFKA_BROKERS!,
    GATEWAY_HTTP_PORT: String(gatewayPort),
    GATEWAY_PG_PORT: '0',
    GATEWAY_REPLICA_ID: 'chaos-kafka-cluster',
    GATEWAY_AUDIT_OUTBOX_DIR: outbox,
    // Its own budget: the drill asserts that every statement succeeds, so no other test's load may
    // spend it.
    GATEWAY_RATE_LIMIT_KEY_PREFIX: `phigate:rl:chaos-kc-${suffix}:`,
    GATEWAY_RATE_LIMIT_PER_MINUTE: '1000000',
  });
  apps.push(gateway);

  // What the pipeline looks like when events are missing: the gateway's outbox and Kafka link, the
  // audit replica's readiness and lag, the group's committed offsets against the topic's ends.
  const diagnosis = async () => {
    const get = (u: string) =>
      fetch(u, { signal: AbortSignal.timeout(3000) })
        .then((r) => r.text())
        .catch((e: Error) => e.message);
    const pick = (text: string, re: RegExp) => text.split('\n').filter((l) => re.test(l) && !l.startsWith('#'));
    const gw = pick(await get(`${gateway.url}/metrics`), /outbox|kafka/i).join(' ');
    const au = pick(await get(`${apps[0]!.url}/metrics`), /lag|consumer/i).join(' ');
    const ends = await admin.fetchTopicOffsets(AUDIT_TOPIC).catch((e: Error) => e.message);
    const committed = await admin.fetchOffsets({ groupId: 'phigate-audit', topics: [AUDIT_TOPIC] }).catch((e: Error) => e.message);
    return `gateway readyz ${await get(`${gateway.url}/readyz`)} metrics ${gw}; audit readyz ${await get(`${apps[0]!.url}/readyz`)} metrics ${au}; topic ends ${JSON.stringify(ends)}; committed ${JSON.stringify(committed)}`;
  };
  const load = await Load.start([gateway.url]);
  await eventually(
    'statements to succeed through the cluster before the kill',
    async () => (load.outcomes.filter((o) => o.status === 200).length >= 100 ? true : undefined),
    60_000,
    100,
  );

  // The victim: the audit group's coordinator (the leader of its __consumer_offsets partition,
  // Java's String.hashCode of the group id modulo the partition count), which also leads
  // partitions of the audit topic: the broker whose loss costs the most.
  const offsets = await admin.fetchTopicMetadata({ topics: ['__consumer_offsets'] });
  const javaHash = [...'phigate-audit'].reduce((h, c) => (Math.imul(31, h) + c.charCodeAt(0)) | 0, 0);
  const slot = (javaHash & 0x7fffffff) % offsets.topics[0]!.partitions.length;
  const victim = offsets.topics[0]!.partitions.find((p) => p.partitionId === slot)!.leader;
  const before = await admin.fetchTopicMetadata({ topics: [AUDIT_TOPIC] });
  const led = before.topics[0]!.partitions.filter((p) => p.leader === victim).map((p) => p.partitionId);
  assert.ok(led.length > 0, `the audit group's coordinator, broker ${victim}, leads partitions of the audit topic`);
  const { controller } = await admin.describeCluster();
  const atKill = load.outcomes.length;
  process.kill(nodePid(cluster, victim), 'SIGKILL');
  const killedAt = Date.now();

  // Under load until the cluster has moved every partition the victim led, and clients kept going after it.
  let maxOutbox = 0;
  const metrics = async () => {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    const m = /^phigate_gateway_audit_outbox_events(?:\{[^}]*\})? (\d+)/m.exec(text);
    maxOutbox = Math.max(maxOutbox, Number(m?.[1] ?? 0));
  };
  await eventually(
    `the partitions led by broker ${victim} to get new leaders`,
    async () => {
      await metrics();
      const meta = await admin.fetchTopicMetadata({ topics: [AUDIT_TOPIC] });
      return meta.topics[0]!.partitions.every((p) => p.leader !== victim && p.leader >= 0 && !p.isr.includes(victim)) ? true : undefined;
    },
    90_000,
    250,
  );
  const failedOver = load.outcomes.length;
  const failoverMs = Date.now() - killedAt;
  await eventually(
    'statements to keep succeeding after the failover',
    async () => {
      await metrics();
      return load.outcomes.filter((o, i) => i >= failedOver && o.status === 200).length >= 100 ? true : undefined;
    },
    60_000,
    100,
  );

  // The broker returns; the cluster heals (`infra cluster up` waits for three in-sync replicas everywhere).
  infraCluster('up');
  const healed = await admin.fetchTopicMetadata({ topics: [AUDIT_TOPIC, SIEM_TOPIC, '__consumer_offsets'] });
  const { brokers: members } = await admin.describeCluster();
  const rssMb = [1, 2, 3].map((n) => {
    const m = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${nodePid(cluster, n)}/status`, 'utf8'));
    return Math.round(Number(m?.[1] ?? 0) / 1024);
  });
  await recovered(gateway.url, 'kafka broker back');
  const outcomes = await load.stop();

  // Every promise is judged first and asserted together, so that one broken promise does not hide another.
  const broken: Record<string, string> = {};

  // Every client got a 200: nothing hung, refused, reset or failed closed.
  const answers = tally(outcomes);
  if (answers['200'] !== outcomes.length) {
    const bad = outcomes
      .filter((o) => o.status !== 200)
      .map((o) => `${o.hung ? 'hung' : (o.transport ?? `${o.status} ${o.code}`)} sent ${o.at - killedAt} ms after the kill`);
    broken['no-client-error'] = `${JSON.stringify(answers)}: ${bad.slice(0, 10).join('; ')}`;
  }
  const leaks = outcomes.filter((o) => o.leak);
  if (leaks.length) broken['no-phi'] = `${leaks.length} answers leaked: ${leaks[0]!.leak}`;
  assert.ok(atKill < outcomes.length, 'the broker was killed mid-load');

  // Every released result's events in the store exactly once: each (request, event type) once,
  // a read's one query.served record, or a write's query.executed and query.completed, present.
  const released = outcomes.filter((o) => o.status === 200);
  const ids = released.map((o) => o.requestId);
  assert.equal(new Set(ids).size, ids.length, 'each statement has its own request id');
  const pool = new pg.Pool({ connectionString: storeUrl, max: 2 });
  cleanup.push(() => pool.end());
  const perRequest = async () =>
    (
      await pool.query<{ request_id: string; type: string; n: number }>(
        'SELECT request_id, type, count(*)::int AS n FROM audit_events WHERE request_id = ANY($1::text[]) GROUP BY request_id, type',
        [ids],
      )
    ).rows;
  const complete = (r: { request_id: string; type: string }[]) => {
    const seen = new Map<string, Set<string>>();
    for (const x of r) seen.set(x.request_id, (seen.get(x.request_id) ?? new Set()).add(x.type));
    const done = (t: Set<string> | undefined) => t?.has('query.served') || (t?.has('query.executed') && t.has('query.completed'));
    return ids.filter((id) => !done(seen.get(id)));
  };
  let rows = await perRequest();
  await eventually(
    'every released statement in the run store (the outbox drained, the consumer caught up)',
    async () => {
      rows = await perRequest();
      return complete(rows).length === 0 ? true : undefined;
    },
    120_000,
    500,
  ).catch(() => undefined);
  const missing = complete(rows);
  if (missing.length) {
    const when = released.filter((o) => missing.includes(o.requestId)).map((o) => o.at - killedAt);
    broken['no-loss'] =
      `${missing.length} of ${ids.length} released statements lack query.served, or query.executed and query.completed (sent ${Math.min(...when)} to ${Math.max(...when)} ms after the kill); ${await diagnosis()}`;
  }
  const doubled = rows.filter((r) => r.n !== 1);
  if (doubled.length) broken['no-duplicate'] = `${doubled.length} (request, event type) pairs stored more than once, e.g. ${JSON.stringify(doubled[0])}`;

  // The store holds exactly the distinct events on the topic (copies from a retried send are
  // deduplicated by id, as ADR 0008 documents), read with kcat: a client that is not phigate's.
  const topicIds = execFileSync(
    'kcat',
    ['-C', '-F', cluster.KAFKA_KCAT_CONFIG!, '-b', cluster.KAFKA_BROKERS!, '-t', AUDIT_TOPIC, '-o', 'beginning', '-e', '-q', '-f', '%s\n'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000, maxBuffer: 512 * 1024 * 1024 },
  )
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { id: string }).id);
  const distinct = new Set(topicIds);
  const storedIds = new Set(
    (await pool.query<{ id: string }>('SELECT id::text AS id FROM audit_events WHERE kafka_topic = $1 AND id IS NOT NULL', [AUDIT_TOPIC])).rows.map(
      (r) => r.id,
    ),
  );
  const notStored = [...distinct].filter((id) => !storedIds.has(id)).length;
  const notOnTopic = [...storedIds].filter((id) => !distinct.has(id)).length;
  if (notStored || notOnTopic)
    broken['store-equals-topic'] =
      `${distinct.size} distinct events on the topic, ${storedIds.size} stored: ${notStored} not stored, ${notOnTopic} not on the topic`;

  // Every chain verifies, cross-checked against the audit group's committed offsets on the cluster.
  let out: string;
  try {
    out = execFileSync('bash', [join(REPO_ROOT, 'services/audit/bin/audit-verify'), '--json'], {
      env: {
        ...process.env,
        ...Object.fromEntries(Object.entries(cluster).filter(([k]) => k.startsWith('KAFKA_') && k !== 'KAFKA_KCAT_CONFIG' && !k.startsWith('KAFKA_CLUSTER_'))),
        AUDIT_DATABASE_URL: storeUrl,
        AUDIT_CHECKPOINT_PUBLIC_KEY_FILE: need('AUDIT_CHECKPOINT_PUBLIC_KEY_FILE'),
      },
      encoding: 'utf8',
      timeout: 300_000,
    });
  } catch (err) {
    out = String((err as { stdout?: string }).stdout ?? err);
  }
  const report = JSON.parse(out.trim().split('\n').at(-1)!) as { ok: boolean; chains?: { topic: string }[]; firstBad?: unknown };
  const chains = report.chains?.filter((c) => c.topic === AUDIT_TOPIC).length;
  if (!report.ok || chains !== PARTITIONS) broken['chains-verify'] = `ok ${report.ok}, ${chains} chains: ${JSON.stringify(report.firstBad ?? report)}`;

  // Healed: the victim is a member again and every partition has three in-sync replicas.
  const short = healed.topics.flatMap((x) => x.partitions.filter((p) => p.isr.length !== 3 || p.leader < 0).map((p) => `${x.name}/${p.partitionId}`));
  const nodes = members.map((b) => b.nodeId).sort();
  if (short.length || nodes.join() !== '1,2,3') broken.heals = `brokers ${nodes.join(',')}; partitions short of three in-sync replicas: ${short.join(', ')}`;

  console.log(
    `kafka-broker chaos: killed broker ${victim} (audit group coordinator, leader of audit partitions ${led.join(',')}${victim === controller ? ', active controller' : ''}) after ${atKill} statements, new leaders ${failoverMs} ms and ${failedOver - atKill} statements later; ` +
      `${outcomes.length} statements ${JSON.stringify(answers)}; ${topicIds.length} messages on the topic, ${distinct.size} distinct events, ${storedIds.size} stored, ` +
      `${missing.length} released statements missing, ${doubled.length} doubled; outbox peak ${maxOutbox} events; node RSS ${rssMb.join('/')} MB; ${Math.round((Date.now() - t0) / 1000)} s`,
  );
  assert.deepEqual(broken, {}, 'every promise kept');
});
