// The PostgreSQL wire door under pgbench: the same point-query script through the gateway (a replica
// this suite starts, with a rate limit pgbench cannot exhaust), directly against PostgreSQL as the
// same upstream role, and through pgbouncer (transaction pooling, started here), at 1, 8 and 32
// clients in simple and extended mode. Figures are ratios to the baselines measured in the same run.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { demoToken, eventually, freePort, need, spawnApp } from '@phigate/testkit';

const run = promisify(execFile);

export interface PgbenchFigure {
  tps: number;
  latencyMs: number;
  failed: number;
}

export interface PgwireBench {
  seconds: number;
  script: string;
  /** mode → clients → target figures and ratios. */
  runs: Array<{
    mode: 'simple' | 'extended';
    clients: number;
    direct: PgbenchFigure;
    pgbouncer: PgbenchFigure;
    gateway: PgbenchFigure;
    /** Gateway throughput as a fraction of each baseline's. */
    gatewayVsDirect: number;
    gatewayVsPgbouncer: number;
    pgbouncerVsDirect: number;
  }>;
}

const SCRIPT = '\\set id random(1, 10000)\nSELECT id, first_name, last_name, zip FROM patients WHERE id = :id;\n';
const ROLE = 'clinical_reader';

async function pgbench(conninfo: string, env: Record<string, string>, mode: string, clients: number, seconds: number, script: string): Promise<PgbenchFigure> {
  const args = ['-n', '-M', mode, '-c', String(clients), '-j', String(Math.min(clients, 8)), '-T', String(seconds), '-f', script, conninfo];
  const { stdout } = await run('pgbench', args, { env: { ...process.env, ...env }, maxBuffer: 1 << 22 });
  const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? Number.NaN);
  const figure = {
    tps: Math.round(num(/tps = ([\d.]+)/)),
    latencyMs: Math.round(num(/latency average = ([\d.]+) ms/) * 100) / 100,
    failed: num(/number of failed transactions: (\d+)/) || 0,
  };
  if (!(figure.tps > 0)) throw new Error(`pgbench produced no throughput against ${conninfo.replace(/password=\S+/, '')}:\n${stdout}`);
  return figure;
}

/** pgbouncer in transaction mode in front of the demo upstream, as the gateway's login switched to the same role. */
async function startPgbouncer(dir: string, upstream: URL): Promise<{ port: number; stop: () => void }> {
  const port = await freePort();
  const password = decodeURIComponent(upstream.password);
  const ini = [
    '[databases]',
    `clinical = host=${upstream.hostname} port=${upstream.port || 5432} dbname=${upstream.pathname.slice(1)} user=${decodeURIComponent(upstream.username)} password=${password} connect_query='SET ROLE ${ROLE}'`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'auth_type = any',
    'pool_mode = transaction',
    'default_pool_size = 10',
    'max_client_conn = 200',
    `unix_socket_dir = ${dir}`,
    `logfile = ${join(dir, 'pgbouncer.log')}`,
    '',
  ].join('\n');
  const file = join(dir, 'pgbouncer.ini');
  writeFileSync(file, ini, { mode: 0o644 });
  chmodSync(dir, 0o777);
  // pgbouncer refuses to run as root: run it as the OS user the local PostgreSQL runs as.
  const asRoot = process.getuid?.() === 0;
  const child = asRoot ? spawn('runuser', ['-u', 'postgres', '--', 'pgbouncer', file], { stdio: 'ignore' }) : spawn('pgbouncer', [file], { stdio: 'ignore' });
  await eventually(
    `pgbouncer on port ${port}`,
    async () => {
      if (child.exitCode !== null) throw new Error(`pgbouncer exited with ${child.exitCode} (see ${join(dir, 'pgbouncer.log')})`);
      return (await run('pg_isready', ['-h', '127.0.0.1', '-p', String(port), '-d', 'clinical']).then(
        () => true,
        () => undefined,
      )) as true | undefined;
    },
    15_000,
    200,
  );
  return { port, stop: () => child.kill('SIGTERM') };
}

export async function pgwireBench(seconds = Number(process.env.BENCH_PGBENCH_SECONDS ?? 5)): Promise<PgwireBench> {
  const dir = mkdtempSync(join(tmpdir(), 'pgwire-bench-'));
  const script = join(dir, 'point.sql');
  writeFileSync(script, SCRIPT, { mode: 0o644 });
  const upstream = new URL(need('CLINICAL_PG_GATEWAY_URL'));
  const token = await demoToken('etl-pipeline');

  const http = await freePort();
  const pgPort = await freePort();
  const gateway = await spawnApp('gateway', 'services/gateway/dist/src/main.js', http, {
    GATEWAY_HTTP_PORT: String(http),
    GATEWAY_PG_PORT: String(pgPort),
    GATEWAY_RATE_LIMIT_PER_MINUTE: '100000000',
    GATEWAY_REPLICA_ID: `bench-pgwire-${http}`,
  });
  const bouncer = await startPgbouncer(dir, upstream);
  try {
    const targets = {
      direct: {
        conninfo: `host=${upstream.hostname} port=${upstream.port || 5432} dbname=${upstream.pathname.slice(1)} user=${decodeURIComponent(upstream.username)} sslmode=disable`,
        env: { PGPASSWORD: decodeURIComponent(upstream.password), PGOPTIONS: `-c role=${ROLE}` },
      },
      pgbouncer: { conninfo: `host=127.0.0.1 port=${bouncer.port} dbname=clinical user=bench sslmode=disable`, env: {} },
      gateway: { conninfo: `host=127.0.0.1 port=${pgPort} dbname=clinical-pg user=etl-pipeline sslmode=disable`, env: { PGPASSWORD: token } },
    };
    const runs: PgwireBench['runs'] = [];
    for (const mode of ['simple', 'extended'] as const) {
      for (const clients of [1, 8, 32]) {
        const direct = await pgbench(targets.direct.conninfo, targets.direct.env, mode, clients, seconds, script);
        const pgbouncer = await pgbench(targets.pgbouncer.conninfo, targets.pgbouncer.env, mode, clients, seconds, script);
        const gw = await pgbench(targets.gateway.conninfo, targets.gateway.env, mode, clients, seconds, script);
        const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
        runs.push({
          mode,
          clients,
          direct,
          pgbouncer,
          gateway: gw,
          gatewayVsDirect: ratio(gw.tps, direct.tps),
          gatewayVsPgbouncer: ratio(gw.tps, pgbouncer.tps),
          pgbouncerVsDirect: ratio(pgbouncer.tps, direct.tps),
        });
        console.log(
          `pgbench -M ${mode.padEnd(8)} ${String(clients).padStart(2)} clients   direct ${String(direct.tps).padStart(6)} tps   pgbouncer ${String(pgbouncer.tps).padStart(6)} tps   gateway ${String(gw.tps).padStart(6)} tps (${ratio(gw.tps, direct.tps)}× direct, ${ratio(gw.tps, pgbouncer.tps)}× pgbouncer; ${gw.latencyMs} ms avg)`,
        );
      }
    }
    return { seconds, script: SCRIPT, runs };
  } finally {
    bouncer.stop();
    await gateway.kill('SIGTERM');
    execFileSync('rm', ['-rf', dir]);
  }
}
