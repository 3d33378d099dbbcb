import { createHash } from 'node:crypto';
import { type Checkpoint, checkSignature, decodeCheckpoint, type Trust, trustedKeyAt } from './checkpoint.js';
import { type DecodedEvent, type DerivedColumns, deriveColumns, mismatchedColumn } from './record.js';

/** The hash of the record before the first: 32 zero bytes. */
export const GENESIS: Buffer = Buffer.alloc(32);

/**
 * Chain link: sha256(prev_hash || payload). The payload is the event's canonical JSON text as
 * received from Kafka, so anyone can recompute the chain from the stored rows alone.
 */
export function link(prev: Buffer, payload: string): Buffer {
  return createHash('sha256').update(prev).update(payload).digest();
}

/** One stored record, as verification reads it. */
export interface ChainRecord {
  seq: number;
  id: string;
  payload: string;
  prevHash: Buffer;
  hash: Buffer;
  /** The search columns as stored, when verification re-derives them. */
  columns?: DerivedColumns;
  /** The column of the record's search row that differs from its derivation (`row`: the row is missing), if one does. */
  searchMismatch?: string | undefined;
}

/** One stored checkpoint, as verification reads it. */
export interface StoredCheckpoint {
  seq: number;
  keyId: string;
  body: string;
  signature: Buffer;
}

/** Why verification stopped. */
export const PROBLEMS = {
  record_edited: 'the record does not hash to its stored hash: its content was changed',
  link_broken: 'the record is not chained to the record before it: a record was deleted, inserted or reordered here',
  unanchored_start: 'the first record does not start the chain and no signed purge anchor covers it: records before it were deleted',
  anchor_mismatch: 'the first record is not the one the latest signed purge anchor kept',
  checkpoint_mismatch: 'the record differs from the signed checkpoint that covers it: the chain was rewritten up to here',
  checkpoint_record_missing: 'a signed checkpoint covers a record that is no longer stored',
  records_missing_at_end: 'a signed checkpoint covers records beyond the last one stored: records were deleted from the end',
  checkpoint_malformed: 'a stored checkpoint is not a valid checkpoint',
  checkpoint_key_unknown: 'a checkpoint is signed by a key that is not trusted for the time it was signed',
  checkpoint_signature_invalid: 'a checkpoint signature does not verify',
  checkpoint_origin_mismatch: 'a checkpoint names another log (origin)',
  offsets_missing: 'offsets of this partition are missing between two stored records: records were deleted here',
  order_broken: 'the record is stored out of order (its seq does not follow the record before it): records were reordered here',
  column_mismatch: 'a stored column differs from the value derived from the hashed record: the column was edited',
  search_mismatch: "the record's search row differs from what the hashed record derives, or is missing: the search table was edited",
  search_row_extra: 'a search row names a record that is not stored: the search table was edited',
  status_invalid: 'the record holds its bytes in the wrong column for its status, or its status does not fit its bytes',
  offsets_missing_at_end: 'the consumer group committed offsets beyond the last stored record: records were deleted from the end',
  offsets_missing_at_start: 'the topic retains offsets before the first stored record of this partition: records were deleted from the start',
} as const;

/** A reason code from {@link PROBLEMS}. */
export type ProblemReason = keyof typeof PROBLEMS;

/** Where and why the store stopped verifying. `seq`/`id` name the record, `checkpoint` the checkpoint. */
export interface Problem {
  reason: ProblemReason;
  message: string;
  seq?: number;
  id?: string | undefined;
  checkpoint?: number;
  /** The chain (topic partition) and the record's offset in it, for format 2 records. */
  topic?: string;
  partition?: number;
  offset?: string;
  /** The edited column, for column_mismatch (`search.<column>` for search_mismatch). */
  column?: string;
  /** The offsets lost (inclusive), for a deletion. */
  offsets?: { from: string; to: string };
  /** The last record that verified, when there is one. */
  after?: { seq: number; id: string; offset?: string };
}

/** The outcome of verifying the store. */
export interface VerifyReport {
  ok: boolean;
  /** Records whose links verified. */
  checked: number;
  firstBad?: Problem;
  /** The first stored record, and the purge anchor it was checked against, if any. */
  first?: { seq: number; anchoredBy?: number };
  head?: { seq: number; hash: string };
  checkpoints: { checked: number; latest?: { seq: number; lastSeq?: number; time: string } };
  /** Records after the latest checkpoint: their order is chained but not yet signed. */
  uncheckpointed: number;
}

/** Why a stored checkpoint cannot be trusted (its decoded body, undefined when malformed), if it cannot. */
export function checkpointProblem(c: StoredCheckpoint, body: { time: Date; origin: string } | undefined, trust: Trust): ProblemReason | undefined {
  if (!body) return 'checkpoint_malformed';
  const key = trustedKeyAt(trust, c.keyId, body.time);
  if (!key) return 'checkpoint_key_unknown';
  if (!checkSignature(c.body, c.signature, key.publicKey)) return 'checkpoint_signature_invalid';
  if (body.origin !== trust.origin) return 'checkpoint_origin_mismatch';
  return undefined;
}

