import { createHash } from 'node:crypto';

/** The hash of the record before the first: 32 zero bytes. */
export const GENESIS: Buffer = Buffer.alloc(32);

/**
 * Chain link: sha256(prev_hash || payload). The payload is the event's canonical JSON text as
 * received from Kafka, so anyone can recompute the chain from the stored rows alone.
 */
export function link(prev: Buffer, payload: string): Buffer {
  return createHash('sha256').update(prev).update(payload).digest();
}

/** Walks records in order and returns the first whose hash does not follow from its predecessor. */
export function verifyChain(
  records: Iterable<{ seq: number; payload: string; prevHash: Buffer; hash: Buffer }>,
  start: Buffer = GENESIS,
): { ok: boolean; checked: number; firstBad?: number } {
  let prev = start;
  let checked = 0;
  for (const r of records) {
    if (!r.prevHash.equals(prev) || !r.hash.equals(link(prev, r.payload))) return { ok: false, checked, firstBad: r.seq };
    prev = r.hash;
    checked++;
  }
  return { ok: true, checked };
}
