import { checkpointProblem, GENESIS, PROBLEMS, type Problem, type StoredCheckpoint, type VerifyReport } from './chain.js';
import { decodeHeads, HEADS_FORMAT, type Trust } from './checkpoint.js';
import { classify, type DecodedEvent, type DerivedColumns, mismatchedColumn, NO_COLUMNS, type RecordHeader, recordHash } from './record.js';

/** One stored format 2 record, as verification reads it. */
export interface StoredRecord extends RecordHeader {
  seq: number;
  prevHash: Buffer;
  hash: Buffer;
  /** The payload column (json text): set for events only. */
  payload: string | null;
  /** The raw column: set for quarantined and duplicate records only. */
  raw: Buffer | null;
  /** The search columns as stored. */
  columns: DerivedColumns;
  /** The column of the record's search row that differs from its derivation (`row`: the row is missing), if one does. */
  searchMismatch?: string | undefined;
  /**
   * With `signedOnRecords`: a checkpoint (its seq) that signed this record's offset with another
   * hash, found by the store; the signed hashes then stay out of memory.
   */
  signedMismatch?: number | undefined;
}

/** How {@link verifyChains} matches records with the heads the checkpoints signed. */
export interface VerifyChainsOptions {
  /**
   * The records carry `signedMismatch` (the store compared them with every signed head): only the
   * checkpoints' per-chain summary is kept in memory, whatever their number.
   */
  signedOnRecords?: boolean;
}

/** One partition's chain as verified. */
export interface ChainExtent {
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  records: number;
  /** Records after the newest signed head of this chain. */
  unsigned: number;
  /** The purge anchor (a checkpoint seq) the chain's first record was checked against, if purged. */
  anchoredBy?: number;
}

/** The outcome of verifying the per-partition chains. */
export interface ChainsReport {
  ok: boolean;
  checked: number;
  chains: ChainExtent[];
  firstBad?: Problem;
  checkpoints: { checked: number; latest?: { seq: number; time: string } };
}

const chainKey = (topic: string, partition: number) => `${topic}\u0001${partition}`;

/** True for a checkpoint of chain heads (format 2), false for a format 1 checkpoint. */
export const isHeadsCheckpoint = (c: StoredCheckpoint): boolean => c.body.startsWith(`${HEADS_FORMAT}\n`);

/**
 * Verifies the per-partition chains: every heads checkpoint's signature (by a key trusted for its
 * time; an array is taken in seq order, a stream must come in seq order), then each chain in offset order: contiguous offsets, increasing seq, links, hashes over
 * header and exact bytes, every search column re-derived from the bytes, and each signed head
 * matched, with a chain shorter than its newest signed head reported with the offsets lost.
 * `decode` is the event contract's decoder (undefined when the text is not an event). Stops at the
 * first problem and says where: topic, partition, offset, seq and, for a column, its name.
 */
