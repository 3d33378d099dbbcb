import type { KeyObject } from 'node:crypto';
import type { ConsumedMessage } from '@phigate/bus';
import { AppError } from '@phigate/errors';
import type pg from 'pg';
import { type ChainRecord, GENESIS, link, type StoredCheckpoint, type VerifyReport, verifyLog } from '../../domain/chain.js';
import type { Checkpoint } from '../../domain/checkpoint.js';

/** Signs a checkpoint (the service holds the private key; the store never sees it). */
export type Signer = (c: Checkpoint) => { body: string; keyId: string; signature: Buffer };

/** Auditor search filters; all optional, combined with AND. */
export interface SearchFilter {
  identity?: string;
  connection?: string;
  type?: string;
  from?: Date;
  to?: Date;
  sessionId?: string;
  table?: string;
  /** `table.column` / `schema.table.column` keys (a PHI tag, expanded through the catalog). */
  columns?: string[];
  /** ACTION_ALLOW, ACTION_DENY or ACTION_REQUIRE_APPROVAL. */
  decision?: string;
}

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

  /** A request's events in the order they were recorded, each exactly as published. */
  async timeline(requestId: string): Promise<unknown[]> {
    const r = await this.pool.query<{ payload: unknown }>('SELECT payload FROM audit_events WHERE request_id = $1 ORDER BY seq', [requestId]);
    return r.rows.map((x) => x.payload);
  }

  /** A session's events in stored order (at most `limit`). */
  async sessionEvents(sessionId: string, limit: number): Promise<unknown[]> {
    const r = await this.pool.query<{ payload: unknown }>('SELECT payload FROM audit_events WHERE audit_session_id(payload) = $1 ORDER BY seq LIMIT $2', [
      sessionId,
      limit,
    ]);
    return r.rows.map((x) => x.payload);
  }

  /**
   * One page of events matching `f`, after seq `after`, in stored order. Identity, connection,
   * type and time filter events; table, PHI columns and decision filter whole requests (every event
   * of a request whose query.received names the table, or whose policy.decided has the decision).
   */
  async search(f: SearchFilter, after: number, limit: number): Promise<{ seq: number; payload: string }[]> {
    const where: string[] = ['seq > $1'];
    const args: unknown[] = [after];
    const add = (sql: (n: string) => string, v: unknown) => {
      args.push(v);
      where.push(sql(`$${args.length}`));
    };
    if (f.identity) add((n) => `identity_subject = ${n}`, f.identity);
    if (f.connection) add((n) => `connection = ${n}`, f.connection);
    if (f.type) add((n) => `type = ${n}`, f.type);
    if (f.from) add((n) => `event_time >= ${n}`, f.from.toISOString());
    if (f.to) add((n) => `event_time < ${n}`, f.to.toISOString());
    if (f.sessionId) add((n) => `audit_session_id(payload) = ${n}`, f.sessionId);
    if (f.table)
      add(
        (n) => `request_id IN (SELECT request_id FROM audit_events WHERE type = 'query.received' AND audit_tables(payload) && ${n}::text[])`,
        [f.table.toLowerCase()],
      );
    if (f.columns)
      add((n) => `request_id IN (SELECT request_id FROM audit_events WHERE type = 'query.received' AND audit_columns(payload) && ${n}::text[])`, f.columns);
    if (f.decision)
      add((n) => `request_id IN (SELECT request_id FROM audit_events WHERE type = 'policy.decided' AND audit_decision(payload) = ${n})`, f.decision);
    args.push(limit);
    const r = await this.pool.query<{ seq: string; payload: string }>(
      `SELECT seq, payload::text AS payload FROM audit_events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT $${args.length}`,
      args,
    );
    return r.rows.map((x) => ({ seq: Number(x.seq), payload: x.payload }));
  }

  /** Events of the given types in a time range, in pages (for reports). */
  async *eventsBetween(from: Date, to: Date, types: readonly string[], page = 2000): AsyncGenerator<unknown> {
    let after = 0;
    for (;;) {
      const r = await this.pool.query<{ seq: string; payload: unknown }>(
        'SELECT seq, payload FROM audit_events WHERE seq > $1 AND event_time >= $2 AND event_time < $3 AND type = ANY($4) ORDER BY seq LIMIT $5',
        [after, from.toISOString(), to.toISOString(), types, page],
      );
      for (const row of r.rows) yield row.payload;
      if (r.rows.length < page) return;
      after = Number(r.rows.at(-1)!.seq);
    }
  }

  /**
   * Verifies the store from one consistent snapshot (REPEATABLE READ, read only), so appends and
   * purges running meanwhile cannot make an intact store look broken.
   */
  async verify(trust: { publicKey: KeyObject; origin: string }, page = 5000): Promise<VerifyReport> {
    const client = await this.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const cps = await client.query<{ seq: string; key_id: string; body: string; signature: Buffer }>(
        'SELECT seq, key_id, body, signature FROM audit_checkpoints ORDER BY seq',
      );
      async function* records(): AsyncGenerator<ChainRecord> {
        let after = -1;
        for (;;) {
          const r = await client.query<{ seq: string; id: string; payload: string; prev_hash: Buffer; hash: Buffer }>(
            'SELECT seq, id::text AS id, payload::text AS payload, prev_hash, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2',
            [after, page],
          );
          for (const x of r.rows) yield { seq: Number(x.seq), id: x.id, payload: x.payload, prevHash: x.prev_hash, hash: x.hash };
          if (r.rows.length < page) return;
          after = Number(r.rows.at(-1)!.seq);
        }
      }
      const report = await verifyLog(
        records(),
        cps.rows.map((x) => ({ seq: Number(x.seq), keyId: x.key_id, body: x.body, signature: x.signature })),
        trust,
      );
      await client.query('COMMIT');
      return report;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new AppError('AUDIT_STORE_UNAVAILABLE', { cause: err });
    } finally {
      client.release();
    }
  }

  /** Every stored checkpoint. */
  async checkpoints(): Promise<StoredCheckpoint[]> {
    const r = await this.pool.query<{ seq: string; key_id: string; body: string; signature: Buffer }>(
      'SELECT seq, key_id, body, signature FROM audit_checkpoints ORDER BY seq',
    );
    return r.rows.map((x) => ({ seq: Number(x.seq), keyId: x.key_id, body: x.body, signature: x.signature }));
  }

  /** Checkpoints for the auditor API, newest first. */
  async listCheckpoints(
    limit: number,
  ): Promise<{ seq: number; kind: string; lastSeq: number; createdAt: string; keyId: string; body: string; signature: string }[]> {
    const r = await this.pool.query<{ seq: string; kind: string; last_seq: string; created_at: Date; key_id: string; body: string; signature: Buffer }>(
      'SELECT seq, kind, last_seq, created_at, key_id, body, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT $1',
      [limit],
    );
    return r.rows.map((x) => ({
      seq: Number(x.seq),
      kind: x.kind,
      lastSeq: Number(x.last_seq),
      createdAt: x.created_at.toISOString(),
      keyId: x.key_id,
      body: x.body,
      signature: x.signature.toString('base64'),
    }));
  }

  /**
   * Signs and stores a checkpoint of the current head, unless the latest checkpoint already covers
   * it (periodic only). Returns the checkpoint's seq, or undefined when there was nothing new.
   */
  async checkpoint(sign: Signer, origin: string, kind: 'periodic' = 'periodic'): Promise<number | undefined> {
    const client = await this.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [CHAIN_LOCK]);
      const bounds = await this.bounds(client);
      if (!bounds) {
        await client.query('COMMIT');
        return undefined;
      }
      const last = await client.query<{ last_seq: string }>('SELECT last_seq FROM audit_checkpoints ORDER BY last_seq DESC LIMIT 1');
      if (last.rows[0] && Number(last.rows[0].last_seq) >= bounds.lastSeq) {
        await client.query('COMMIT');
        return undefined;
      }
      const seq = await this.insertCheckpoint(client, sign, { origin, kind, ...bounds, time: new Date() });
      await client.query('COMMIT');
      return seq;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new AppError('AUDIT_STORE_UNAVAILABLE', { cause: err });
    } finally {
      client.release();
    }
  }

  /**
   * Deletes the oldest records, a whole prefix: every record before the first one ingested at or
   * after `before` (the newest record is always kept, so the chain goes on). First a signed purge
   * anchor names the first record kept and the hash it links to; then audit_purge() (SECURITY
   * DEFINER, which enforces the store's minimum retention and demands that anchor) deletes, in
   * the same transaction.
   */
  async purge(before: Date, sign: Signer, origin: string): Promise<{ deleted: number; keptFrom?: number; anchor?: number }> {
    const client = await this.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [CHAIN_LOCK]);
      const bounds = await this.bounds(client);
      const keep = await client.query<{ seq: string; prev_hash: Buffer }>(
        `SELECT seq, prev_hash FROM audit_events
          WHERE seq = coalesce((SELECT min(seq) FROM audit_events WHERE ingested_at >= $1), (SELECT max(seq) FROM audit_events))`,
        [before.toISOString()],
      );
      const k = keep.rows[0];
      if (!bounds || !k || Number(k.seq) <= bounds.firstSeq) {
        await client.query('COMMIT');
        return { deleted: 0 };
      }
      const keptFrom = Number(k.seq);
      const anchor = await this.insertCheckpoint(client, sign, {
        origin,
        kind: 'purge',
        lastSeq: bounds.lastSeq,
        lastHash: bounds.lastHash,
        firstSeq: keptFrom,
        firstPrev: k.prev_hash,
        time: new Date(),
      });
      const r = await client.query<{ n: string }>('SELECT audit_purge($1, $2) AS n', [keptFrom, before.toISOString()]);
      await client.query('COMMIT');
      return { deleted: Number(r.rows[0]?.n ?? 0), keptFrom, anchor };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if ((err as { code?: string }).code === '42501' || (err as { code?: string }).code === '55000')
        throw new AppError('AUDIT_PURGE_REFUSED', { cause: err, details: { reason: (err as Error).message } });
      throw new AppError('AUDIT_STORE_UNAVAILABLE', { cause: err });
    } finally {
      client.release();
    }
  }

  private async connect(): Promise<pg.PoolClient> {
    return this.pool.connect().catch((cause) => {
      throw new AppError('AUDIT_STORE_UNAVAILABLE', { cause });
    });
  }

  private async bounds(client: pg.PoolClient): Promise<{ firstSeq: number; firstPrev: Buffer; lastSeq: number; lastHash: Buffer } | undefined> {
    const r = await client.query<{ seq: string; prev_hash: Buffer; hash: Buffer; which: string }>(
      `(SELECT seq, prev_hash, hash, 'first' AS which FROM audit_events ORDER BY seq LIMIT 1)
       UNION ALL (SELECT seq, prev_hash, hash, 'last' AS which FROM audit_events ORDER BY seq DESC LIMIT 1)`,
    );
    const first = r.rows.find((x) => x.which === 'first');
    const last = r.rows.find((x) => x.which === 'last');
    if (!first || !last) return undefined;
    return { firstSeq: Number(first.seq), firstPrev: first.prev_hash, lastSeq: Number(last.seq), lastHash: last.hash };
  }

  private async insertCheckpoint(client: pg.PoolClient, sign: Signer, c: Checkpoint): Promise<number> {
    const s = sign(c);
    const r = await client.query<{ seq: string }>(
      `INSERT INTO audit_checkpoints (kind, last_seq, last_hash, first_seq, first_prev, key_id, body, signature)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq`,
      [c.kind, c.lastSeq, c.lastHash, c.firstSeq, c.firstPrev, s.keyId, s.body, s.signature],
    );
    return Number(r.rows[0]!.seq);
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
