// The Snowflake door: the no-mask point statement (one `?` bind) through snowflake-sdk against
// each durability replica's Snowflake door (account clinical-sf, etl-pipeline's OAuth token),
// against the same driver logged in directly to the local warehouse (127.0.0.1:9402, same OAuth
// token: user ETL_PIPELINE, role CLINICAL_READER, the role the gateway's upstream session uses),
// at 1 and 8 closed-loop clients, one connection each. Then bulk reads: cursor.fetch_pandas_all()
// of 100,000 rows with the official Python connector, through the door in JSON and in Arrow and
// directly to the warehouse (which answers JSON only), ratios against direct in the same run.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { demoToken, need, REPO_ROOT } from '@phigate/testkit';
import type { Connection } from 'snowflake-sdk';
import { compareDoor, type DoorBench, printDoor } from './http-suite.js';
import { DURABILITIES, type Durability, type Replica } from './processes.js';
import { closedLoop, type LoopFigure } from './stats.js';

const SQL = 'SELECT ID, FIRST_NAME, LAST_NAME, ZIP FROM PATIENTS WHERE ID = ?';
const CLIENTS = [1, 8];
/**
 * 100,000 rows: PATIENTS (10,000) joined with ten of its own rows. A join with a table rather than
 * VALUES or GENERATOR: the gateway's analyser follows every column to PATIENTS, so SSN is masked
 * alone and the other columns stay typed (ID int64, DOB date); the local warehouse has no GENERATOR.
 */
const BULK_SQL = 'SELECT p.ID, p.MRN, p.FIRST_NAME, p.LAST_NAME, p.SSN, p.DOB, p.ZIP FROM PATIENTS p, PATIENTS g WHERE g.ID <= 10';
const BULK_ROWS = 100_000;

export interface PandasFigure {
  target: 'direct' | 'door';
  /** The result format the connector reported for the statement. */
  format: string;
  rows: number;
  runs: number;
  /** Median seconds from execute to the DataFrame. */
  medianSec: number;
  rowsPerSec: number;
  /** Median time against the direct (warehouse, JSON) median of the same run. */
  vsDirect: number;
  dtypes: Record<string, string>;
}

export interface PandasBench {
  statement: string;
  rows: number;
  gatewayDurability: Durability;
  figures: PandasFigure[];
  /** Door JSON median over door Arrow median (how much faster Arrow is through the door). */
  arrowSpeedupOverJson: number;
}

export async function snowflakeBench(
  replicas: Record<Durability, Replica>,
  settle: () => Promise<void>,
  seconds = Number(process.env.BENCH_DOOR_SECONDS ?? 3),
): Promise<DoorBench & { pandas: PandasBench }> {
  // The driver probes cloud metadata addresses unless told not to; it reads this once, when loaded.
  process.env.SNOWFLAKE_DISABLE_PLATFORM_DETECTION = 'true';
  const { default: snowflake } = await import('snowflake-sdk');
  snowflake.configure({ logLevel: 'OFF', disableOCSPChecks: true });
  const token = await demoToken('etl-pipeline');

  const connect = async (origin: string): Promise<Connection> => {
    const url = new URL(origin);
    const conn = snowflake.createConnection({
      account: 'clinical-sf',
      host: url.hostname,
      port: Number(url.port),
      protocol: 'http',
      authenticator: 'OAUTH',
      token,
      database: 'CLINICAL',
      schema: 'PUBLIC',
    } as Parameters<typeof snowflake.createConnection>[0]);
    await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
    return conn;
  };
  const exec = (conn: Connection) =>
    new Promise<void>((resolve, reject) =>
      conn.execute({
        sqlText: SQL,
        binds: [1 + Math.floor(Math.random() * 10_000)],
        rowMode: 'array',
        complete: (err, _stmt, rows) => (err ? reject(err) : rows?.length === 1 ? resolve() : reject(new Error(`expected one row, got ${rows?.length}`))),
      }),
    );
  const measure = async (origin: string, clients: number): Promise<LoopFigure> => {
    const conns = await Promise.all(Array.from({ length: clients }, () => connect(origin)));
    try {
      await settle();
      return await closedLoop(clients, seconds, 0.5, (c) => exec(conns[c]!));
    } finally {
      await Promise.all(conns.map((c) => new Promise<void>((r) => c.destroy(() => r()))));
    }
  };

  const direct: LoopFigure[] = [];
  const gateway: DoorBench['gateway'] = [];
  for (const clients of CLIENTS) {
    direct.push(await measure(need('WAREHOUSE_URL'), clients));
    for (const durability of DURABILITIES) gateway.push({ ...(await measure(replicas[durability].httpUrl, clients)), durability });
  }
  const result = { statement: SQL, seconds, direct, gateway, comparisons: compareDoor(direct, gateway) };
  printDoor('Snowflake door (snowflake-sdk) vs snowflake-sdk directly to the warehouse', result);
  const pandas = await pandasBench(replicas[DURABILITIES[0]!], settle, token);
  printPandas(pandas);
  return { ...result, pandas };
}

