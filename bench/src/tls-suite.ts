// What TLS costs on the PostgreSQL door path (issue 18, acceptance 4): the same pgbench script (a
// point query with one masked column, so every row crosses the masking link) through two gateway
// replicas this suite starts, each with a policy and a masking service of its own. One runs every
// link of the path the way the stack deploys it: the client's link to the door (sslmode=require),
// mutual TLS on gRPC to policy and masking, Kafka over SASL_SSL, Redis over TLS, the upstream
// PostgreSQL link with verify-full. The other runs the same links without TLS, on loopback: the
// door with sslmode=disable, INTERNAL_PLAINTEXT gRPC, Kafka over SASL_PLAINTEXT (the stack broker's
// bench listener: the same SCRAM users and ACLs), a Redis of this suite's own without TLS, and the
// upstream link with sslMode disable (the same server, database and role). Runs alternate between
// the two at each concurrency, so drift hits them alike; figures are ratios of this run.
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { demoToken, freePort, need, REPO_ROOT, spawnApp } from '@phigate/testkit';
import { parseDocument } from 'yaml';
import { pgbench } from './pgwire-suite.js';
import { tempDir, track } from './processes.js';
import { ratio, round1, tail } from './stats.js';

const SCRIPT = '\\set id random(1, 10000)\nSELECT id, first_name, last_name, zip, phone FROM patients WHERE id = :id;\n';
const CLIENTS = [1, 8] as const;
type Mode = 'tls' | 'plaintext';

/** One mode at one concurrency, over every pass. */
export interface TlsCostRun {
  mode: Mode;
  clients: number;
  tps: number;
  failed: number;
  p50Us: number;
  p99Us: number;
  /** CPU per transaction of the replica, its policy and its masking service together. */
  cpuUsPerTx: number;
}

/** The TLS replica next to the plaintext one at one concurrency. */
export interface TlsCostComparison {
  clients: number;
  /** TLS throughput over plaintext throughput (1.0: no cost). */
  tpsVsPlaintext: number;
  addedP50Us: number;
  addedP99Us: number;
  /** TLS CPU per transaction over plaintext (gateway + policy + masking). */
  cpuVsPlaintext: number;
}

export interface TlsCostBench {
  seconds: number;
  passes: number;
  script: string;
  /** What differs between the two modes, and what does not. */
  scope: string;
  runs: TlsCostRun[];
  comparisons: TlsCostComparison[];
}

const PLAINTEXT = { INTERNAL_PLAINTEXT: 'true', INTERNAL_TLS_CA_FILE: '', INTERNAL_TLS_CERT_FILE: '', INTERNAL_TLS_KEY_FILE: '' };

/** A Redis of this suite's own, without TLS or a login, on loopback; gone when the bench ends. */
async function plaintextRedis(dir: string): Promise<string> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  track(`redis (plaintext, pid ${child.pid})`, () => {
    child.kill('SIGTERM');
  });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return `redis://127.0.0.1:${port}`;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the plaintext Redis for the TLS cost bench did not start (is redis-server installed? `npm run stack:up` installs it)');
}

/** The stack's connections file with the upstream PostgreSQL link (clinical-pg) not encrypted. */
function plaintextConnections(dir: string): string {
  const doc = parseDocument(readFileSync(join(REPO_ROOT, 'deploy/local/gateway/connections.yaml'), 'utf8'));
  const list = doc.get('connections') as { items: { get(k: string): unknown; set(k: string, v: unknown): void; delete(k: string): void }[] };
  const pgLink = list.items.find((c) => c.get('name') === 'clinical-pg');
  if (!pgLink) throw new Error('deploy/local/gateway/connections.yaml has no clinical-pg connection');
  pgLink.set('sslMode', 'disable');
  pgLink.delete('sslRootCertFile');
  const file = join(dir, 'connections-plaintext.yaml');
  writeFileSync(file, doc.toString(), { mode: 0o600 });
  return file;
}

