// The recorded statements of the audit store, for policy replay: a read-only stream over
// PostgreSQL with a server-side cursor (memory stays flat over millions of records). A statement is
// a `query.served` (received and decision in one record) or a `query.received` with the
// `policy.decided` of its request. Both are the wire messages the gateway exchanged with the policy
// service, so the request is rebuilt with the gRPC adapter's own conversion (`toInput`).
import { AppError } from '@phigate/errors';
import { ACTION_FROM_PROTO, commonV1, eventsV1, type maskingV1, STRATEGY_FROM_PROTO } from '@phigate/proto';
import type pg from 'pg';
import Cursor from 'pg-cursor';
import type { RecordedStatement } from '../../domain/replay.js';
import { Strategy } from '../../domain/types.js';
import { toInput } from '../grpc/policy-server.js';

export interface RecordedFilter {
  since?: Date;
  until?: Date;
  identity?: string;
  connection?: string;
}

type Skipped = { skipped: string };

const strategy = (s: maskingV1.Strategy): Strategy => STRATEGY_FROM_PROTO[s] ?? Strategy.REDACT;
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * One stored record (and, for a `query.received`, its request's `policy.decided`) as a recorded
 * statement. Only the parts replay reads are decoded, each with the generated decoder of its message.
 */
export function recordedStatementOf(seq: string, eventJson: string, decidedJson: string | null): RecordedStatement | Skipped {
  const e = JSON.parse(eventJson) as Record<string, unknown> & { queryServed?: { received?: unknown; decision?: unknown }; queryReceived?: unknown };
  const rawReceived = e.queryServed?.received ?? e.queryReceived;
  const rawDecided = e.queryServed ? e.queryServed.decision : decidedJson ? (JSON.parse(decidedJson) as { policyDecided?: unknown }).policyDecided : undefined;
  const received = rawReceived ? eventsV1.QueryReceived.fromJSON(rawReceived) : undefined;
  if (!received?.analysis) return { skipped: 'no analysis recorded' };
  if (!rawDecided) return { skipped: 'no decision recorded' };
  const decided = eventsV1.PolicyDecided.fromJSON(rawDecided);
  const action = ACTION_FROM_PROTO[decided.action];
  if (!action) return { skipped: 'recorded action unreadable' };
  const requestId = text(e.requestId);
  let input: RecordedStatement['input'];
  try {
    input = toInput({
      requestId,
      identity: e.identity ? commonV1.Identity.fromJSON(e.identity) : undefined,
      connection: text(e.connection),
      role: text(e.role),
      frontDoor: text(e.frontDoor),
      analysis: received.analysis,
      purpose: text(e.purpose),
    });
  } catch (err) {
    if (err instanceof AppError) return { skipped: `request incomplete (${err.code})` };
    throw err;
  }
  const plan = decided.maskingPlan;
  return {
    seq,
    requestId,
    time: new Date(text(e.time)),
    statement: received.statement,
    dialect: received.dialect || received.analysis.dialect,
    input,
    recorded: {
      action,
      ruleIds: decided.ruleIds,
      policyRevision: decided.policyRevision,
      masks: (plan?.columns ?? []).map((c) => ({ schema: c.schema, table: c.table, column: c.column, strategy: strategy(c.strategy), keepLast: c.keepLast })),
      unknownSourceStrategy: plan ? strategy(plan.unknownSourceStrategy) : Strategy.NONE,
      rowLimit: Number(decided.rowLimit ?? 0),
    },
  };
}

/**
 * The statements query: the search table narrows (time, identity, connection), the append table holds
 * the records. In store order (seq, the primary key): rows stream from the first, no sort of the set.
 */
export function recordedStatementsQuery(f: RecordedFilter): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const where = [`s.type IN ('query.served', 'query.received')`];
  const add = (sql: (n: string) => string, v: unknown) => {
    values.push(v);
    where.push(sql(`$${values.length}`));
  };
  if (f.since) add((n) => `s.event_time >= ${n}`, f.since);
  if (f.until) add((n) => `s.event_time < ${n}`, f.until);
  if (f.identity) add((n) => `s.identity_subject = ${n}`, f.identity);
  if (f.connection) add((n) => `s.connection = ${n}`, f.connection);
  const text = `SELECT s.seq::text AS seq, e.payload::text AS event, d.payload AS decided
      FROM audit_search s
      JOIN audit_events e ON e.seq = s.seq
      LEFT JOIN LATERAL (
        SELECT a.payload::text AS payload FROM audit_search ds JOIN audit_events a ON a.seq = ds.seq
         WHERE s.type = 'query.received' AND ds.request_id = s.request_id AND ds.type = 'policy.decided'
         ORDER BY ds.seq LIMIT 1) d ON true
     WHERE ${where.join(' AND ')}
     ORDER BY s.seq`;
  return { text, values };
}

/**
 * Streams the recorded statements matching `f`, in store order, in one read-only transaction
 * (REPEATABLE READ: one consistent snapshot), `batch` rows per round trip.
 */
export async function* recordedStatements(pool: pg.Pool, f: RecordedFilter, batch = 1000): AsyncGenerator<RecordedStatement | Skipped> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const q = recordedStatementsQuery(f);
    type Row = { seq: string; event: string; decided: string | null };
    const cursor = client.query(new Cursor<Row>(q.text, q.values));
    // The next batch is on its way while this one is evaluated.
    let next: Promise<Row[]> = cursor.read(batch);
    try {
      for (;;) {
        const rows = await next;
        if (!rows.length) break;
        next = cursor.read(batch);
        for (const r of rows) yield recordedStatementOf(r.seq, r.event, r.decided);
      }
    } finally {
      // A consumer that stops early leaves a read in flight: let it land before closing.
      await next.catch(() => []);
      await cursor.close();
    }
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}