export async function verifyChains(
  records: AsyncIterable<StoredRecord> | Iterable<StoredRecord>,
  checkpoints: readonly StoredCheckpoint[] | AsyncIterable<StoredCheckpoint>,
  trust: Trust,
  decode: (bytes: Buffer) => DecodedEvent | undefined,
  options: VerifyChainsOptions = {},
): Promise<ChainsReport> {
  const report: ChainsReport = { ok: true, checked: 0, chains: [], checkpoints: { checked: 0 } };
  const fail = (p: Omit<Problem, 'message'>): ChainsReport => ({ ...report, ok: false, firstBad: { ...p, message: PROBLEMS[p.reason] } });
  // Per chain: the hash each signed head expects at its offset (unless the records carry the
  // comparison), and the newest signed head.
  const expected = new Map<string, Map<string, { hash: Buffer; checkpoint: number }>>();
  const newest = new Map<string, { topic: string; partition: number; first: string; offset: bigint; checkpoint: number }>();
  // Per chain: the latest purge anchor, where the chain may start instead of genesis.
  const anchors = new Map<string, { offset: string; prev: Buffer; checkpoint: number }>();
  const ordered = Array.isArray(checkpoints) ? [...(checkpoints as readonly StoredCheckpoint[])].sort((a, b) => a.seq - b.seq) : checkpoints;
  for await (const c of ordered) {
    const body = decodeHeads(c.body);
    const reason = checkpointProblem(c, body, trust);
    if (reason || !body) return fail({ reason: reason ?? 'checkpoint_malformed', checkpoint: c.seq });
    for (const h of body.heads) {
      const k = chainKey(h.topic, h.partition);
      if (body.kind === 'purge') anchors.set(k, { offset: h.firstOffset, prev: h.firstPrev, checkpoint: c.seq });
      if (!options.signedOnRecords) {
        const m = expected.get(k) ?? new Map();
        m.set(h.lastOffset, { hash: h.lastHash, checkpoint: c.seq });
        expected.set(k, m);
      }
      const n = newest.get(k);
      if (!n || BigInt(h.lastOffset) >= n.offset)
        newest.set(k, { topic: h.topic, partition: h.partition, first: h.firstOffset, offset: BigInt(h.lastOffset), checkpoint: c.seq });
    }
    report.checkpoints.checked++;
    report.checkpoints.latest = { seq: c.seq, time: body.time.toISOString() };
  }

  let cur: ChainExtent | undefined;
  let prev: StoredRecord | undefined;
  const closeChain = (): ChainsReport | undefined => {
    if (!cur || !prev) return undefined;
    const n = newest.get(chainKey(cur.topic, cur.partition));
    newest.delete(chainKey(cur.topic, cur.partition));
    if (n && n.offset > BigInt(cur.lastOffset))
      return fail({
        reason: 'records_missing_at_end',
        topic: cur.topic,
        partition: cur.partition,
        checkpoint: n.checkpoint,
        offsets: { from: (BigInt(cur.lastOffset) + 1n).toString(), to: n.offset.toString() },
        after: { seq: prev.seq, id: prev.columns.id ?? '', offset: prev.offset },
      });
    if (n) cur.unsigned = Number(BigInt(cur.lastOffset) - n.offset);
    report.chains.push(cur);
    return undefined;
  };
  for await (const r of records) {
    const sameChain = cur && cur.topic === r.topic && cur.partition === r.partition;
    const where = { topic: r.topic, partition: r.partition, offset: r.offset, seq: r.seq, id: r.columns.id ?? undefined };
    const after = sameChain && prev ? { seq: prev.seq, id: prev.columns.id ?? '', offset: prev.offset } : undefined;
    if (!sameChain) {
      const bad = closeChain();
      if (bad) return bad;
      cur = { topic: r.topic, partition: r.partition, firstOffset: r.offset, lastOffset: r.offset, records: 0, unsigned: 0 };
      prev = undefined;
      const anchor = anchors.get(chainKey(r.topic, r.partition));
      if (anchor) {
        if (r.offset !== anchor.offset || !r.prevHash.equals(anchor.prev)) return fail({ reason: 'anchor_mismatch', ...where, checkpoint: anchor.checkpoint });
        cur.anchoredBy = anchor.checkpoint;
      } else if (!r.prevHash.equals(GENESIS)) return fail({ reason: 'unanchored_start', ...where });
    } else if (prev) {
      const next = BigInt(prev.offset) + 1n;
      if (BigInt(r.offset) !== next)
        return fail({ reason: 'offsets_missing', ...where, offsets: { from: next.toString(), to: (BigInt(r.offset) - 1n).toString() }, after });
      if (r.seq <= prev.seq) return fail({ reason: 'order_broken', ...where, after });
      if (!r.prevHash.equals(prev.hash)) return fail({ reason: 'link_broken', ...where, after });
    }
    const bytes = r.status === 'event' ? (r.payload === null ? undefined : Buffer.from(r.payload, 'utf8')) : (r.raw ?? undefined);
    if (!bytes || (r.status === 'event' ? r.raw !== null : r.payload !== null)) return fail({ reason: 'status_invalid', ...where, after });
    if (!r.hash.equals(recordHash(r.prevHash, r, bytes))) return fail({ reason: 'record_edited', ...where, after });
    let derived = NO_COLUMNS;
    if (r.status === 'event') {
      const c = classify(bytes, decode(bytes), r.ingestedAt);
      if (!c.storable) return fail({ reason: 'status_invalid', ...where, after });
      derived = c.columns;
    }
    const column = mismatchedColumn(derived, r.columns);
    if (column) return fail({ reason: 'column_mismatch', ...where, column, after });
    if (r.searchMismatch) return fail({ reason: 'search_mismatch', ...where, column: `search.${r.searchMismatch}`, after });
    const cp = expected.get(chainKey(r.topic, r.partition))?.get(r.offset);
    const signedOther = options.signedOnRecords ? r.signedMismatch : cp && !cp.hash.equals(r.hash) ? cp.checkpoint : undefined;
    if (signedOther !== undefined) return fail({ reason: 'checkpoint_mismatch', ...where, checkpoint: signedOther, after });
    cur!.lastOffset = r.offset;
    cur!.records++;
    prev = r;
    report.checked++;
  }
  const bad = closeChain();
  if (bad) return bad;
  // A signed chain with no record left at all: every signed offset was deleted.
  for (const n of newest.values())
    return fail({
      reason: 'records_missing_at_end',
      topic: n.topic,
      partition: n.partition,
      checkpoint: n.checkpoint,
      offsets: { from: n.first, to: n.offset.toString() },
    });
  return report;
}