interface ParsedCheckpoint extends Checkpoint {
  seq: number;
}

/**
 * Verifies the store: every checkpoint's signature (with the trusted public key), then the hash
 * chain in seq order from the start (genesis, or the latest signed purge anchor), matching each
 * checkpoint against the record it covers. Stops at the first problem and says where.
 *
 * Seq values may have gaps (an aborted transaction consumes identity values), so gaps are not
 * evidence; the chain links are.
 */
export async function verifyLog(
  records: AsyncIterable<ChainRecord> | Iterable<ChainRecord>,
  checkpoints: readonly StoredCheckpoint[],
  trust: Trust,
  decode?: (bytes: Buffer) => DecodedEvent | undefined,
): Promise<VerifyReport> {
  const report: VerifyReport = { ok: true, checked: 0, checkpoints: { checked: 0 }, uncheckpointed: 0 };
  const fail = (p: Omit<Problem, 'message'>): VerifyReport => ({ ...report, ok: false, firstBad: { ...p, message: PROBLEMS[p.reason] } });
  const parsed: ParsedCheckpoint[] = [];
  for (const c of [...checkpoints].sort((a, b) => a.seq - b.seq)) {
    const body = decodeCheckpoint(c.body);
    const reason = checkpointProblem(c, body, trust);
    if (reason || !body) return fail({ reason: reason ?? 'checkpoint_malformed', checkpoint: c.seq });
    parsed.push({ ...body, seq: c.seq });
    report.checkpoints.checked++;
  }
  const latestCp = parsed.reduce<ParsedCheckpoint | undefined>((a, c) => (!a || c.lastSeq >= a.lastSeq ? c : a), undefined);
  if (latestCp) report.checkpoints.latest = { seq: latestCp.seq, lastSeq: latestCp.lastSeq, time: latestCp.time.toISOString() };
  const anchor = parsed.filter((c) => c.kind === 'purge').at(-1);
  // Checkpoints of records a purge removed cannot be matched any more; their signatures were checked.
  const pending = parsed.filter((c) => !anchor || c.lastSeq >= anchor.firstSeq).sort((a, b) => a.lastSeq - b.lastSeq);
  let next = 0;
  let prev: Buffer | undefined;
  let last: ChainRecord | undefined;
  for await (const r of records) {
    if (!last) {
      report.first = { seq: r.seq };
      if (anchor) {
        if (r.seq !== anchor.firstSeq || !r.prevHash.equals(anchor.firstPrev))
          return fail({ reason: 'anchor_mismatch', seq: r.seq, id: r.id, checkpoint: anchor.seq });
        report.first.anchoredBy = anchor.seq;
      } else if (!r.prevHash.equals(GENESIS)) return fail({ reason: 'unanchored_start', seq: r.seq, id: r.id });
      prev = r.prevHash;
    }
    const after = last ? { seq: last.seq, id: last.id } : undefined;
    if (!r.prevHash.equals(prev as Buffer)) return fail({ reason: 'link_broken', seq: r.seq, id: r.id, after });
    if (!r.hash.equals(link(prev as Buffer, r.payload))) return fail({ reason: 'record_edited', seq: r.seq, id: r.id, after });
    if (decode && r.columns) {
      // Format 1 stored the ingestion time when an event had none: only a present time is derivable.
      const e = decode(Buffer.from(r.payload, 'utf8'));
      const column = e ? mismatchedColumn(deriveColumns(e, r.columns.event_time ?? ''), r.columns) : undefined;
      if (column) return fail({ reason: 'column_mismatch', seq: r.seq, id: r.id, column, after });
    }
    if (r.searchMismatch) return fail({ reason: 'search_mismatch', seq: r.seq, id: r.id, column: `search.${r.searchMismatch}`, after });
    while (next < pending.length && pending[next]!.lastSeq <= r.seq) {
      const c = pending[next]!;
      if (c.lastSeq < r.seq) return fail({ reason: 'checkpoint_record_missing', seq: c.lastSeq, checkpoint: c.seq, after });
      if (!c.lastHash.equals(r.hash)) return fail({ reason: 'checkpoint_mismatch', seq: r.seq, id: r.id, checkpoint: c.seq, after });
      next++;
    }
    prev = r.hash;
    last = r;
    report.checked++;
    if (r.seq > (latestCp?.lastSeq ?? 0)) report.uncheckpointed++;
  }
  const after = last ? { seq: last.seq, id: last.id } : undefined;
  if (next < pending.length) {
    const c = pending[next]!;
    return fail({ reason: 'records_missing_at_end', seq: c.lastSeq, checkpoint: c.seq, after });
  }
  if (last) report.head = { seq: last.seq, hash: last.hash.toString('hex') };
  return report;
}
