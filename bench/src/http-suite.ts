// The HTTP door: the no-mask point statement as POST /v1/query (keep-alive connections, one per
// client) on each durability replica, against two baselines of the same run at 1, 8 and 32
// closed-loop clients: the statement sent directly to PostgreSQL with node-postgres (the gateway's
// own upstream client library) as the same upstream role, and the same POST to a bare fastify
// endpoint in its own process that runs it through node-postgres and answers JSON (the fair
// baseline: HTTP and JSON cost the same there). Throughput ratios and added p50/p99.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { demoToken, need } from '@phigate/testkit';
import pg from 'pg';
import { DURABILITIES, type Durability, type Replica, track } from './processes.js';
import { closedLoop, type LoopFigure, ratio, round1 } from './stats.js';

const SQL = 'SELECT id, first_name, last_name, zip FROM patients WHERE id = $1';
const ROLE = 'clinical_reader';
const CLIENTS = [1, 8, 32];

export interface DoorComparison {
  clients: number;
  durability: Durability;
  tps: number;
  vsDirect: number;
  addedP50Us: number;
  addedP99Us: number;
  /** Against the bare fastify endpoint (HTTP door only). */
  vsBareHttp?: number;
  addedP50UsVsBareHttp?: number;
}

export interface DoorBench {
  statement: string;
  seconds: number;
  direct: LoopFigure[];
  /** The bare fastify + node-postgres endpoint (HTTP door only). */
  bareHttp?: LoopFigure[];
  gateway: Array<LoopFigure & { durability: Durability }>;
  comparisons: DoorComparison[];
}

/** The bare fastify endpoint (bare-http-server.ts) in its own process; resolves with its URL. */
async function startBareHttp(): Promise<{ url: URL; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./bare-http-server.js', import.meta.url))], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, DATABASE_URL: need('CLINICAL_PG_GATEWAY_URL'), ROLE },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = track('bare fastify endpoint', async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    child.once('exit', (code) => reject(new Error(`the bare fastify endpoint exited with ${code}`)));
  });
  return { url: new URL(`http://127.0.0.1:${port}/v1/query`), stop };
}

const randomId = () => 1 + Math.floor(Math.random() * 10_000);

/** POST a JSON body on a keep-alive agent; resolves with the status once the body is read. */
function postJson(agent: Agent, url: URL, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Gateway runs beside direct runs of the same concurrency, as ratios and added latency. */
export function compareDoor(direct: LoopFigure[], gateway: Array<LoopFigure & { durability: Durability }>): DoorComparison[] {
  return gateway.map((g) => {
    const d = direct.find((x) => x.clients === g.clients)!;
    return {
      clients: g.clients,
      durability: g.durability,
      tps: g.tps,
      vsDirect: ratio(g.tps, d.tps),
      addedP50Us: round1(g.p50Us - d.p50Us),
      addedP99Us: round1(g.p99Us - d.p99Us),
    };
  });
}

export async function httpBench(
  replicas: Record<Durability, Replica>,
  settle: () => Promise<void>,
  seconds = Number(process.env.BENCH_DOOR_SECONDS ?? 3),
): Promise<DoorBench> {
  const token = await demoToken('etl-pipeline');
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  const direct: LoopFigure[] = [];
  const bareHttp: LoopFigure[] = [];
  const gateway: DoorBench['gateway'] = [];
  const bare = await startBareHttp();
  const post = (agent: Agent, url: URL) => async () => {
    const status = await postJson(agent, url, headers, JSON.stringify({ connection: 'clinical-pg', sql: SQL, params: [randomId()] }));
    if (status !== 200) throw new Error(`${url.host} answered ${status}`);
  };
  for (const clients of CLIENTS) {
    const pool = new pg.Pool({ connectionString: need('CLINICAL_PG_GATEWAY_URL'), max: clients, options: `-c role=${ROLE}` });
    try {
      await settle();
      direct.push(await closedLoop(clients, seconds, 0.5, () => pool.query(SQL, [randomId()])));
    } finally {
      await pool.end();
    }
    const bareAgent = new Agent({ keepAlive: true, maxSockets: clients });
    try {
      await settle();
      bareHttp.push(await closedLoop(clients, seconds, 0.5, post(bareAgent, bare.url)));
    } finally {
      bareAgent.destroy();
    }
    for (const durability of DURABILITIES) {
      const agent = new Agent({ keepAlive: true, maxSockets: clients });
      const url = new URL('/v1/query', replicas[durability].httpUrl);
      try {
        await settle();
        const figure = await closedLoop(clients, seconds, 0.5, post(agent, url));
        gateway.push({ ...figure, durability });
      } finally {
        agent.destroy();
      }
    }
  }
  await bare.stop();
  const comparisons = compareDoor(direct, gateway).map((c) => {
    const b = bareHttp.find((x) => x.clients === c.clients)!;
    const g = gateway.find((x) => x.clients === c.clients && x.durability === c.durability)!;
    return { ...c, vsBareHttp: ratio(g.tps, b.tps), addedP50UsVsBareHttp: round1(g.p50Us - b.p50Us) };
  });
  const result = { statement: SQL, seconds, direct, bareHttp, gateway, comparisons };
  printDoor('HTTP door (POST /v1/query, keep-alive) vs node-postgres directly and a bare fastify endpoint', result);
  return result;
}

/** Prints a door's direct and gateway rows side by side. */
export function printDoor(title: string, r: DoorBench): void {
  console.log(`\n${title} (${r.seconds} s per run, closed loop)`);
  const n = (x: number | string, w = 8) => String(x).padStart(w);
  console.log(
    `${'cl'.padStart(3)} ${'target'.padEnd(15)} ${n('tps')} ${n('p50 µs')} ${n('p99 µs')} ${n('p99.9 µs', 9)} ${n('×direct')} ${n('+p50 µs')} ${n('+p99 µs')} ${n('×bare', 7)}`,
  );
  for (const d of r.direct) {
    console.log(`${n(d.clients, 3)} ${'direct'.padEnd(15)} ${n(d.tps)} ${n(d.p50Us)} ${n(d.p99Us)} ${n(d.p999Us, 9)}`);
    const b = r.bareHttp?.find((x) => x.clients === d.clients);
    if (b) console.log(`${n(b.clients, 3)} ${'bare fastify'.padEnd(15)} ${n(b.tps)} ${n(b.p50Us)} ${n(b.p99Us)} ${n(b.p999Us, 9)}`);
    for (const c of r.comparisons.filter((x) => x.clients === d.clients)) {
      const g = r.gateway.find((x) => x.clients === c.clients && x.durability === c.durability)!;
      console.log(
        `${n(g.clients, 3)} ${`gw ${c.durability}`.padEnd(15)} ${n(g.tps)} ${n(g.p50Us)} ${n(g.p99Us)} ${n(g.p999Us, 9)} ${n(c.vsDirect)} ${n(c.addedP50Us)} ${n(c.addedP99Us)} ${n(c.vsBareHttp ?? '', 7)}`,
      );
    }
  }
}
