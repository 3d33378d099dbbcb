// A Redis primary with a replica under three Sentinels (quorum 2), started by a drill on free ports
// in a temporary directory: what production runs for failover, as the local stack's Redis runs (TLS
// with the stack's certificate, the default user off, the `phigate` ACL user with the stack's
// password, AOF on). The stack's own Redis is not touched.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, freePort, stackEnv } from '@phigate/testkit';

const run = promisify(execFile);
export const SENTINEL_NAME = 'phigate';
const HOW = "redis-server and redis-cli come from 'deploy/local/bin/infra up'";

export interface SentinelTopology {
  /** REDIS_* overrides that make a service find the primary through the Sentinels. */
  env: Record<string, string>;
  /** `host:port` of the primary the Sentinels name now. */
  primary(): Promise<string>;
  /** SIGKILL of the process serving `address` (a data node). */
  kill(address: string): Promise<void>;
  /** INFO of a data node, as `key:value` lines. */
  info(address: string, section: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startSentinelTopology(): Promise<SentinelTopology> {
  const stack = stackEnv();
  const ca = stack.REDIS_TLS_CA_FILE;
  const user = stack.REDIS_USERNAME;
  const password = stack.REDIS_PASSWORD_FILE ? readFileSync(stack.REDIS_PASSWORD_FILE, 'utf8').trim() : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'phigate-sentinel-failover-'));
  const tlsCli = ca ? ['--tls', '--cacert', ca] : [];
  // Each node's process, and a promise of its exit made when it starts (so none is missed).
  const procs = new Map<string, { child: ChildProcess; exited: Promise<unknown> }>();
  const listen = (port: number) =>
    ca
      ? [
          'port 0',
          `tls-port ${port}`,
          `tls-cert-file ${join(dirname(ca), 'redis.pem')}`,
          `tls-key-file ${join(dirname(ca), 'redis.key')}`,
          `tls-ca-cert-file ${ca}`,
          'tls-auth-clients optional',
          'tls-replication yes',
        ]
      : [`port ${port}`];
  const login =
    user && password ? ['user default off ~* &* +@all', `user ${user} on >${password} ~* &* +@all`, `masteruser ${user}`, `masterauth ${password}`] : [];
  const start = (name: string, address: string, lines: string[], sentinel: boolean) => {
    const home = join(dir, name);
    mkdirSync(home);
    const file = join(home, 'redis.conf');
    writeFileSync(file, `${['bind 127.0.0.1', `dir ${home}`, `logfile ${join(home, 'log')}`, ...lines].join('\n')}\n`, { mode: 0o600 });
    const child = spawn('redis-server', [file, ...(sentinel ? ['--sentinel'] : [])], { stdio: 'ignore' });
    procs.set(address, { child, exited: new Promise((resolve) => child.once('exit', resolve)) });
  };
  const cli = async (address: string, ...args: string[]) => {
    const [host, port] = address.split(':') as [string, string];
    // The Sentinels take no login; the data nodes the ACL user.
    const login = user && password && args[0] !== 'sentinel';
    const { stdout } = await run('redis-cli', [...tlsCli, ...(login ? ['--user', user] : []), '-h', host, '-p', port, ...args], {
      timeout: 5000,
      env: { ...process.env, ...(login ? { REDISCLI_AUTH: password } : {}) },
    });
    return stdout.trim();
  };
  const stop = async () => {
    for (const { child } of procs.values()) child.kill('SIGTERM');
    await Promise.all([...procs.values()].map((p) => p.exited));
    rmSync(dir, { recursive: true, force: true });
  };

  const primary = `127.0.0.1:${await freePort()}`;
  const replica = `127.0.0.1:${await freePort()}`;
  const sentinels = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
  const port = (a: string) => Number(a.split(':')[1]);
  const data = ['appendonly yes', 'appendfsync everysec', 'save ""', ...login];
  try {
    start('primary', primary, [...listen(port(primary)), ...data], false);
    start('replica', replica, [...listen(port(replica)), ...data, `replicaof 127.0.0.1 ${port(primary)}`], false);
    for (const [i, s] of sentinels.entries())
      start(
        `sentinel-${i}`,
        s,
        [
          ...listen(port(s)),
          `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${port(primary)} 2`,
          ...(user && password ? [`sentinel auth-user ${SENTINEL_NAME} ${user}`, `sentinel auth-pass ${SENTINEL_NAME} ${password}`] : []),
          `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
          `sentinel failover-timeout ${SENTINEL_NAME} 10000`,
        ],
        true,
      );
    // Ready: the replica in sync, and every Sentinel knowing the replica and the two other Sentinels.
    await eventually(
      'the replica in sync with the primary',
      async () => ((await cli(replica, 'info', 'replication')).includes('master_link_status:up') ? true : undefined),
      30_000,
      100,
    );
    for (const s of sentinels)
      await eventually(
        `Sentinel ${s} to know the replica and the other Sentinels`,
        async () => {
          const ck = await cli(s, 'sentinel', 'ckquorum', SENTINEL_NAME);
          const replicas = await cli(s, 'sentinel', 'replicas', SENTINEL_NAME);
          return ck.includes('3 usable Sentinels') && replicas.includes(String(port(replica))) ? true : undefined;
        },
        30_000,
        100,
      );
  } catch (err) {
    await stop();
    throw new Error(`could not start Redis with a replica and three Sentinels (${HOW}): ${(err as Error).message}`);
  }
  return {
    env: {
      // Sentinel mode takes the scheme (TLS) and credentials from REDIS_URL; the primary's address from the Sentinels.
      REDIS_URL: `${ca ? 'rediss' : 'redis'}://${primary}`,
      REDIS_MODE: 'sentinel',
      REDIS_SENTINELS: sentinels.join(','),
      REDIS_SENTINEL_NAME: SENTINEL_NAME,
    },
    async primary() {
      const [host, p] = (await cli(sentinels[0]!, 'sentinel', 'get-master-addr-by-name', SENTINEL_NAME)).split('\n');
      return `${host}:${p}`;
    },
    async kill(address) {
      const p = procs.get(address);
      if (!p) throw new Error(`${address} is not a node of this topology`);
      p.child.kill('SIGKILL');
      await p.exited;
    },
    info: (address, section) => cli(address, 'info', section),
    stop,
  };
}
