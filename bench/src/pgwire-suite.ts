// The PostgreSQL wire door under pgbench: the same point-query script through the gateway (two
// replicas this run starts, one per audit durability mode, with a rate limit pgbench cannot
// exhaust), directly against PostgreSQL as the same upstream role, and through pgbouncer
// (transaction pooling, started here), at 1, 8 and 32 clients. Two scripts: no masked column, and
// the same with one masked column (etl-pipeline's `phone`, partial). Extended protocol (what
// drivers use) for everything; simple protocol too for the no-mask script in `async` mode.
// Latency percentiles come from pgbench's per-transaction logs (-l --sampling-rate), gateway and
// pgbouncer CPU from /proc/<pid>/stat. Every figure is a ratio to a baseline of the same run.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { demoToken, eventually, freePort, need } from '@phigate/testkit';
import { type CopyBench, copyBench } from './copy-suite.js';
import { eventLoopWindow } from './event-loop.js';
import { cpuUs, DURABILITIES, type Durability, type Replica, stackPids, tempDir, track } from './processes.js';
import { ratio, round1, type Tail, tail } from './stats.js';

const run = promisify(execFile);

const ROLE = 'clinical_reader';
const SCRIPTS = {
  plain: '\\set id random(1, 10000)\nSELECT id, first_name, last_name, zip FROM patients WHERE id = :id;\n',
  masked: '\\set id random(1, 10000)\nSELECT id, first_name, last_name, zip, phone FROM patients WHERE id = :id;\n',
} as const;
type Script = keyof typeof SCRIPTS;
type Protocol = 'simple' | 'extended';
type TargetName = 'direct' | 'pgbouncer' | Durability;
const CLIENTS = [1, 8, 32] as const;

/** One pgbench run (or the merge of several passes of it). */
export interface PgbenchRun extends Tail {
  script: Script;
  protocol: Protocol;
  clients: number;
  target: TargetName;
  tps: number;
  failed: number;
  /** CPU of the process behind the target (gateway replica or pgbouncer) per transaction. */
  cpuUsPerTx?: number;
  /** A gateway replica's event-loop delay p99 during the run (the worst pass), in ms. */
  eventLoopP99Ms?: number;
  /**
   * Through a gateway: CPU per transaction of every process the statement costs (the replica as
   * `gateway`, the stack's policy, masking, audit service and Kafka) and their `total`, in µs.
   */
  systemCpuUsPerTx?: Record<string, number>;
}

/** A gateway run next to the baselines of the same script, protocol and concurrency. */
export interface PgwireComparison {
  script: Script;
  protocol: Protocol;
  clients: number;
  durability: Durability;
  tps: number;
  vsDirect: number;
  vsPgbouncer: number;
  addedP50Us: number;
  addedP99Us: number;
  p999Us: number;
  p999VsDirect: number;
  cpuUsPerTx: number | undefined;
  eventLoopP99Ms: number | undefined;
  systemCpuUsPerTx: Record<string, number> | undefined;
}

export interface PgwireBench {
  seconds: number;
  passes: number;
  samplingRate: number;
  scripts: typeof SCRIPTS;
  runs: PgbenchRun[];
  comparisons: PgwireComparison[];
  /** pgbench runs that failed and were run again (the shared stack changed under them). */
  retriedRuns: number;
  /** Gateway CPU per query over every extended no-mask run of each mode. */
  cpuUsPerQuery: Record<Durability, number>;
  /** COPY … TO STDOUT of 100,000 rows through the same targets. */
  copy: CopyBench;
}

/** Where pgbench connects, and the processes whose CPU a run is charged. */
export interface Endpoint {
  conninfo: string;
  env: Record<string, string>;
  pid?: number;
  /** A phigate service's HTTP address (its /metrics), for the event-loop delay during the run. */
  httpUrl?: string;
  /** The other processes a statement through this endpoint costs (a gateway's: stackPids()). */
  alsoPids?: Record<string, number>;
}

interface Raw {
  tps: number[];
  failed: number;
  latencies: number[];
  cpuUs: number;
  tx: number;
  eventLoopP99Ms?: number;
  /** CPU µs of each process beside the endpoint's own, summed over passes. */
  alsoCpuUs?: Record<string, number>;
}