/** What the plaintext set changes besides gRPC: Kafka, Redis and the upstream PostgreSQL link. */
async function plaintextLinks(dir: string): Promise<Record<string, string>> {
  return {
    KAFKA_BROKERS: need('KAFKA_BENCH_PLAINTEXT_BROKERS'),
    KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT',
    KAFKA_SSL_CA_FILE: '',
    REDIS_URL: await plaintextRedis(dir),
    REDIS_TLS_CA_FILE: '',
    REDIS_USERNAME: '',
    REDIS_PASSWORD_FILE: '',
    GATEWAY_CONNECTIONS_FILE: plaintextConnections(dir),
  };
}

/** A gateway with a policy and a masking service of its own, in one mode; returns the pids to measure and its door. */
async function startSet(mode: Mode, dir: string): Promise<{ pgPort: number; pids: number[] }> {
  const overrides = mode === 'plaintext' ? PLAINTEXT : {};
  const [policyOps, policyGrpc, maskingOps, maskingGrpc, httpPort, pgPort] = await Promise.all(Array.from({ length: 6 }, () => freePort()));
  const policy = await spawnApp('policy', 'services/policy/dist/src/main.js', policyOps!, {
    POLICY_OPS_PORT: String(policyOps),
    POLICY_GRPC_PORT: String(policyGrpc),
    ...overrides,
  });
  track(`policy (${mode}, pid ${policy.pid})`, () => policy.kill('SIGTERM'));
  const masking = await spawnApp('masking', 'services/masking/dist/src/main.js', maskingOps!, {
    MASKING_OPS_PORT: String(maskingOps),
    MASKING_GRPC_PORT: String(maskingGrpc),
    ...overrides,
  });
  track(`masking (${mode}, pid ${masking.pid})`, () => masking.kill('SIGTERM'));
  const gateway = await spawnApp('gateway', 'services/gateway/dist/src/main.js', httpPort!, {
    GATEWAY_HTTP_PORT: String(httpPort),
    GATEWAY_PG_PORT: String(pgPort),
    POLICY_GRPC_ADDR: `127.0.0.1:${policyGrpc}`,
    MASKING_GRPC_ADDR: `127.0.0.1:${maskingGrpc}`,
    GATEWAY_RATE_LIMIT_PER_MINUTE: '100000000',
    GATEWAY_RATE_LIMIT_KEY_PREFIX: `phigate:rl:bench-tls-${mode}-${httpPort}:`,
    GATEWAY_REPLICA_ID: `bench-tls-${mode}-${httpPort}`,
    GATEWAY_CANARY_REPORT_SAMPLE: '0.1',
    // Held statements are not part of this path; a plaintext gateway may only name an http:// approval URL.
    ...(mode === 'plaintext' ? { ...overrides, GATEWAY_APPROVAL_URL: 'http://127.0.0.1:9', ...(await plaintextLinks(dir)) } : {}),
  });
  track(`gateway (${mode}, pid ${gateway.pid})`, () => gateway.kill('SIGTERM'));
  return { pgPort: pgPort!, pids: [gateway.pid, policy.pid, masking.pid] };
}

