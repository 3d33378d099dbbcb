// Load and promise checks for the failure suite: clients that keep sending statements through
// the gateway while a dependency is stopped and started again, and the checks run afterwards.
import { setTimeout as sleep } from 'node:timers/promises';
import { demoToken, eventually, need } from '@phigate/testkit';
import pg from 'pg';

/** Every client gives up on a request after this long: an answer later than that is a hang. */
export const CLIENT_TIMEOUT_MS = 20_000;

export interface Outcome {
  at: number;
  kind: 'read' | 'write';
  gateway: string;
  requestId: string;
  status: number;
  code: string;
  /** The request got no answer within CLIENT_TIMEOUT_MS. */
  hung: boolean;
  /** A transport error (connection refused or reset): an answer, not a hang. */
  transport?: string;
  /** What a 200 or an error carried that it must not (raw identifiers, rows on an error). */
  leak?: string;
}

// Planted identifiers in the demo data look like these; a masked result never carries them.
const SSN = /\b\d{3}-\d{2}-\d{4}\b/;

async function one(gateway: string, token: string, kind: Outcome['kind'], n: number): Promise<Outcome> {
  const sql =
    kind === 'read'
      ? { connection: 'clinical-pg', sql: 'SELECT id, ssn, phone FROM patients WHERE id = $1', params: [1 + (n % 10_000)] }
      : { connection: 'clinical-pg', sql: "UPDATE claims SET status = 'paid' WHERE id = $1", params: [1 + (n % 5000)] };
  const base: Outcome = { at: Date.now(), kind, gateway, requestId: '', status: 0, code: '', hung: false };
  try {
    const res = await fetch(`${gateway}/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(sql),
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    });
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    const out: Outcome = {
      ...base,
      requestId: String(body.requestId ?? res.headers.get('x-request-id') ?? ''),
      status: res.status,
      code: String(body.code ?? ''),
    };
    if (res.status !== 200 && body.rows !== undefined) out.leak = 'an error response carried rows';
    if (res.status === 200 && kind === 'read') {
      const rows = body.rows as unknown[][];
      for (const r of rows ?? []) {
        if (typeof r[1] === 'string' && SSN.test(r[1])) out.leak = 'an SSN left unmasked';
        if (typeof r[2] === 'string' && /\d{3}\D*\d{3}\D*\d{4}/.test(r[2])) out.leak = 'a full phone number left unmasked';
      }
    }
    return out;
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return { ...base, hung: true };
    return { ...base, transport: e.cause?.code ?? e.message };
  }
}

/** Clients sending reads (ETL pipeline) and writes (billing) until stopped; each waits for its answer. */
export class Load {
  readonly outcomes: Outcome[] = [];
  private running = true;
  private loops: Promise<void>[] = [];

  static async start(gateways: string[], clientsPerGateway = 3): Promise<Load> {
    const load = new Load();
    const tokens = { read: await demoToken('etl-pipeline'), write: await demoToken('billing-service') };
    let n = 0;
    for (const g of gateways)
      for (let c = 0; c < clientsPerGateway; c++) {
        const kind: Outcome['kind'] = c % 3 === 2 ? 'write' : 'read';
        load.loops.push(
          (async () => {
            while (load.running) {
              const o = await one(g, tokens[kind], kind, n++);
              load.outcomes.push(o);
              // A refused or failed client backs off a little, as a real one would.
              if (o.status !== 200) await sleep(100);
            }
          })(),
        );
      }
    return load;
  }

  async stop(): Promise<Outcome[]> {
    this.running = false;
    await Promise.all(this.loops);
    return this.outcomes;
  }
}

/** Waits until a plain read succeeds through `gateway` (recovery without restarting it). */
export async function recovered(gateway: string, what: string, timeoutMs = 60_000): Promise<void> {
  const token = await demoToken('etl-pipeline');
  await eventually(
    `${what}: a read to succeed again through ${gateway}`,
    async () => ((await one(gateway, token, 'read', 1)).status === 200 ? true : undefined),
    timeoutMs,
    250,
  );
}

export interface AuditCheck {
  completed: number;
  missing: string[];
  duplicated: string[];
}

/**
 * Every request answered 200 has its events in the audit store exactly once: one query.executed
 * and one query.completed, or the one query.served record of a read that ran without waiting (the
 * store dedupes by event id, so a duplicate here would be a second execution). Waits for the
 * consumer to catch up.
 */
export async function auditOf(outcomes: Outcome[], timeoutMs = 90_000): Promise<AuditCheck> {
  const ids = outcomes.filter((o) => o.status === 200 && o.requestId).map((o) => o.requestId);
  const client = new pg.Client({ connectionString: need('AUDIT_DATABASE_URL') });
  await client.connect();
  try {
    const read = async () => {
      const { rows } = await client.query<{ request_id: string; type: string; n: string }>(
        `select request_id, type, count(*)::text as n from audit_events
          where request_id = any($1::text[]) and type in ('query.executed', 'query.completed', 'query.served') group by request_id, type`,
        [ids],
      );
      const counts = new Map<string, { executed: number; completed: number }>();
      for (const r of rows) {
        const c = counts.get(r.request_id) ?? { executed: 0, completed: 0 };
        if (r.type !== 'query.completed') c.executed += Number(r.n);
        if (r.type !== 'query.executed') c.completed += Number(r.n);
        counts.set(r.request_id, c);
      }
      return {
        completed: ids.length,
        missing: ids.filter((id) => !counts.get(id)?.completed || !counts.get(id)?.executed),
        duplicated: [...counts].filter(([, c]) => c.executed > 1 || c.completed > 1).map(([id]) => id),
      };
    };
    const deadline = Date.now() + timeoutMs;
    let last = await read();
    while (last.missing.length > 0 && Date.now() < deadline) {
      await sleep(1000);
      last = await read();
    }
    return last;
  } finally {
    await client.end();
  }
}

/** A one-line summary of a run's answers by status and code. */
export function tally(outcomes: Outcome[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) {
    const k = o.hung ? 'hung' : o.transport ? `transport:${o.transport}` : o.status === 200 ? '200' : `${o.status} ${o.code}`;
    t[k] = (t[k] ?? 0) + 1;
  }
  return t;
}