/** pgbouncer in transaction mode in front of the demo upstream, as the gateway's login switched to the same role. */
async function startPgbouncer(dir: string, upstream: URL): Promise<{ port: number; pid: number }> {
  const port = await freePort();
  const pidfile = join(dir, 'pgbouncer.pid');
  const ini = [
    '[databases]',
    `clinical = host=${upstream.hostname} port=${upstream.port || 5432} dbname=${upstream.pathname.slice(1)} user=${decodeURIComponent(upstream.username)} password=${decodeURIComponent(upstream.password)} connect_query='SET ROLE ${ROLE}'`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'auth_type = any',
    'pool_mode = transaction',
    'default_pool_size = 10',
    'max_client_conn = 200',
    `unix_socket_dir = ${dir}`,
    `pidfile = ${pidfile}`,
    `logfile = ${join(dir, 'pgbouncer.log')}`,
    '',
  ].join('\n');
  const file = join(dir, 'pgbouncer.ini');
  writeFileSync(file, ini, { mode: 0o644 });
  chmodSync(dir, 0o777);
  // pgbouncer refuses to run as root: run it as the OS user the local PostgreSQL runs as.
  const asRoot = process.getuid?.() === 0;
  const child = asRoot ? spawn('runuser', ['-u', 'postgres', '--', 'pgbouncer', file], { stdio: 'ignore' }) : spawn('pgbouncer', [file], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  track(`pgbouncer (port ${port})`, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  await eventually(
    `pgbouncer on port ${port}`,
    async () => {
      if (child.exitCode !== null) throw new Error(`pgbouncer exited with ${child.exitCode} (see ${join(dir, 'pgbouncer.log')})`);
      await run('pg_isready', ['-q', '-h', '127.0.0.1', '-p', String(port), '-d', 'clinical']);
      return true;
    },
    15_000,
    200,
  );
  return { port, pid: Number(readFileSync(pidfile, 'utf8').trim()) };
}

/** One pgbench run; latencies from its per-transaction log (sampled), CPU of `endpoint.pid` around it. */
export async function pgbench(endpoint: Endpoint, script: string, protocol: Protocol, clients: number, seconds: number, dir: string, samplingRate: number) {
  const prefix = `log-${Date.now().toString(36)}`;
  const args = ['-n', '-M', protocol, '-c', String(clients), '-j', String(Math.min(clients, 8)), '-T', String(seconds)];
  args.push('-l', `--sampling-rate=${samplingRate}`, `--log-prefix=${join(dir, prefix)}`, '-f', script, endpoint.conninfo);
  const loop = endpoint.httpUrl ? await eventLoopWindow(endpoint.httpUrl) : undefined;
  const also = Object.entries(endpoint.alsoPids ?? {});
  const also0 = also.map(([, pid]) => cpuUs(pid));
  const cpu0 = endpoint.pid ? cpuUs(endpoint.pid) : 0;
  const { stdout } = await run('pgbench', args, { env: { ...process.env, ...endpoint.env }, maxBuffer: 1 << 22, cwd: dir });
  const cpu = endpoint.pid ? cpuUs(endpoint.pid) - cpu0 : 0;
  const alsoCpuUs = Object.fromEntries(also.map(([name, pid], i) => [name, cpuUs(pid) - also0[i]!]));
  const eventLoopP99Ms = await loop?.();
  const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? Number.NaN);
  const tps = num(/tps = ([\d.]+)/);
  const tx = num(/number of transactions actually processed: (\d+)/);
  if (!(tps > 0)) throw new Error(`pgbench produced no throughput against ${endpoint.conninfo}:\n${stdout}`);
  // Log lines: client_id transaction_no time(µs) script_no time_epoch time_us
  const latencies: number[] = [];
  for (const f of readdirSync(dir).filter((n) => n.startsWith(`${prefix}.`))) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const us = Number(line.split(' ')[2]);
      if (us > 0) latencies.push(us);
    }
    rmSync(join(dir, f));
  }
  return { tps, tx, failed: num(/number of failed transactions: (\d+)/) || 0, latencies, cpuUs: cpu, eventLoopP99Ms, alsoCpuUs };
}

interface Planned {
  script: Script;
  protocol: Protocol;
  clients: number;
  target: TargetName;
}

/** The runs: per concurrency, each script through every target in turn (so drift hits them alike). */
function plan(simple: boolean): Planned[] {
  const out: Planned[] = [];
  for (const clients of CLIENTS) {
    for (const script of ['plain', 'masked'] as const)
      for (const target of ['direct', 'pgbouncer', ...DURABILITIES] as const) out.push({ script, protocol: 'extended', clients, target });
    if (simple) for (const target of ['direct', 'pgbouncer', 'async'] as const) out.push({ script: 'plain', protocol: 'simple', clients, target });
  }
  return out;
}

