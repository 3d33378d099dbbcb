// The HTTP door: the no-mask point statement as POST /v1/query (keep-alive connections, one per
// client) on each durability replica, against the same statement sent directly to PostgreSQL with
// node-postgres (the gateway's own upstream client library) as the same upstream role, at 1, 8
// and 32 closed-loop clients. Throughput ratio and added p50/p99 against the direct baseline.
import { Agent, request } from 'node:http';
import { demoToken, need } from '@phigate/testkit';
import pg from 'pg';
import { DURABILITIES, type Durability, type Replica } from './processes.js';
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
}

export interface DoorBench {
  statement: string;
  seconds: number;
  direct: LoopFigure[];
  gateway: Array<LoopFigure & { durability: Durability }>;
  comparisons: DoorComparison[];
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
  const gateway: DoorBench['gateway'] = [];
  for (const clients of CLIENTS) {
    const pool = new pg.Pool({ connectionString: need('CLINICAL_PG_GATEWAY_URL'), max: clients, options: `-c role=${ROLE}` });
    try {
      await settle();
      direct.push(await closedLoop(clients, seconds, 0.5, () => pool.query(SQL, [randomId()])));
    } finally {
      await pool.end();
    }
    for (const durability of DURABILITIES) {
      const agent = new Agent({ keepAlive: true, maxSockets: clients });
      const url = new URL('/v1/query', replicas[durability].httpUrl);
      try {
        await settle();
        const figure = await closedLoop(clients, seconds, 0.5, async () => {
          const status = await postJson(agent, url, headers, JSON.stringify({ connection: 'clinical-pg', sql: SQL, params: [randomId()] }));
          if (status !== 200) throw new Error(`HTTP door answered ${status}`);
        });
        gateway.push({ ...figure, durability });
      } finally {
        agent.destroy();
      }
    }
  }
  const result = { statement: SQL, seconds, direct, gateway, comparisons: compareDoor(direct, gateway) };
  printDoor('HTTP door (POST /v1/query, keep-alive) vs node-postgres directly', result);
  return result;
}

/** Prints a door's direct and gateway rows side by side. */
export function printDoor(title: string, r: DoorBench): void {
  console.log(`\n${title} (${r.seconds} s per run, closed loop)`);
  const n = (x: number | string, w = 8) => String(x).padStart(w);
  console.log(
    `${'cl'.padStart(3)} ${'target'.padEnd(15)} ${n('tps')} ${n('p50 µs')} ${n('p99 µs')} ${n('p99.9 µs', 9)} ${n('×direct')} ${n('+p50 µs')} ${n('+p99 µs')}`,
  );
  for (const d of r.direct) {
    console.log(`${n(d.clients, 3)} ${'direct'.padEnd(15)} ${n(d.tps)} ${n(d.p50Us)} ${n(d.p99Us)} ${n(d.p999Us, 9)}`);
    for (const c of r.comparisons.filter((x) => x.clients === d.clients)) {
      const g = r.gateway.find((x) => x.clients === c.clients && x.durability === c.durability)!;
      console.log(
        `${n(g.clients, 3)} ${`gw ${c.durability}`.padEnd(15)} ${n(g.tps)} ${n(g.p50Us)} ${n(g.p99Us)} ${n(g.p999Us, 9)} ${n(c.vsDirect)} ${n(c.addedP50Us)} ${n(c.addedP99Us)}`,
      );
    }
  }
}
