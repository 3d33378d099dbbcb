import type { ConsumedMessage } from '@phigate/bus';
import { AppError } from '@phigate/errors';
import type pg from 'pg';
import { GENESIS, link, verifyChain } from '../../domain/chain.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// One global chain: appends take this transaction-scoped lock, so the chain has one order.
const CHAIN_LOCK = 0x70686967;

export interface AppendResult {
  inserted: number;
  duplicates: number;
  rejected: number;
}

/** The append-only, hash-chained event store in PostgreSQL. */
export class PgAuditStore {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Appends a batch idempotently (by event id) in one transaction. Undecodable messages go to
   * audit_rejects with their raw bytes. Resolves only after COMMIT, so offsets can be committed.
   */
  async append(messages: ConsumedMessage[]): Promise<AppendResult> {
    const client = await this.pool.connect().catch((cause) => {
      throw new AppError('AUDIT_STORE_UNAVAILABLE', { cause });
    });
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [CHAIN_LOCK]);
      const good = messages.filter((m) => m.event && UUID.test(m.event.id));
      const bad = messages.filter((m) => !(m.event && UUID.test(m.event.id)));
      const ids = good.map((m) => m.event!.id);
      const existing = new Set(
        (await client.query<{ id: string }>('SELECT id::text FROM audit_events WHERE id = ANY($1::uuid[])', [ids])).rows.map((r) => r.id),
      );
      const last = await client.query<{ hash: Buffer }>('SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1');
      let prev: Buffer = last.rows[0]?.hash ?? GENESIS;
      const rows: unknown[][] = [[], [], [], [], [], [], [], [], [], [], []];
      let duplicates = 0;
      for (const m of good) {
        const e = m.event!;
        if (existing.has(e.id)) {
          duplicates++;
          continue;
        }
        existing.add(e.id);
        const payload = m.raw.toString('utf8');
        const hash = link(prev, payload);
        const values = [
          e.id,
          e.requestId,
          e.type,
          (e.time ?? new Date()).toISOString(),
          e.identity?.subject ?? null,
          e.connection || null,
          m.partition,
          m.offset,
          payload,
          prev,
          hash,
        ];
        for (const [i, v] of values.entries()) rows[i]!.push(v);
        prev = hash;
      }
      if (rows[0]!.length) {
        await client.query(
          `INSERT INTO audit_events (id, request_id, type, event_time, identity_subject, connection, kafka_partition, kafka_offset, payload, prev_hash, hash)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::int[], $8::bigint[], $9::json[], $10::bytea[], $11::bytea[])`,
          rows,
        );
      }
      for (const m of bad) {
        await client.query('INSERT INTO audit_rejects (kafka_partition, kafka_offset, raw, reason) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [
          m.partition,
          m.offset,
          m.raw,
          m.error?.code ?? 'BUS_EVENT_INVALID',
        ]);
      }
      await client.query('COMMIT');
      return { inserted: rows[0]!.length, duplicates, rejected: bad.length };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new AppError('AUDIT_STORE_UNAVAILABLE', { cause: err });
    } finally {
      client.release();
    }
  }

  /** A request's events in the order they were recorded. */
  async timeline(requestId: string): Promise<unknown[]> {
    const r = await this.pool.query<{ payload: unknown }>('SELECT payload FROM audit_events WHERE request_id = $1 ORDER BY seq', [requestId]);
    return r.rows.map((x) => x.payload);
  }

  /** Recomputes the whole chain. */
  async verify(): Promise<{ ok: boolean; checked: number; firstBad?: number }> {
    const r = await this.pool.query<{ seq: string; payload: string; prev_hash: Buffer; hash: Buffer }>(
      'SELECT seq, payload::text AS payload, prev_hash, hash FROM audit_events ORDER BY seq',
    );
    return verifyChain(r.rows.map((x) => ({ seq: Number(x.seq), payload: x.payload, prevHash: x.prev_hash, hash: x.hash })));
  }

  async ping(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }
}