export async function pgwireBench(
  replicas: Record<Durability, Replica>,
  settle: () => Promise<void>,
  seconds = Number(process.env.BENCH_PGBENCH_SECONDS ?? 3),
  passes = Number(process.env.BENCH_PGWIRE_PASSES ?? 1),
  samplingRate = Number(process.env.BENCH_PGBENCH_SAMPLING ?? 0.5),
): Promise<PgwireBench> {
  const dir = tempDir('pgwire-bench-');
  chmodSync(dir.path, 0o777);
  const scriptFile = (s: Script) => join(dir.path, `${s}.sql`);
  for (const [name, text] of Object.entries(SCRIPTS)) writeFileSync(scriptFile(name as Script), text, { mode: 0o644 });
  const upstream = new URL(need('CLINICAL_PG_GATEWAY_URL'));
  const token = await demoToken('etl-pipeline');
  const bouncer = await startPgbouncer(dir.path, upstream);
  const gateway = (r: Replica): Endpoint => ({
    conninfo: `host=127.0.0.1 port=${r.pgPort} dbname=clinical-pg user=etl-pipeline sslmode=disable`,
    env: { PGPASSWORD: token },
    pid: r.pid,
    httpUrl: r.httpUrl,
    alsoPids: stackPids(),
  });
  const endpoints: Record<TargetName, Endpoint> = {
    direct: {
      conninfo: `host=${upstream.hostname} port=${upstream.port || 5432} dbname=${upstream.pathname.slice(1)} user=${decodeURIComponent(upstream.username)} sslmode=disable`,
      env: { PGPASSWORD: decodeURIComponent(upstream.password), PGOPTIONS: `-c role=${ROLE}` },
    },
    pgbouncer: { conninfo: `host=127.0.0.1 port=${bouncer.port} dbname=clinical user=bench sslmode=disable`, env: {}, pid: bouncer.pid },
    async: gateway(replicas.async),
    'before-release': gateway(replicas['before-release']),
  };
  // Warm-up: JIT, pools and the decision cache of both replicas (one decision per script).
  for (const d of DURABILITIES) for (const s of ['plain', 'masked'] as const) await pgbench(endpoints[d], scriptFile(s), 'extended', 8, 1, dir.path, 0.01);

  const planned = plan(process.env.BENCH_PGWIRE_SIMPLE !== '0');
  const raw = new Map<string, Raw>();
  const key = (p: Planned) => `${p.script}|${p.protocol}|${p.clients}|${p.target}`;
  for (let pass = 0; pass < passes; pass++) {
    // The second pass runs the targets of each group in reverse order.
    const order = pass % 2 === 0 ? planned : reverseWithinGroups(planned);
    for (const p of order) {
      await settle();
      const r = await withRetry(() => pgbench(endpoints[p.target], scriptFile(p.script), p.protocol, p.clients, seconds, dir.path, samplingRate));
      const acc = raw.get(key(p)) ?? { tps: [], failed: 0, latencies: [], cpuUs: 0, tx: 0 };
      acc.tps.push(r.tps);
      acc.failed += r.failed;
      acc.cpuUs += r.cpuUs;
      acc.tx += r.tx;
      if (r.eventLoopP99Ms !== undefined) acc.eventLoopP99Ms = Math.max(acc.eventLoopP99Ms ?? 0, r.eventLoopP99Ms);
      if (Object.keys(r.alsoCpuUs).length) {
        acc.alsoCpuUs ??= {};
        for (const [name, us] of Object.entries(r.alsoCpuUs)) acc.alsoCpuUs[name] = (acc.alsoCpuUs[name] ?? 0) + us;
      }
      for (const l of r.latencies) acc.latencies.push(l);
      raw.set(key(p), acc);
    }
  }

  const runs: PgbenchRun[] = planned.map((p) => {
    const r = raw.get(key(p))!;
    return {
      ...p,
      tps: Math.round(r.tps.reduce((a, b) => a + b, 0) / r.tps.length),
      failed: r.failed,
      ...tail(r.latencies),
      ...(endpoints[p.target].pid ? { cpuUsPerTx: round1(r.cpuUs / r.tx) } : {}),
      ...(r.eventLoopP99Ms !== undefined ? { eventLoopP99Ms: r.eventLoopP99Ms } : {}),
      ...(r.alsoCpuUs ? { systemCpuUsPerTx: systemCpu(r.cpuUs, r.alsoCpuUs, r.tx) } : {}),
    };
  });
  const find = (p: Omit<Planned, 'target'>, target: TargetName) =>
    runs.find((r) => r.script === p.script && r.protocol === p.protocol && r.clients === p.clients && r.target === target)!;
  const comparisons: PgwireComparison[] = runs
    .filter((r): r is PgbenchRun & { target: Durability } => DURABILITIES.includes(r.target as Durability))
    .map((g) => {
      const direct = find(g, 'direct');
      const bouncer = find(g, 'pgbouncer');
      return {
        script: g.script,
        protocol: g.protocol,
        clients: g.clients,
        durability: g.target,
        tps: g.tps,
        vsDirect: ratio(g.tps, direct.tps),
        vsPgbouncer: ratio(g.tps, bouncer.tps),
        addedP50Us: round1(g.p50Us - direct.p50Us),
        addedP99Us: round1(g.p99Us - direct.p99Us),
        p999Us: g.p999Us,
        p999VsDirect: ratio(g.p999Us, direct.p999Us),
        cpuUsPerTx: g.cpuUsPerTx,
        eventLoopP99Ms: g.eventLoopP99Ms,
        systemCpuUsPerTx: g.systemCpuUsPerTx,
      };
    });
  const cpuUsPerQuery = Object.fromEntries(
    DURABILITIES.map((d) => {
      const keys = planned.filter((p) => p.target === d && p.script === 'plain' && p.protocol === 'extended').map(key);
      const sum = keys.reduce((a, k) => ({ cpu: a.cpu + raw.get(k)!.cpuUs, tx: a.tx + raw.get(k)!.tx }), { cpu: 0, tx: 0 });
      return [d, round1(sum.cpu / sum.tx)];
    }),
  ) as Record<Durability, number>;
  printPgwire({ seconds, passes, samplingRate, runs, comparisons });
  const copy = await copyBench(endpoints, settle);
  await dir.remove();
  return { seconds, passes, samplingRate, retriedRuns: retried, scripts: SCRIPTS, runs, comparisons, cpuUsPerQuery, copy };
}

