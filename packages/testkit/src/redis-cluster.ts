import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, stackEnv } from './index.js';

/** Throwaway local redis-server processes (a cluster, or a primary with a Sentinel) and how to reach them. */
export interface LocalRedis {
  /** `host:port` of every primary. */
  nodes: string[];
  /** REDIS_* settings that reach it as a service would (REDIS_MODE=cluster, TLS like the stack's Redis). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

const run = promisify(execFile);

/**
 * Starts `masters` redis-server processes in cluster mode on free ports (state in a temporary
 * directory) and joins them with `redis-cli --cluster create`, no replicas. When the local stack's
 * Redis runs with TLS, so does the cluster (client and cluster bus), with the same dev certificate.
 * Needs Debian's redis-server and redis-tools, which `deploy/local/bin/infra up` installs.
 */
export async function startRedisCluster(masters = 3): Promise<LocalRedis> {
  const ca = stackEnv().REDIS_TLS_CA_FILE;
  const dir = mkdtempSync(join(tmpdir(), 'phigate-redis-cluster-'));
  const procs: ChildProcess[] = [];
  const nodes: string[] = [];
  const tlsCli = ca ? ['--tls', '--cacert', ca] : [];
  const stop = () => stopAll(procs, dir);
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      const busPort = await freePort();
      const listen = ca ? ['--port', '0', '--tls-port', String(port), '--tls-cluster', 'yes', '--tls-auth-clients', 'optional'] : ['--port', String(port)];
      const certs = ca ? ['--tls-cert-file', join(dirname(ca), 'redis.pem'), '--tls-key-file', join(dirname(ca), 'redis.key'), '--tls-ca-cert-file', ca] : [];
      const args = [
        ...listen,
        ...certs,
        ...['--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-config-file', join(dir, `nodes-${port}.conf`)],
        ...['--dir', dir, '--appendonly', 'no', '--save', '', '--daemonize', 'no', '--logfile', join(dir, `${port}.log`)],
      ];
      const p = spawn('redis-server', args, { stdio: 'ignore' });
      procs.push(p);
      nodes.push(`127.0.0.1:${port}`);
    }
    for (const n of nodes) await waitForPing(n, tlsCli);
    await run('redis-cli', [...tlsCli, '--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    for (const n of nodes) await waitForClusterOk(n, tlsCli);
  } catch (err) {
    await stop();
    throw new Error(`could not start a Redis Cluster (redis-server and redis-cli come from 'deploy/local/bin/infra up'): ${(err as Error).message}`);
  }
  const scheme = ca ? 'rediss' : 'redis';
  const env: Record<string, string> = { REDIS_URL: `${scheme}://${nodes[0]}`, REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: nodes.slice(1).join(',') };
  if (ca) env.REDIS_TLS_CA_FILE = ca;
  return { nodes, env, stop };
}

/**
 * Starts one redis-server and one Sentinel (quorum 1) that monitors it as `phigate`, both on free
 * ports and, when the stack's Redis runs with TLS, with TLS (the Sentinel reaches the primary over
 * TLS too). `env` is REDIS_MODE=sentinel with REDIS_SENTINELS naming the Sentinel.
 */
export async function startRedisSentinel(): Promise<LocalRedis> {
  const ca = stackEnv().REDIS_TLS_CA_FILE;
  const dir = mkdtempSync(join(tmpdir(), 'phigate-redis-sentinel-'));
  const tlsCli = ca ? ['--tls', '--cacert', ca] : [];
  const procs: ChildProcess[] = [];
  const stop = () => stopAll(procs, dir);
  const [port, sentinelPort] = [await freePort(), await freePort()];
  const listen = (p: number) =>
    ca
      ? `port 0\ntls-port ${p}\ntls-cert-file ${join(dirname(ca), 'redis.pem')}\ntls-key-file ${join(dirname(ca), 'redis.key')}\ntls-ca-cert-file ${ca}\ntls-auth-clients optional\ntls-replication yes\n`
      : `port ${p}\n`;
  writeFileSync(join(dir, 'primary.conf'), `${listen(port)}bind 127.0.0.1\ndir ${dir}\nsave ""\nappendonly no\nlogfile ${join(dir, 'primary.log')}\n`);
  writeFileSync(
    join(dir, 'sentinel.conf'),
    `${listen(sentinelPort)}bind 127.0.0.1\ndir ${dir}\nlogfile ${join(dir, 'sentinel.log')}\nsentinel monitor phigate 127.0.0.1 ${port} 1\n`,
  );
  try {
    procs.push(spawn('redis-server', [join(dir, 'primary.conf')], { stdio: 'ignore' }));
    procs.push(spawn('redis-server', [join(dir, 'sentinel.conf'), '--sentinel'], { stdio: 'ignore' }));
    await waitForPing(`127.0.0.1:${port}`, tlsCli);
    await waitUntil('the sentinel naming its primary', async () =>
      (await cli(`127.0.0.1:${sentinelPort}`, tlsCli, 'sentinel', 'get-master-addr-by-name', 'phigate')).includes(String(port)),
    );
  } catch (err) {
    await stop();
    throw new Error(`could not start Redis with a Sentinel (redis-server comes from 'deploy/local/bin/infra up'): ${(err as Error).message}`);
  }
  const env: Record<string, string> = {
    // Sentinel mode takes the scheme (TLS) and credentials from REDIS_URL; the primary's address from the Sentinel.
    REDIS_URL: `${ca ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    REDIS_MODE: 'sentinel',
    REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
    REDIS_SENTINEL_NAME: 'phigate',
  };
  if (ca) env.REDIS_TLS_CA_FILE = ca;
  return { nodes: [`127.0.0.1:${port}`], env, stop };
}

async function stopAll(procs: ChildProcess[], dir: string): Promise<void> {
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          p.once('exit', () => resolve());
          p.kill('SIGTERM');
        }),
    ),
  );
  rmSync(dir, { recursive: true, force: true });
}

async function cli(node: string, tlsCli: string[], ...args: string[]): Promise<string> {
  const [host, port] = node.split(':') as [string, string];
  const { stdout } = await run('redis-cli', [...tlsCli, '-h', host, '-p', port, ...args], { timeout: 5000 });
  return stdout.trim();
}

async function waitUntil(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not happen`);
}

const waitForPing = (node: string, tlsCli: string[]) => waitUntil(`${node} answering PING`, async () => (await cli(node, tlsCli, 'ping')) === 'PONG');
const waitForClusterOk = (node: string, tlsCli: string[]) =>
  waitUntil(`${node} reporting cluster_state:ok`, async () => (await cli(node, tlsCli, 'cluster', 'info')).includes('cluster_state:ok'));
