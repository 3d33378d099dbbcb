import { createHash } from 'node:crypto';
import { type AuditEvent, type ConsumedMessage, decodeEvent } from '@phigate/bus';
import { AppError } from '@phigate/errors';
import type pg from 'pg';
import { type ChainRecord, GENESIS, PROBLEMS, type Problem, type StoredCheckpoint, verifyLog } from '../../domain/chain.js';
import { type StoredRecord, type StoreReport, storeReport, verifyChains } from '../../domain/chains.js';
import { type ChainHead, type Checkpoint, decodeHeads, HEADS_FORMAT, type HeadsCheckpoint, type Trust } from '../../domain/checkpoint.js';
import {
  type Classified,
  classify,
  type DerivedColumns,
  NO_COLUMNS,
  pickColumns,
  type QuarantineReason,
  type RecordHeader,
  type RecordPosition,
  type RecordStatus,
  recordHash,
  usecIso,
} from '../../domain/record.js';

/** Signs a checkpoint (the service holds the private key; the store never sees it). */
export type Signer = (c: Checkpoint) => { body: string; keyId: string; signature: Buffer };
/** Signs a checkpoint of chain heads. */
export type HeadsSigner = (c: HeadsCheckpoint) => { body: string; keyId: string; signature: Buffer };
/** A stored, signed checkpoint of chain heads. */
export interface SignedHeads {
  seq: number;
  body: string;
  keyId: string;
  signature: Buffer;
}

const quarantined = (h: RecordPosition, raw: Buffer, reason: QuarantineReason, claimedId: string): Quarantined => ({
  topic: h.topic,
  partition: h.partition,
  offset: h.offset,
  reason,
  bytes: raw.length,
  sha256: createHash('sha256').update(raw).digest('hex'),
  claimedId,
});

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
  /** The purpose of use the client stated (every event of its requests and sessions carries it). */
  purpose?: string;
}

// The format 1 chain (records stored before migration 003) had one global order; its checkpoint
// and purge still take this lock.
const CHAIN_LOCK = 0x70686967;
// One search indexer at a time (every replica runs one; the others skip the round).
const SEARCH_LOCK = 0x70686968;
/** Every partition chain (topic, partition) as a CTE `c`: a skip scan over the chain index. */
const CHAINS = `WITH RECURSIVE c AS (
  (SELECT kafka_topic, kafka_partition FROM audit_events WHERE kafka_topic IS NOT NULL ORDER BY kafka_topic, kafka_partition LIMIT 1)
  UNION ALL
  SELECT n.kafka_topic, n.kafka_partition FROM c, LATERAL (
    SELECT kafka_topic, kafka_partition FROM audit_events
     WHERE kafka_topic IS NOT NULL AND (kafka_topic, kafka_partition) > (c.kafka_topic, c.kafka_partition)
     ORDER BY kafka_topic, kafka_partition LIMIT 1) n)`;
// PostgreSQL refused the row's data (22: data exception, 54: program limit such as a json nesting
// too deep); anything else (connection, lock, resources) is the store being unavailable.
const isDataError = (err: unknown) => /^(22|54)/.test(String((err as { code?: string })?.code ?? ''));
const isUniqueViolation = (err: unknown) => (err as { code?: string })?.code === '23505';

/** The store refused a purge (its floor, a missing anchor, younger records) or was unavailable. */
const purgeError = (err: unknown): AppError =>
  (err as { code?: string }).code === '42501' || (err as { code?: string }).code === '55000'
    ? new AppError('AUDIT_PURGE_REFUSED', { cause: err, details: { reason: (err as Error).message } })
    : new AppError('AUDIT_STORE_UNAVAILABLE', { cause: err });

/** A message kept quarantined: where it is, why, and what it was. */
export interface Quarantined extends RecordPosition {
  reason: QuarantineReason;
  bytes: number;
  sha256: string;
  claimedId: string;
}

export interface AppendResult {
  inserted: number;
  duplicates: number;
  /** Messages at offsets already stored (a replay after a rebalance or restart). */
  replayed: number;
  quarantined: Quarantined[];
}

/** One record about to be written, in chain order. */
export interface Row {
  header: RecordHeader;
  columns: DerivedColumns;
  payload: string | null;
  raw: Buffer | null;
  prev: Buffer;
  hash: Buffer;
}

// A record as verify reads it (alias e), with its search row (alias s) where that differs from
// what audit_search_of() derives from the record: both rows, as json.
const RECORD_SELECT = `e.seq, e.kafka_topic, e.kafka_partition, e.kafka_offset::text AS kafka_offset, e.status, e.id::text AS id, e.request_id, e.type,
  to_char(e.event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS event_time, e.identity_subject, e.connection,
  e.payload::text AS payload, e.raw, e.prev_hash, e.hash, to_char(e.ingested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ingested_at,
  CASE WHEN s IS DISTINCT FROM d THEN json_build_object('stored', to_json(s), 'derived', to_json(d))::text END AS search_diff,
  (SELECT min(h.checkpoint) FROM audit_verify_heads h WHERE h.topic = e.kafka_topic AND h.partition = e.kafka_partition
      AND h.last_offset = e.kafka_offset AND h.hash <> e.hash)::int AS signed_mismatch`;
