// The chain-free baseline `npm run bench` compares the store's append with: the same messages,
// classified the same way, written with the same multi-row INSERT into the same table, but with
// no chain (no lock, no head, no duplicate check, no hash). Not a way to store evidence.
import type { ConsumedMessage } from '@phigate/bus';
import type pg from 'pg';
import { classify, NO_COLUMNS, usecIso } from '../../domain/record.js';
import { insertRows, type Row } from './pg-store.js';

const ZERO = Buffer.alloc(32);

/** Writes `messages` (one partition's batch) without a chain, in one statement. */
export async function appendUnchained(client: pg.ClientBase, messages: ConsumedMessage[]): Promise<void> {
  const ingestedAt = usecIso(new Date());
  const rows = messages.map((m): Row => {
    const c = classify(m.raw, m.event, ingestedAt);
    const header = { topic: m.topic, partition: m.partition, offset: m.offset, status: c.storable ? 'event' : 'quarantined', ingestedAt } as const;
    return c.storable
      ? { header, columns: c.columns, payload: c.text, raw: null, prev: ZERO, hash: ZERO }
      : { header, columns: NO_COLUMNS, payload: null, raw: m.raw, prev: ZERO, hash: ZERO };
  });
  await insertRows(client, rows);
}