const run = promisify(execFile);

/** fetch_pandas_all of BULK_SQL: directly (JSON, all the warehouse speaks), through the door in JSON and in Arrow. */
export async function pandasBench(
  replica: Replica,
  settle: () => Promise<void>,
  token: string,
  runs = Number(process.env.BENCH_PANDAS_RUNS ?? 3),
): Promise<PandasBench> {
  const python = join(need('PHIGATE_HOME'), 'venv', 'bin', 'python');
  const script = join(REPO_ROOT, 'bench/python/fetch_pandas.py');
  const measure = async (origin: string, format: 'default' | 'JSON' | 'ARROW') => {
    await settle();
    const url = new URL(origin);
    const { stdout } = await run(python, [script, url.hostname, url.port, 'clinical-sf', token, format, String(runs), BULK_SQL], {
      env: { ...process.env, SNOWFLAKE_DISABLE_PLATFORM_DETECTION: 'true' },
      maxBuffer: 1 << 20,
    }).catch((err: Error & { stderr?: string }) => {
      throw new Error(`fetch_pandas_all bench failed (run deploy/local/bin/pydeps for the venv): ${String(err.stderr ?? err.message).slice(-2000)}`);
    });
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as { format: string; rows: number; dtypes: Record<string, string>; seconds: number[] };
  };
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const measured = [
    { target: 'direct' as const, ...(await measure(need('WAREHOUSE_URL'), 'default')) },
    { target: 'door' as const, ...(await measure(replica.httpUrl, 'JSON')) },
    { target: 'door' as const, ...(await measure(replica.httpUrl, 'ARROW')) },
  ];
  const directMedian = median(measured[0]!.seconds);
  const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
  const figures: PandasFigure[] = measured.map((m) => {
    const med = median(m.seconds);
    return {
      target: m.target,
      format: m.format,
      rows: m.rows,
      runs: m.seconds.length,
      medianSec: round(med),
      rowsPerSec: Math.round(m.rows / med),
      vsDirect: round(med / directMedian, 2),
      dtypes: m.dtypes,
    };
  });
  for (const f of figures)
    if (f.rows !== BULK_ROWS) throw new Error(`fetch_pandas_all bench: ${f.target} ${f.format} returned ${f.rows} rows, expected ${BULK_ROWS}`);
  return {
    statement: BULK_SQL,
    rows: BULK_ROWS,
    gatewayDurability: replica.durability,
    figures,
    arrowSpeedupOverJson: round(figures[1]!.medianSec / figures[2]!.medianSec, 2),
  };
}

export function printPandas(p: PandasBench): void {
  console.log(
    `\nfetch_pandas_all of ${p.rows.toLocaleString('en')} rows, Python connector (median of ${p.figures[0]?.runs} runs; gateway durability ${p.gatewayDurability})`,
  );
  console.log(`${'target'.padEnd(30)}${'median s'.padStart(10)}${'rows/s'.padStart(12)}${'× direct'.padStart(10)}`);
  for (const f of p.figures)
    console.log(
      `${`${f.target === 'direct' ? 'warehouse directly' : 'through the door'} (${f.format})`.padEnd(30)}${f.medianSec.toFixed(3).padStart(10)}${String(f.rowsPerSec).padStart(12)}${f.vsDirect.toFixed(2).padStart(10)}`,
    );
  console.log(`Arrow vs JSON through the door: ${p.arrowSpeedupOverJson}× faster`);
}