/** The whole store's report: the format 1 chain's fields as before, and the partition chains. */
export interface StoreReport extends VerifyReport {
  chains: ChainExtent[];
}

/** Combines the format 1 report and the partition chains' report (undefined when format 1 failed first). */
export function storeReport(v1: VerifyReport, v2: ChainsReport | undefined): StoreReport {
  if (!v2) return { ...v1, chains: [] };
  const latest =
    v2.checkpoints.latest && (!v1.checkpoints.latest || v2.checkpoints.latest.seq > v1.checkpoints.latest.seq) ? v2.checkpoints.latest : v1.checkpoints.latest;
  return {
    ...v1,
    ok: v1.ok && v2.ok,
    checked: v1.checked + v2.checked,
    ...(v2.firstBad ? { firstBad: v2.firstBad } : {}),
    checkpoints: { checked: v1.checkpoints.checked + v2.checkpoints.checked, ...(latest ? { latest } : {}) },
    uncheckpointed: v1.uncheckpointed + v2.chains.reduce((n, c) => n + c.unsigned, 0),
    chains: v2.chains,
  };
}

/** One partition of the topic as Kafka reports it: the retained start and the group's committed offset (-1: none). */
export interface PartitionPosition {
  partition: number;
  low: string;
  committed: string;
}

/**
 * Cross-checks the verified chains against the topic: every offset the consumer group committed
 * (below its committed position) must be stored. A chain that ends before the committed position
 * lost its tail; a partition with committed offsets and no chain lost them all, unless format 1
 * records (stored before the partition chains, `legacyMax` per partition) reach that far.
 */
export function crossCheck(
  topic: string,
  chains: readonly ChainExtent[],
  positions: readonly PartitionPosition[],
  legacyMax = new Map<number, string>(),
): Problem | undefined {
  for (const p of [...positions].sort((a, b) => a.partition - b.partition)) {
    const end = BigInt(p.committed) - 1n;
    if (end < BigInt(p.low)) continue;
    const chain = chains.find((c) => c.topic === topic && c.partition === p.partition);
    const stored = chain ? BigInt(chain.lastOffset) : BigInt(legacyMax.get(p.partition) ?? '-1');
    if (stored >= end) continue;
    const from = stored + 1n > BigInt(p.low) ? stored + 1n : BigInt(p.low);
    return {
      reason: 'offsets_missing_at_end',
      message: PROBLEMS.offsets_missing_at_end,
      topic,
      partition: p.partition,
      offsets: { from: from.toString(), to: end.toString() },
    };
  }
  return undefined;
}