export async function tlsCostBench(
  settle: () => Promise<void>,
  seconds = Number(process.env.BENCH_PGBENCH_SECONDS ?? 3),
  passes = Math.max(2, Number(process.env.BENCH_PGWIRE_PASSES ?? 2)),
): Promise<TlsCostBench> {
  const dir = tempDir('tls-bench-');
  chmodSync(dir.path, 0o777);
  const script = join(dir.path, 'masked.sql');
  writeFileSync(script, SCRIPT, { mode: 0o644 });
  const token = await demoToken('etl-pipeline');
  const sets = { tls: await startSet('tls', dir.path), plaintext: await startSet('plaintext', dir.path) };
  const endpoint = (m: Mode) => ({
    conninfo: `host=127.0.0.1 port=${sets[m].pgPort} dbname=clinical-pg user=etl-pipeline sslmode=${m === 'tls' ? 'require' : 'disable'}`,
    env: { PGPASSWORD: token },
    pid: sets[m].pids[0],
    alsoPids: { policy: sets[m].pids[1]!, masking: sets[m].pids[2]! },
  });
  for (const m of ['tls', 'plaintext'] as const) await pgbench(endpoint(m), script, 'extended', 8, 1, dir.path, 0.01); // warm-up

  const acc = new Map<string, { tps: number[]; failed: number; latencies: number[]; cpuUs: number; tx: number }>();
  for (let pass = 0; pass < passes; pass++) {
    for (const clients of CLIENTS) {
      // Each pass swaps which mode goes first.
      for (const m of pass % 2 === 0 ? (['tls', 'plaintext'] as const) : (['plaintext', 'tls'] as const)) {
        await settle();
        const r = await pgbench(endpoint(m), script, 'extended', clients, seconds, dir.path, 0.5);
        const a = acc.get(`${m}|${clients}`) ?? { tps: [], failed: 0, latencies: [], cpuUs: 0, tx: 0 };
        a.tps.push(r.tps);
        a.failed += r.failed;
        a.cpuUs += r.cpuUs + Object.values(r.alsoCpuUs).reduce((x, y) => x + y, 0);
        a.tx += r.tx;
        for (const l of r.latencies) a.latencies.push(l);
        acc.set(`${m}|${clients}`, a);
      }
    }
  }
  const runs: TlsCostRun[] = [];
  for (const clients of CLIENTS)
    for (const mode of ['tls', 'plaintext'] as const) {
      const a = acc.get(`${mode}|${clients}`)!;
      const t = tail(a.latencies);
      runs.push({
        mode,
        clients,
        tps: Math.round(a.tps.reduce((x, y) => x + y, 0) / a.tps.length),
        failed: a.failed,
        p50Us: t.p50Us,
        p99Us: t.p99Us,
        cpuUsPerTx: round1(a.cpuUs / a.tx),
      });
    }
  const comparisons = CLIENTS.map((clients) => {
    const tls = runs.find((r) => r.clients === clients && r.mode === 'tls')!;
    const plain = runs.find((r) => r.clients === clients && r.mode === 'plaintext')!;
    return {
      clients,
      tpsVsPlaintext: ratio(tls.tps, plain.tps),
      addedP50Us: round1(tls.p50Us - plain.p50Us),
      addedP99Us: round1(tls.p99Us - plain.p99Us),
      cpuVsPlaintext: ratio(tls.cpuUsPerTx, plain.cpuUsPerTx),
    };
  });
  await dir.remove();
  const scope =
    'every link of the path with TLS (client to door sslmode=require, mutual TLS gRPC to policy and masking, Kafka SASL_SSL, Redis TLS, upstream PostgreSQL verify-full) against the same links without it on loopback (door sslmode=disable, plaintext gRPC, Kafka SASL_PLAINTEXT, a plaintext Redis, upstream sslmode disable)';
  console.log(`\nTLS on the PostgreSQL door path (${scope}; ${passes} passes × ${seconds} s, masked point query, extended protocol)`);
  for (const c of comparisons) {
    const tls = runs.find((r) => r.clients === c.clients && r.mode === 'tls')!;
    const plain = runs.find((r) => r.clients === c.clients && r.mode === 'plaintext')!;
    console.log(
      `${String(c.clients).padStart(2)} clients   tls ${String(tls.tps).padStart(6)} tps   plaintext ${String(plain.tps).padStart(6)} tps   ratio ${c.tpsVsPlaintext}   added p50 ${c.addedP50Us} µs   p99 ${c.addedP99Us} µs   CPU ratio ${c.cpuVsPlaintext}`,
    );
  }
  return { seconds, passes, script: SCRIPT, scope, runs, comparisons };
}