const RECORD_FROM = 'audit_events e LEFT JOIN audit_search s ON s.seq = e.seq CROSS JOIN LATERAL audit_search_of(e) d';

/**
 * Which column of a record's search row differs from its derivation (`row`: no row), or undefined.
 * A missing row is a problem only at or below the indexer's position in that chain (`indexedTo`):
 * the newest records may not be indexed yet.
 */
function searchMismatch(diff: string | null, position: bigint, indexedTo: bigint | undefined): string | undefined {
  if (diff === null) return undefined;
  const { stored, derived } = JSON.parse(diff) as { stored: Record<string, unknown> | null; derived: Record<string, unknown> };
  if (!stored || stored.seq === null) return indexedTo !== undefined && position <= indexedTo ? 'row' : undefined;
  return Object.keys(derived).find((k) => JSON.stringify(stored[k]) !== JSON.stringify(derived[k])) ?? 'row';
}

interface RecordRow extends DerivedColumns {
  seq: string;
  kafka_topic: string;
  kafka_partition: number;
  kafka_offset: string;
  status: RecordStatus;
  payload: string | null;
  raw: Buffer | null;
  prev_hash: Buffer;
  hash: Buffer;
  ingested_at: string;
  search_diff: string | null;
  signed_mismatch: number | null;
}

const columnsOf = pickColumns;

/** How far the search indexer has come: per chain the highest indexed offset, and the format 1 chain's highest seq. */
async function searchIndexedTo(client: pg.PoolClient): Promise<{ chains: Map<string, bigint>; legacy: bigint | undefined }> {
  const r = await client.query<{ t: string | null; p: number | null; o: string }>(
    `SELECT kafka_topic AS t, kafka_partition AS p, max(kafka_offset)::text AS o FROM audit_search WHERE kafka_topic IS NOT NULL GROUP BY 1, 2
     UNION ALL SELECT NULL, NULL, max(seq)::text FROM audit_search WHERE kafka_topic IS NULL HAVING count(*) > 0`,
  );
  const chains = new Map<string, bigint>();
  let legacy: bigint | undefined;
  for (const x of r.rows) {
    if (x.t === null) legacy = BigInt(x.o);
    else chains.set(`${x.t}\u0001${x.p}`, BigInt(x.o));
  }
  return { chains, legacy };
}

/** A search row whose record is not stored (an insert into the search table), if there is one. */
async function extraSearchRow(client: pg.PoolClient): Promise<Problem | undefined> {
  const r = await client.query<{ seq: string; kafka_topic: string | null; kafka_partition: number; kafka_offset: string }>(
    `SELECT s.seq, s.kafka_topic, s.kafka_partition, s.kafka_offset::text AS kafka_offset FROM audit_search s
      WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.seq = s.seq) ORDER BY s.seq LIMIT 1`,
  );
  const x = r.rows[0];
  if (!x) return undefined;
  return {
    reason: 'search_row_extra',
    message: PROBLEMS.search_row_extra,
    seq: Number(x.seq),
    ...(x.kafka_topic === null ? {} : { topic: x.kafka_topic, partition: x.kafka_partition, offset: x.kafka_offset }),
  };
}

/** Decodes a record's bytes with the event contract (undefined when they are not an event). */
export function decodeBytes(bytes: Buffer): AuditEvent | undefined {
  try {
    return decodeEvent(bytes);
  } catch {
    return undefined;
  }
}

/** A chain's head: its last offset (-1 when empty) and hash (genesis when empty). */
interface ChainTip {
  offset: bigint;
  hash: Buffer;
}

/** One chain's batch, chained to a tip. */
interface ChainedBatch {
  fresh: ConsumedMessage[];
  classified: Classified[];
  headers: RecordHeader[];
  rows: Row[];
  quarantined: Quarantined[];
  replayed: number;
}

const chainKeyOf = (m: { topic: string; partition: number }) => `${m.topic}\u0001${m.partition}`;

/**
 * The messages grouped by chain (topic partition), in the order they came. A consumer batch is
 * one partition's, so the common case allocates nothing but the one entry.
 */
function chainsOf(messages: ConsumedMessage[]): Map<string, ConsumedMessage[]> {
  const groups = new Map<string, ConsumedMessage[]>();
  const first = messages[0];
  if (first && messages.every((m) => m.partition === first.partition && m.topic === first.topic)) return groups.set(chainKeyOf(first), messages);
  for (const m of messages) {
    const k = chainKeyOf(m);
    const g = groups.get(k);
    if (g) g.push(m);
    else groups.set(k, [m]);
  }
  return groups;
}

