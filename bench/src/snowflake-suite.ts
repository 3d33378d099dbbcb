// The Snowflake door: the no-mask point statement (one `?` bind) through snowflake-sdk against
// each durability replica's Snowflake door (account clinical-sf, etl-pipeline's OAuth token),
// against the same driver logged in directly to the local warehouse (127.0.0.1:9402, same OAuth
// token: user ETL_PIPELINE, role CLINICAL_READER, the role the gateway's upstream session uses),
// at 1 and 8 closed-loop clients, one connection each.
import { demoToken, need } from '@phigate/testkit';
import type { Connection } from 'snowflake-sdk';
import { compareDoor, type DoorBench, printDoor } from './http-suite.js';
import { DURABILITIES, type Durability, type Replica } from './processes.js';
import { closedLoop, type LoopFigure } from './stats.js';

const SQL = 'SELECT ID, FIRST_NAME, LAST_NAME, ZIP FROM PATIENTS WHERE ID = ?';
const CLIENTS = [1, 8];

export async function snowflakeBench(
  replicas: Record<Durability, Replica>,
  settle: () => Promise<void>,
  seconds = Number(process.env.BENCH_DOOR_SECONDS ?? 3),
): Promise<DoorBench> {
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
  return result;
}
