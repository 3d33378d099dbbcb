// Every process the bench starts (gateway replicas, pgbouncer, an audit service) registers how to
// stop it here, so run.ts stops all of them on success, on a failure and on SIGINT/SIGTERM.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, REPO_ROOT, type SpawnedApp, spawnApp } from '@phigate/testkit';

const stops = new Map<number, { name: string; stop: () => Promise<void> | void }>();
let nextId = 0;

/** Registers `stop` for run.ts's final cleanup; the returned function runs it once and unregisters it. */
export function track(name: string, stop: () => Promise<void> | void): () => Promise<void> {
  const id = nextId++;
  stops.set(id, { name, stop });
  return async () => {
    if (!stops.delete(id)) return;
    await stop();
  };
}

/** Stops everything still registered, newest first; failures are reported, not thrown. */
export async function stopAll(): Promise<void> {
  for (const [id, { name, stop }] of [...stops.entries()].reverse()) {
    stops.delete(id);
    try {
      await Promise.race([stop(), new Promise((r) => setTimeout(r, 10_000))]);
    } catch (err) {
      console.error(`bench: stopping ${name} failed: ${(err as Error).message}`);
    }
  }
}

/** On SIGINT/SIGTERM/SIGHUP: stop every tracked process, then exit. */
export function stopAllOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`\nbench: ${signal}, stopping the processes it started`);
      void stopAll().finally(() => process.exit(130));
    });
  }
}

/** A temporary directory removed by the cleanup (or by `remove`). */
export function tempDir(prefix: string): { path: string; remove: () => Promise<void> } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: track(`temporary directory ${path}`, () => rmSync(path, { recursive: true, force: true })) };
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system, all threads) a process has used so far, in µs, from /proc/<pid>/stat. */
export function cpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command name: field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
  return ((Number(fields[11]) + Number(fields[12])) / CLK_TCK) * 1e6;
}

/**
 * CPU time all of PostgreSQL has used so far, in µs: every postgres process (user + system) plus
 * what its exited children used (cutime + cstime, which the postmaster collects as it reaps
 * them). The difference of two readings is what PostgreSQL spent between them, backends that came
 * and went included.
 */
export function postgresCpuUs(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (name !== 'postgres' && !name.startsWith('postgres:')) continue;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // gone meanwhile: its time is in its parent's cutime now
    }
  }
  return (ticks / CLK_TCK) * 1e6;
}

/** The machine's busy and total CPU time so far (all cores), in µs, from /proc/stat. */
export function machineCpuUs(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  // idle and iowait are not busy
  const busy = total - (cpu[3] ?? 0) - (cpu[4] ?? 0);
  return { busy: (busy / CLK_TCK) * 1e6, total: (total / CLK_TCK) * 1e6 };
}

/**
 * The stack's processes a statement through a gateway replica also costs (policy, masking, the
 * audit service that stores its events, Kafka), by name, from their pid files; those not running
 * are left out.
 */
export function stackPids(): Record<string, number> {
  const home = process.env.PHIGATE_HOME ?? join(REPO_ROOT, '.phigate');
  const out: Record<string, number> = {};
  for (const [name, file] of [
    ['policy', 'run/apps/policy.pid'],
    ['masking', 'run/apps/masking.pid'],
    ['audit', 'run/apps/audit.pid'],
    ['kafka', 'run/kafka.pid'],
  ] as const) {
    try {
      const pid = Number(readFileSync(join(home, file), 'utf8').trim());
      if (pid > 0) {
        cpuUs(pid);
        out[name] = pid;
      }
    } catch {
      // not running: not counted
    }
  }
  return out;
}

/** A gateway replica started by the bench, in one audit durability mode. */
export interface Replica {
  durability: Durability;
  httpUrl: string;
  httpPort: number;
  pgPort: number;
  pid: number;
}

export type Durability = 'async' | 'before-release';
export const DURABILITIES: readonly Durability[] = ['async', 'before-release'];

/**
 * One gateway replica per audit durability mode, each with its own ports, its own audit outbox
 * (an outbox directory is never shared between replicas) and a rate limit the load cannot exhaust.
 */
export async function startReplicas(): Promise<Record<Durability, Replica>> {
  const out: Partial<Record<Durability, Replica>> = {};
  for (const durability of DURABILITIES) {
    const httpPort = await freePort();
    const pgPort = await freePort();
    const outbox = tempDir(`bench-outbox-${durability}-`);
    const app: SpawnedApp = await spawnApp('gateway', 'services/gateway/dist/src/main.js', httpPort, {
      GATEWAY_HTTP_PORT: String(httpPort),
      GATEWAY_PG_PORT: String(pgPort),
      GATEWAY_RATE_LIMIT_PER_MINUTE: '100000000',
      // Its own budgets: the bench's load must not spend the demo identities' budgets on the stack.
      GATEWAY_RATE_LIMIT_KEY_PREFIX: `phigate:rl:bench-${durability}-${httpPort}:`,
      GATEWAY_AUDIT_DURABILITY: durability,
      GATEWAY_AUDIT_OUTBOX_DIR: outbox.path,
      GATEWAY_REPLICA_ID: `bench-${durability}-${httpPort}`,
      // The product's default (the dev stack watches every statement): what a deployment pays.
      GATEWAY_CANARY_REPORT_SAMPLE: '0.1',
    });
    track(`gateway replica (${durability}, pid ${app.pid})`, () => app.kill('SIGTERM'));
    out[durability] = { durability, httpUrl: app.url, httpPort, pgPort, pid: app.pid };
  }
  return out as Record<Durability, Replica>;
}