/** The messages at offsets after `tip`, in offset order (a consumer batch is in order already: then it is only filtered). */
function after(messages: ConsumedMessage[], tip: bigint): ConsumedMessage[] {
  const offsets = messages.map((m) => BigInt(m.offset));
  let ordered = true;
  for (let i = 1; i < offsets.length && ordered; i++) ordered = offsets[i - 1]! < offsets[i]!;
  if (ordered) {
    let i = 0;
    while (i < offsets.length && offsets[i]! <= tip) i++;
    return i === 0 ? messages : messages.slice(i);
  }
  return messages
    .map((m, i) => ({ m, o: offsets[i]! }))
    .filter((x) => x.o > tip)
    .sort((a, b) => (a.o < b.o ? -1 : a.o > b.o ? 1 : 0))
    .map((x) => x.m);
}

/** A chain's head as stored. */
async function readTip(client: pg.ClientBase, topic: string, partition: number): Promise<ChainTip> {
  const r = await client.query<{ kafka_offset: string; hash: Buffer }>(
    'SELECT kafka_offset::text AS kafka_offset, hash FROM audit_events WHERE kafka_topic = $1 AND kafka_partition = $2 ORDER BY audit_events.kafka_offset DESC LIMIT 1',
    [topic, partition],
  );
  const h = r.rows[0];
  return h ? { offset: BigInt(h.kafka_offset), hash: h.hash } : { offset: -1n, hash: GENESIS };
}

function addBatch(result: AppendResult, batch: ChainedBatch): void {
  result.replayed += batch.replayed;
  result.quarantined.push(...batch.quarantined);
  for (const r of batch.rows) {
    if (r.header.status === 'event') result.inserted++;
    else if (r.header.status === 'duplicate') result.duplicates++;
  }
}

/** The records as column arrays, in audit_events' insert order (topic, partition, offset, …, ingested_at). */
function rowColumns(rows: Row[]): unknown[][] {
  const cols: unknown[][] = Array.from({ length: 15 }, () => []);
  for (const r of rows) {
    const h = r.header;
    const c = r.columns;
    const values = [
      h.topic,
      h.partition,
      h.offset,
      h.status,
      c.id,
      c.request_id,
      c.type,
      c.event_time,
      c.identity_subject,
      c.connection,
      r.payload,
      r.raw,
      r.prev,
      r.hash,
      h.ingestedAt,
    ];
    for (const [i, v] of values.entries()) cols[i]!.push(v);
  }
  return cols;
}

/** Writes records with one multi-row INSERT (column arrays through unnest), as every append does. */
export async function insertRows(client: pg.ClientBase, rows: Row[]): Promise<void> {
  await client.query(
    `INSERT INTO audit_events (kafka_topic, kafka_partition, kafka_offset, status, id, request_id, type, event_time, identity_subject, connection,
                               payload, raw, prev_hash, hash, ingested_at)
     SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::timestamptz[], $9::text[],
                          $10::text[], $11::json[], $12::bytea[], $13::bytea[], $14::bytea[], $15::timestamptz[])`,
    rowColumns(rows),
  );
}

/** The append-only, hash-chained event store in PostgreSQL: one chain per Kafka topic partition. */
export class PgAuditStore {
  constructor(private readonly pool: pg.Pool) {}

  /** Per chain, the head this store last committed: what its next batch is chained to. */
  private readonly tips = new Map<string, ChainTip>();

  /**
   * Appends consumed messages, one record per offset, each chained to the record at the previous
   * offset of its partition. The partition's chain lock makes its writer single even while a
   * rebalance hands the partition over: a batch is stored only on the head it was chained to, so a
   * chain never forks, and offsets already stored are skipped. A message that cannot be stored as
   * an event is kept quarantined (its exact bytes), never retried forever. Resolves only after each
   * chain's batch is committed, so offsets can be committed.
   */
  async append(messages: ConsumedMessage[]): Promise<AppendResult> {
    const client = await this.connect();
    const groups = chainsOf(messages);
    const result: AppendResult = { inserted: 0, duplicates: 0, replayed: 0, quarantined: [] };
    try {
      // Chains in one order, so two writers of overlapping batches cannot deadlock.
      for (const k of [...groups.keys()].sort()) {
        const batch = groups.get(k)!;
        try {
          await this.appendLean(client, batch, result);
        } catch (err) {
          this.tips.delete(k);
          if (!isDataError(err) && !isUniqueViolation(err)) throw err;
          // A row was refused (an event id stored at an earlier offset, or data PostgreSQL would
          // not take): this chain's batch again, with the duplicate check and row by row if need be.
          await this.appendCareful(client, batch, result);
        }
      }
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new AppError('AUDIT_STORE_UNAVAILABLE', { cause: err });
    } finally {
      client.release();
    }
  }