/** Per transaction: the gateway's CPU, each other process's, and the total, in µs. */
function systemCpu(gatewayUs: number, alsoUs: Record<string, number>, tx: number): Record<string, number> {
  const per: Record<string, number> = { gateway: round1(gatewayUs / tx) };
  for (const [name, us] of Object.entries(alsoUs)) per[name] = round1(us / tx);
  per.total = round1(Object.values(per).reduce((a, b) => a + b, 0));
  return per;
}

let retried = 0;

/** The stack is shared (tests may change bindings or restart services meanwhile): a failed run is retried twice, and counted. */
async function withRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 2) throw err;
      retried++;
      console.error(`pgbench failed, retrying in 2 s: ${String((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

function reverseWithinGroups(planned: Planned[]): Planned[] {
  const groups = new Map<string, Planned[]>();
  for (const p of planned) {
    const g = `${p.script}|${p.protocol}|${p.clients}`;
    groups.set(g, [...(groups.get(g) ?? []), p]);
  }
  return [...groups.values()].flatMap((g) => g.reverse());
}

function printPgwire(r: Pick<PgwireBench, 'seconds' | 'passes' | 'samplingRate' | 'runs' | 'comparisons'>): void {
  console.log(
    `\nPostgreSQL door (pgbench ${r.seconds} s × ${r.passes} pass(es); latency from per-transaction logs, sampling ${r.samplingRate}; CPU per tx from /proc)`,
  );
  const head = [
    'script',
    'proto',
    'cl',
    'target',
    'tps',
    'p50 µs',
    'p99 µs',
    'p99.9 µs',
    'CPU µs/tx',
    '×direct',
    '×pgbouncer',
    '+p50 µs',
    '+p99 µs',
    'p99.9×',
    'loop p99 ms',
  ];
  const widths = [7, 9, 3, 15, 7, 8, 8, 9, 10, 8, 11, 8, 8, 7, 12];
  const line = (cells: Array<string | number | undefined>) => cells.map((c, i) => String(c ?? '').padStart(widths[i]!)).join(' ');
  console.log(line(head));
  for (const run of r.runs) {
    const c = r.comparisons.find((x) => x.script === run.script && x.protocol === run.protocol && x.clients === run.clients && x.durability === run.target);
    console.log(
      line([
        run.script,
        run.protocol,
        run.clients,
        run.target,
        run.tps,
        run.p50Us,
        run.p99Us,
        run.p999Us,
        run.cpuUsPerTx,
        c?.vsDirect,
        c?.vsPgbouncer,
        c?.addedP50Us,
        c?.addedP99Us,
        c?.p999VsDirect,
        run.eventLoopP99Ms,
      ]),
    );
  }
  console.log('\nCPU per transaction through a gateway, every process it costs (µs)');
  for (const run of r.runs.filter((x) => x.systemCpuUsPerTx))
    console.log(
      `  ${run.script.padEnd(7)} ${run.protocol.padEnd(9)} ${String(run.clients).padStart(3)} ${run.target.padEnd(15)} ${Object.entries(run.systemCpuUsPerTx!)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
}