  /**
   * One round trip per batch, as a chain-free store's INSERT: the batch is chained (and hashed)
   * before it is sent, to the head this store last committed, and audit_append_chain() (migration
   * 005) stores it under the chain's lock only if that is still the head. Otherwise (a first batch,
   * or another writer wrote meanwhile) it answers the head, and the batch is chained again.
   */
  private async appendLean(client: pg.PoolClient, messages: ConsumedMessage[], result: AppendResult): Promise<void> {
    const { topic, partition } = messages[0]!;
    const k = chainKeyOf(messages[0]!);
    let tip = this.tips.get(k) ?? (await readTip(client, topic, partition));
    for (let attempt = 0; ; attempt++) {
      const batch = this.chainBatch(tip, messages, new Set());
      if (!batch.rows.length) {
        result.replayed += batch.replayed;
        return;
      }
      const cols = rowColumns(batch.rows);
      const r = await client.query<{ head_offset: string | null; head_hash: Buffer | null; inserted: string }>(
        `SELECT head_offset::text AS head_offset, head_hash, inserted
           FROM audit_append_chain($1, $2, $3, $4, $5::bigint[], $6::text[], $7::uuid[], $8::text[], $9::text[], $10::timestamptz[], $11::text[],
                                   $12::text[], $13::json[], $14::bytea[], $15::bytea[], $16::bytea[], $17::timestamptz[])`,
        [topic, partition, tip.offset < 0n ? null : tip.offset.toString(), tip.offset < 0n ? null : tip.hash, ...cols.slice(2)],
      );
      const x = r.rows[0]!;
      if (Number(x.inserted) === batch.rows.length) {
        const last = batch.rows.at(-1)!;
        this.tips.set(k, { offset: BigInt(last.header.offset), hash: last.hash });
        addBatch(result, batch);
        return;
      }
      if (attempt >= 3) throw new Error('the chain head moved at every attempt');
      tip = { offset: x.head_offset === null ? -1n : BigInt(x.head_offset), hash: x.head_hash ?? GENESIS };
    }
  }

  /** One transaction: the lock, the head, the ids stored before, then the batch, row by row where a row is refused. */
  private async appendCareful(client: pg.PoolClient, messages: ConsumedMessage[], result: AppendResult): Promise<void> {
    const { topic, partition } = messages[0]!;
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1), $2)', [topic, partition]);
    const tip = await readTip(client, topic, partition);
    const ids = messages.flatMap((m) => {
      const c = classify(m.raw, m.event, '');
      return c.storable ? [c.columns.id!] : [];
    });
    const existing = new Set(
      (await client.query<{ id: string }>('SELECT id::text AS id FROM audit_events WHERE id = ANY($1::uuid[])', [ids])).rows.map((r) => r.id),
    );
    const batch = this.chainBatch(tip, messages, existing);
    await client.query('SAVEPOINT chain_batch');
    try {
      await this.insert(client, batch.rows);
      await client.query('RELEASE SAVEPOINT chain_batch');
    } catch (err) {
      if (!isDataError(err) && !isUniqueViolation(err)) throw err;
      // One row the checks above let through was refused: find it by writing one row at a time.
      await client.query('ROLLBACK TO SAVEPOINT chain_batch');
      batch.quarantined = [];
      batch.rows = [];
      let prev = tip.hash;
      for (const [i, m] of batch.fresh.entries()) {
        const c = batch.classified[i]!;
        const header: RecordHeader = { ...batch.headers[i]! };
        let row = this.row(prev, header, m.raw, c.storable ? c : undefined);
        if (c.storable && header.status === 'event') {
          await client.query('SAVEPOINT chain_row');
          try {
            await this.insert(client, [row]);
            await client.query('RELEASE SAVEPOINT chain_row');
          } catch (rowErr) {
            await client.query('ROLLBACK TO SAVEPOINT chain_row');
            if (isUniqueViolation(rowErr)) row = this.row(prev, { ...header, status: 'duplicate' }, m.raw, c);
            else if (isDataError(rowErr)) {
              row = this.row(prev, { ...header, status: 'quarantined' }, m.raw, undefined);
              batch.quarantined.push(quarantined(row.header, m.raw, 'STORE_REFUSED', c.columns.id ?? ''));
            } else throw rowErr;
            await this.insert(client, [row]);
          }
        } else {
          if (!c.storable) batch.quarantined.push(quarantined(row.header, m.raw, c.reason, c.claimedId));
          await this.insert(client, [row]);
        }
        batch.rows.push(row);
        prev = row.hash;
      }
    }
    await client.query('COMMIT');
    addBatch(result, batch);
  }

  /** The records of the messages after `tip`, in offset order, chained to it (pure: no I/O). */
  private chainBatch(tip: ChainTip, messages: ConsumedMessage[], existing: Set<string>): ChainedBatch {
    const { topic, partition } = messages[0]!;
    const fresh = after(messages, tip.offset);
    const ingestedAt = usecIso(new Date());
    const seen = new Set(existing);
    const classified: Classified[] = [];
    const headers: RecordHeader[] = [];
    const rows: Row[] = [];
    const quarantinedList: Quarantined[] = [];
    let prev = tip.hash;
    // One pass: classify, status (an id seen before in this batch or stored is a duplicate), chain.
    for (const m of fresh) {
      const c = classify(m.raw, m.event, ingestedAt);
      let status: RecordStatus = 'event';
      if (!c.storable) status = 'quarantined';
      else if (seen.has(c.columns.id!)) status = 'duplicate';
      else seen.add(c.columns.id!);
      const header: RecordHeader = { topic, partition, offset: m.offset, status, ingestedAt };
      const row = this.row(prev, header, m.raw, c.storable ? c : undefined);
      if (!c.storable) quarantinedList.push(quarantined(header, m.raw, c.reason, c.claimedId));
      classified.push(c);
      headers.push(header);
      rows.push(row);
      prev = row.hash;
    }
    return { fresh, classified, headers, rows, quarantined: quarantinedList, replayed: messages.length - fresh.length };
  }

  private row(prev: Buffer, header: RecordHeader, raw: Buffer, storable: { text: string; columns: DerivedColumns } | undefined): Row {
    const event = header.status === 'event' && storable;
    return {
      header,
      columns: event ? storable.columns : NO_COLUMNS,
      payload: event ? storable.text : null,
      raw: event ? null : raw,
      prev,
      hash: recordHash(prev, header, raw),
    };
  }

  private insert(client: pg.PoolClient, rows: Row[]): Promise<void> {
    return insertRows(client, rows);
  }

  /**
   * Derives the search rows (audit_search_of(), one per record) of the records stored since the
   * last round, chain by chain in offset order, off the writers' path. A chain's writer commits in
   * offset order, so nothing behind a chain's highest indexed offset is ever left out. At most
   * `page` rows per chain and round; returns the rows added (0 when another indexer holds the round).
   */
  async indexSearch(page = 5000): Promise<number> {
    const client = await this.connect();
    try {
      await client.query('BEGIN');
      const lock = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [SEARCH_LOCK]);
      if (!lock.rows[0]?.ok) {
        await client.query('COMMIT');
        return 0;
      }
      const chains = await client.query(
        `${CHAINS}
         INSERT INTO audit_search
         SELECT d.* FROM c,
           LATERAL (SELECT coalesce(max(kafka_offset), -1) AS o FROM audit_search
                     WHERE kafka_topic IS NOT NULL AND kafka_topic = c.kafka_topic AND kafka_partition = c.kafka_partition) w,
           LATERAL (SELECT e FROM audit_events e WHERE e.kafka_topic IS NOT NULL AND e.kafka_topic = c.kafka_topic AND e.kafka_partition = c.kafka_partition
                       AND e.kafka_offset > w.o ORDER BY e.kafka_offset LIMIT $1) x,
           LATERAL audit_search_of(x.e) d
         ON CONFLICT (seq) DO NOTHING`,
        [page],
      );
      // Format 1 records are not written any more (but a restored backup may bring some).
      const legacy = await client.query(
        `INSERT INTO audit_search
         SELECT d.* FROM audit_events e, LATERAL audit_search_of(e) d
          WHERE e.kafka_topic IS NULL AND e.seq > (SELECT coalesce(max(seq), 0) FROM audit_search WHERE kafka_topic IS NULL)
          ORDER BY e.seq LIMIT $1
         ON CONFLICT (seq) DO NOTHING`,
        [page],
      );
      await client.query('COMMIT');
      return (chains.rowCount ?? 0) + (legacy.rowCount ?? 0);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new AppError('AUDIT_STORE_UNAVAILABLE', { cause: err });
    } finally {
      client.release();
    }
  }

  /** A request's events in the order they were recorded, each exactly as published. */
  async timeline(requestId: string): Promise<unknown[]> {
    const r = await this.pool.query<{ payload: unknown }>(
      'SELECT e.payload FROM audit_search s JOIN audit_events e ON e.seq = s.seq WHERE s.request_id = $1 ORDER BY s.seq',
      [requestId],
    );
    return r.rows.map((x) => x.payload);
  }

  /** A session's events in stored order (at most `limit`). */
  async sessionEvents(sessionId: string, limit: number): Promise<unknown[]> {
    const r = await this.pool.query<{ payload: unknown }>(
      'SELECT e.payload FROM audit_search s JOIN audit_events e ON e.seq = s.seq WHERE s.session_id = $1 ORDER BY s.seq LIMIT $2',
      [sessionId, limit],
    );
    return r.rows.map((x) => x.payload);
  }

  /**
   * One page of events matching `f`, after seq `after`, in stored order. Identity, connection,
   * type, purpose and time filter events; table, PHI columns and decision filter whole requests (every event
   * of a request whose statement (query.received or query.served) names the table, or whose decision has it).
   */
  async search(f: SearchFilter, after: number, limit: number): Promise<{ seq: number; payload: string }[]> {
    const where: string[] = ['s.seq > $1'];
    const args: unknown[] = [after];
    const add = (sql: (n: string) => string, v: unknown) => {
      args.push(v);
      where.push(sql(`$${args.length}`));
    };
    if (f.identity) add((n) => `s.identity_subject = ${n}`, f.identity);
    if (f.connection) add((n) => `s.connection = ${n}`, f.connection);
    if (f.type) add((n) => `s.type = ${n}`, f.type);
    if (f.from) add((n) => `s.event_time >= ${n}`, f.from.toISOString());
    if (f.to) add((n) => `s.event_time < ${n}`, f.to.toISOString());
    if (f.sessionId) add((n) => `s.session_id = ${n}`, f.sessionId);
    if (f.purpose) add((n) => `s.purpose = ${n}`, f.purpose);
    if (f.table)
      add(
        (n) => `s.request_id IN (SELECT request_id FROM audit_search WHERE type IN ('query.received', 'query.served') AND tables && ${n}::text[])`,
        [f.table.toLowerCase()],
      );
    if (f.columns)
      add(
        (n) => `s.request_id IN (SELECT request_id FROM audit_search WHERE type IN ('query.received', 'query.served') AND columns && ${n}::text[])`,
        f.columns,
      );
    if (f.decision)
      add((n) => `s.request_id IN (SELECT request_id FROM audit_search WHERE type IN ('policy.decided', 'query.served') AND decision = ${n})`, f.decision);
    args.push(limit);
    const r = await this.pool.query<{ seq: string; payload: string }>(
      `SELECT s.seq, e.payload::text AS payload FROM audit_search s JOIN audit_events e ON e.seq = s.seq
        WHERE ${where.join(' AND ')} ORDER BY s.seq LIMIT $${args.length}`,
      args,
    );
    return r.rows.map((x) => ({ seq: Number(x.seq), payload: x.payload }));
  }

  /** Events of the given types in a time range, in pages (for reports). */
  async *eventsBetween(from: Date, to: Date, types: readonly string[], page = 2000): AsyncGenerator<unknown> {
    let after = 0;
    for (;;) {
      const r = await this.pool.query<{ seq: string; payload: unknown }>(
        `SELECT s.seq, e.payload FROM audit_search s JOIN audit_events e ON e.seq = s.seq
          WHERE s.seq > $1 AND s.event_time >= $2 AND s.event_time < $3 AND s.type = ANY($4) ORDER BY s.seq LIMIT $5`,
        [after, from.toISOString(), to.toISOString(), types, page],
      );
      for (const row of r.rows) yield row.payload;
      if (r.rows.length < page) return;
      after = Number(r.rows.at(-1)!.seq);
    }
  }

  /**
   * Verifies the store from one consistent snapshot (REPEATABLE READ, read only), so appends and
   * purges running meanwhile cannot make an intact store look broken: the format 1 chain (records
   * from before migration 003) with its checkpoints, then every partition's chain with the
   * checkpoints of chain heads. Every search column is re-derived from the hashed bytes.
   */
  async verify(trust: Trust, page = 5000, checkpointPage = 200): Promise<StoreReport> {
    const client = await this.connect();
    try {
      // The heads the checkpoints signed, compared with the records in the database: however many
      // checkpoints there are, verify holds one page of them and a summary per chain. A temporary
      // table, created before the read-only transaction (which may still fill it).
      await client.query(
        `CREATE TEMP TABLE IF NOT EXISTS audit_verify_heads (topic text NOT NULL, partition int NOT NULL, last_offset bigint NOT NULL, hash bytea NOT NULL,
           checkpoint bigint NOT NULL, PRIMARY KEY (topic, partition, last_offset, hash)) ON COMMIT DELETE ROWS`,
      );
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // checkpoint.ts's CHAIN_LINE, line by line; verifyChains checks every body's signature first.
      await client.query(
        `INSERT INTO audit_verify_heads
         SELECT m[1], m[2]::int, m[5]::bigint, decode(m[6], 'hex'), min(c.seq)
           FROM audit_checkpoints c, regexp_matches(c.body, '^chain (\\S+) ([0-9]+) first ([0-9]+) ([0-9a-f]{64}) last ([0-9]+) ([0-9a-f]{64})$', 'gn') m
          WHERE c.body LIKE $1 GROUP BY 1, 2, 3, 4`,
        [`${HEADS_FORMAT}\n%`],
      );
      async function* checkpoints(heads: boolean): AsyncGenerator<StoredCheckpoint> {
        let after = 0;
        for (;;) {
          const r = await client.query<{ seq: string; key_id: string; body: string; signature: Buffer }>(
            `SELECT seq, key_id, body, signature FROM audit_checkpoints WHERE seq > $1 AND (body LIKE $2) = $3 ORDER BY seq LIMIT $4`,
            [after, `${HEADS_FORMAT}\n%`, heads, checkpointPage],
          );
          for (const x of r.rows) yield { seq: Number(x.seq), keyId: x.key_id, body: x.body, signature: x.signature };
          if (r.rows.length < checkpointPage) return;
          after = Number(r.rows.at(-1)!.seq);
        }
      }
      // Format 1 checkpoints stopped growing with the format 1 chain (migration 003).
      const legacyCheckpoints: StoredCheckpoint[] = [];
      for await (const c of checkpoints(false)) legacyCheckpoints.push(c);
      const indexed = await searchIndexedTo(client);
      async function* legacy(): AsyncGenerator<ChainRecord> {
        let after = -1;
        for (;;) {
          const r = await client.query<RecordRow>(
            `SELECT ${RECORD_SELECT} FROM ${RECORD_FROM} WHERE e.kafka_topic IS NULL AND e.seq > $1 ORDER BY e.seq LIMIT $2`,
            [after, page],
          );
          for (const x of r.rows) {
            // A format 1 record has no status nor raw bytes: a value there is an edit its hash cannot show.
            const payload = x.status !== null || x.raw !== null ? `${x.payload}\u0000` : (x.payload ?? '');
            yield {
              seq: Number(x.seq),
              id: x.id ?? '',
              payload,
              prevHash: x.prev_hash,
              hash: x.hash,
              columns: columnsOf(x),
              searchMismatch: searchMismatch(x.search_diff, BigInt(x.seq), indexed.legacy),
            };
          }
          if (r.rows.length < page) return;
          after = Number(r.rows.at(-1)!.seq);
        }
      }
      async function* chains(): AsyncGenerator<StoredRecord> {
        let after: [string, number, string] = ['', -1, '-1'];
        for (;;) {
          const r = await client.query<RecordRow>(
            `SELECT ${RECORD_SELECT} FROM ${RECORD_FROM} WHERE e.kafka_topic IS NOT NULL AND (e.kafka_topic, e.kafka_partition, e.kafka_offset) > ($1, $2, $3::bigint)
              ORDER BY e.kafka_topic, e.kafka_partition, e.kafka_offset LIMIT $4`,
            [...after, page],
          );
          for (const x of r.rows)
            yield {
              seq: Number(x.seq),
              topic: x.kafka_topic,
              partition: x.kafka_partition,
              offset: x.kafka_offset,
              status: x.status,
              ingestedAt: x.ingested_at,
              prevHash: x.prev_hash,
              hash: x.hash,
              payload: x.payload,
              raw: x.raw,
              columns: columnsOf(x),
              searchMismatch: searchMismatch(x.search_diff, BigInt(x.kafka_offset), indexed.chains.get(`${x.kafka_topic}\u0001${x.kafka_partition}`)),
              signedMismatch: x.signed_mismatch ?? undefined,
            };
          if (r.rows.length < page) return;
          const last = r.rows.at(-1)!;
          after = [last.kafka_topic, last.kafka_partition, last.kafka_offset];
        }
      }
      const decode = (bytes: Buffer) => decodeBytes(bytes);
      const v1 = await verifyLog(legacy(), legacyCheckpoints, trust, decode);
      const v2 = v1.ok ? await verifyChains(chains(), checkpoints(true), trust, decode, { signedOnRecords: true }) : undefined;
      const report = storeReport(v1, v2);
      const extra = report.ok ? await extraSearchRow(client) : undefined;
      await client.query('COMMIT');
      return extra ? { ...report, ok: false, firstBad: extra } : report;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new AppError('AUDIT_STORE_UNAVAILABLE', { cause: err });
    } finally {
      client.release();
    }
  }

  /** Per partition, the highest offset of a format 1 record (stored before the partition chains; their topic is not recorded). */
  async legacyMaxOffsets(): Promise<Map<number, string>> {
    const r = await this.pool.query<{ p: number; o: string }>(
      'SELECT kafka_partition AS p, max(kafka_offset)::text AS o FROM audit_events WHERE kafka_topic IS NULL GROUP BY kafka_partition',
    );
    return new Map(r.rows.map((x) => [x.p, x.o]));
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
  ): Promise<{ seq: number; kind: string; lastSeq?: number; createdAt: string; keyId: string; body: string; signature: string }[]> {
    const r = await this.pool.query<{ seq: string; kind: string; last_seq: string | null; created_at: Date; key_id: string; body: string; signature: Buffer }>(
      'SELECT seq, kind, last_seq, created_at, key_id, body, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT $1',
      [limit],
    );
    return r.rows.map((x) => ({
      seq: Number(x.seq),
      kind: x.kind,
      // Format 1 checkpoints only: a checkpoint of chain heads names its offsets in its body.
      ...(x.last_seq === null ? {} : { lastSeq: Number(x.last_seq) }),
      createdAt: x.created_at.toISOString(),
      keyId: x.key_id,
      body: x.body,
      signature: x.signature.toString('base64'),
    }));
  }

  /**
   * Signs and stores a checkpoint of every partition chain's head (the vector of heads), unless no
   * head moved since the latest one. Returns it (to be published as a witness), or undefined.
   */
  async checkpointHeads(sign: HeadsSigner, origin: string): Promise<SignedHeads | undefined> {
    const client = await this.connect();
    try {
      const heads = await this.heads(client);
      if (!heads.length) return undefined;
      const latest = await client.query<{ body: string }>(`SELECT body FROM audit_checkpoints WHERE body LIKE $1 ORDER BY seq DESC LIMIT 1`, [
        `${HEADS_FORMAT}%`,
      ]);
      const before = latest.rows[0] && decodeHeads(latest.rows[0].body);
      const moved = (h: ChainHead) => !before?.heads.some((b) => b.topic === h.topic && b.partition === h.partition && b.lastOffset === h.lastOffset);
      if (before && !heads.some(moved)) return undefined;
      const signed = sign({ origin, kind: 'periodic', time: new Date(), heads });
      const ins = await client.query<{ seq: string }>('INSERT INTO audit_checkpoints (kind, key_id, body, signature) VALUES ($1, $2, $3, $4) RETURNING seq', [
        'periodic',
        signed.keyId,
        signed.body,
        signed.signature,
      ]);
      return { seq: Number(ins.rows[0]!.seq), ...signed };
    } catch (err) {
      throw new AppError('AUDIT_STORE_UNAVAILABLE', { cause: err });
    } finally {
      client.release();
    }
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
      const last = await client.query<{ last_seq: string }>('SELECT last_seq FROM audit_checkpoints WHERE last_seq IS NOT NULL ORDER BY last_seq DESC LIMIT 1');
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
          WHERE seq = coalesce((SELECT min(seq) FROM audit_events WHERE kafka_topic IS NULL AND ingested_at >= $1),
                               (SELECT max(seq) FROM audit_events WHERE kafka_topic IS NULL))`,
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
      throw purgeError(err);
    } finally {
      client.release();
    }
  }

  /** Every partition chain's first and last record (a skip scan over the chain index). */
  private async heads(client: pg.PoolClient): Promise<ChainHead[]> {
    const r = await client.query<{
      kafka_topic: string;
      kafka_partition: number;
      first_offset: string;
      first_prev: Buffer;
      last_offset: string;
      last_hash: Buffer;
    }>(
      `${CHAINS}
       SELECT c.kafka_topic, c.kafka_partition, f.kafka_offset::text AS first_offset, f.prev_hash AS first_prev, l.kafka_offset::text AS last_offset, l.hash AS last_hash
         FROM c,
         LATERAL (SELECT kafka_offset, prev_hash FROM audit_events WHERE kafka_topic IS NOT NULL AND kafka_topic = c.kafka_topic
                    AND kafka_partition = c.kafka_partition ORDER BY kafka_offset LIMIT 1) f,
         LATERAL (SELECT kafka_offset, hash FROM audit_events WHERE kafka_topic IS NOT NULL AND kafka_topic = c.kafka_topic
                    AND kafka_partition = c.kafka_partition ORDER BY kafka_offset DESC LIMIT 1) l`,
    );
    return r.rows.map((x) => ({
      topic: x.kafka_topic,
      partition: x.kafka_partition,
      firstOffset: x.first_offset,
      firstPrev: x.first_prev,
      lastOffset: x.last_offset,
      lastHash: x.last_hash,
    }));
  }

  /**
   * The retention purge of the partition chains: in each chain, every record before the first one
   * ingested at or after `before` (the newest is always kept). One signed purge anchor names each
   * chain's first kept record and the hash it links to; then audit_purge_chain() (SECURITY
   * DEFINER: the floor, the anchor, nothing younger) deletes, in the same transaction.
   */
  async purgeChains(before: Date, sign: HeadsSigner, origin: string): Promise<{ deleted: number; chains: number; anchor?: number }> {
    const client = await this.connect();
    try {
      await client.query('BEGIN');
      const purge: ChainHead[] = [];
      for (const h of await this.heads(client)) {
        const keep = await client.query<{ o: string; prev_hash: Buffer }>(
          `SELECT kafka_offset::text AS o, prev_hash FROM audit_events WHERE kafka_topic = $1 AND kafka_partition = $2
              AND kafka_offset = coalesce((SELECT min(kafka_offset) FROM audit_events WHERE kafka_topic = $1 AND kafka_partition = $2 AND ingested_at >= $3), $4::bigint)`,
          [h.topic, h.partition, before.toISOString(), h.lastOffset],
        );
        const k = keep.rows[0];
        if (k && BigInt(k.o) > BigInt(h.firstOffset)) purge.push({ ...h, firstOffset: k.o, firstPrev: k.prev_hash });
      }
      if (!purge.length) {
        await client.query('COMMIT');
        return { deleted: 0, chains: 0 };
      }
      const signed = sign({ origin, kind: 'purge', time: new Date(), heads: purge });
      const ins = await client.query<{ seq: string }>('INSERT INTO audit_checkpoints (kind, key_id, body, signature) VALUES ($1, $2, $3, $4) RETURNING seq', [
        'purge',
        signed.keyId,
        signed.body,
        signed.signature,
      ]);
      let deleted = 0;
      for (const h of purge) {
        const r = await client.query<{ n: string }>('SELECT audit_purge_chain($1, $2, $3, $4) AS n', [
          h.topic,
          h.partition,
          h.firstOffset,
          before.toISOString(),
        ]);
        deleted += Number(r.rows[0]?.n ?? 0);
      }
      await client.query('COMMIT');
      return { deleted, chains: purge.length, anchor: Number(ins.rows[0]!.seq) };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw purgeError(err);
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
      `(SELECT seq, prev_hash, hash, 'first' AS which FROM audit_events WHERE kafka_topic IS NULL ORDER BY seq LIMIT 1)
       UNION ALL (SELECT seq, prev_hash, hash, 'last' AS which FROM audit_events WHERE kafka_topic IS NULL ORDER BY seq DESC LIMIT 1)`,
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
