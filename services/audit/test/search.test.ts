// phigate-test: stack
import assert from 'node:assert/strict';
import { createPublicKey, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { encodeEvent } from '@phigate/bus';
import { uniqueName } from '@phigate/testkit';
import { type HeadsSigner, PgAuditStore } from '../src/adapters/store/pg-store.js';
import { signHeads, type Trust } from '../src/domain/checkpoint.js';
import { allowedQuery, consumed, context, legacyAppend, scratchStore, stackCheckpointKey } from './helpers.js';

// The auditor search reads audit_search, derived from the records behind the writers (ADR 0011).
// A database of its own: tampering needs a superuser with the triggers off.

const ORIGIN = 'phigate-audit';
const { key } = stackCheckpointKey();
const trust: Trust = { keys: [{ publicKey: createPublicKey(key) }], origin: ORIGIN };
const signH: HeadsSigner = (c) => signHeads(c, key);

test('the append table carries only its key, the event id and the chain positions; search indexes live on audit_search', async (t) => {
  const db = await scratchStore();
  t.after(() => db.drop());
  const names = async (table: string) =>
    (await db.admin.query<{ n: string }>('SELECT indexname AS n FROM pg_indexes WHERE tablename = $1 ORDER BY 1', [table])).rows.map((r) => r.n);
  assert.deepEqual(await names('audit_events'), [
    'audit_events_chain_idx',
    'audit_events_id_key',
    // Partial: only format 1 records (no longer written) enter these two.
    'audit_events_ingested_legacy_idx',
    'audit_events_legacy_seq_idx',
    'audit_events_pkey',
  ]);
  assert.ok((await names('audit_search')).includes('audit_search_statement_columns_idx'));
});

test('search rows are derived behind the writers, chain by chain; search finds events once indexed; verify covers every search column', async (t) => {
  const db = await scratchStore();
  t.after(() => db.drop());
  const store = new PgAuditStore(db.app);
  const topic = uniqueName('audit-search');
  const subject = `search-${randomUUID()}`;
  const first = context(subject);
  const events = [...allowedQuery(first), ...allowedQuery(context(subject))];
  const raws = events.map((e) => encodeEvent(e));
  // Offset 10: quarantined (not an event); 11: a duplicate of offset 0.
  raws.push(Buffer.from('{"not": "an event"}'), raws[0]!);
  const at = (raw: Buffer[], partition: number, from: number) =>
    raw.map((r, i) => ({ topic, partition, offset: String(from + i), key: null, raw: r, ...(i < events.length ? { event: events[i]! } : {}) }));
  await store.append(at(raws, 0, 0));
  await legacyAppend(db.app, consumed(allowedQuery(context(subject))));

  // Stored, not yet indexed: not searchable, and not a problem for verify.
  assert.deepEqual(await store.search({ identity: subject }, 0, 100), []);
  assert.equal((await store.verify(trust)).ok, true);
  assert.equal(await store.indexSearch(), raws.length + 5);
  assert.equal(await store.indexSearch(), 0, 'nothing twice');
  const found = await store.search({ identity: subject }, 0, 100);
  assert.equal(found.length, events.length + 5);
  assert.deepEqual(
    (await store.timeline(first.requestId)).map((e) => (e as { type: string }).type),
    allowedQuery(first).map((e) => e.type),
  );
  assert.equal((await store.sessionEvents(first.sessionId!, 100)).length, 5);
  assert.equal((await store.search({ identity: subject, table: 'public.patients' }, 0, 100)).length, events.length + 5);
  assert.equal((await store.search({ identity: subject, columns: ['patients.ssn'] }, 0, 100)).length, events.length + 5);
  assert.equal((await store.search({ identity: subject, decision: 'ACTION_DENY' }, 0, 100)).length, 0);
  assert.equal((await store.search({ identity: subject, decision: 'ACTION_ALLOW', type: 'query.completed' }, 0, 100)).length, 3);

  // The indexer goes on from each chain's position (one row per record, events or not).
  await store.append(at(raws.slice(0, 5), 0, 12));
  await store.append(at(raws.slice(0, 5), 1, 0));
  assert.equal(await store.indexSearch(), 10);
  assert.ok(await store.checkpointHeads(signH, ORIGIN));
  const clean = await store.verify(trust);
  assert.equal(clean.ok, true, JSON.stringify(clean.firstBad));

  await db.admin.query('CREATE TABLE search_restore AS SELECT * FROM audit_search');
  /** Runs `sql` as a superuser with the triggers off. */
  const superuser = async (sql: string) => {
    const c = await db.admin.connect();
    try {
      await c.query('BEGIN');
      await c.query("SET LOCAL session_replication_role = 'replica'");
      await c.query(sql);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
  };
  /** Runs `sql` as a superuser, verifies, then restores the search table. */
  const edit = async (sql: string) => {
    await superuser(sql);
    const bad = (await store.verify(trust)).firstBad;
    await superuser('DELETE FROM audit_search; INSERT INTO audit_search SELECT * FROM search_restore');
    assert.equal((await store.verify(trust)).ok, true, 'restored');
    return bad;
  };
  const where = (o: number) => `kafka_topic = '${topic}' AND kafka_partition = 0 AND kafka_offset = ${o}`;
  // Offset 0 is a query.received, 1 a policy.decided: every search column is derived from a hashed record.
  const edits: [string, string, number][] = [
    ['request_id', `UPDATE audit_search SET request_id = 'other' WHERE ${where(2)}`, 2],
    ['type', `UPDATE audit_search SET type = 'query.completed' WHERE ${where(2)}`, 2],
    ['event_time', `UPDATE audit_search SET event_time = event_time + interval '1 microsecond' WHERE ${where(2)}`, 2],
    ['identity_subject', `UPDATE audit_search SET identity_subject = 'someone-else' WHERE ${where(2)}`, 2],
    ['connection', `UPDATE audit_search SET connection = NULL WHERE ${where(2)}`, 2],
    ['session_id', `UPDATE audit_search SET session_id = 'other' WHERE ${where(2)}`, 2],
    ['decision', `UPDATE audit_search SET decision = 'ACTION_DENY' WHERE ${where(1)}`, 1],
    ['tables', `UPDATE audit_search SET tables = '{}' WHERE ${where(0)}`, 0],
    ['columns', `UPDATE audit_search SET columns = array_remove(columns, 'patients.ssn') WHERE ${where(0)}`, 0],
    ['identity_subject', `UPDATE audit_search SET identity_subject = 'planted' WHERE ${where(10)}`, 10],
    ['kafka_offset', `UPDATE audit_search SET kafka_offset = 99 WHERE ${where(3)}`, 3],
    // A deleted search row hides the event from every search: missing below the indexer's position.
    ['row', `DELETE FROM audit_search WHERE ${where(4)}`, 4],
  ];
  for (const [column, sql, offset] of edits) {
    const bad = await edit(sql);
    assert.deepEqual([bad?.reason, bad?.column, bad?.offset], ['search_mismatch', `search.${column}`, String(offset)], `${column}: ${JSON.stringify(bad)}`);
  }
  const legacy = await edit(`UPDATE audit_search SET identity_subject = 'other' WHERE kafka_topic IS NULL AND type = 'query.completed'`);
  assert.deepEqual([legacy?.reason, legacy?.column], ['search_mismatch', 'search.identity_subject']);
  assert.ok(legacy?.seq);
  const extra = await edit(`INSERT INTO audit_search (seq, kafka_partition, kafka_offset, identity_subject) VALUES (1000000, 0, 0, 'ghost')`);
  assert.deepEqual([extra?.reason, extra?.seq], ['search_row_extra', 1000000]);
  // The newest search rows of a chain deleted: not yet indexed as far as verify can tell, and the
  // indexer derives them again.
  await superuser(`DELETE FROM audit_search WHERE kafka_topic = '${topic}' AND kafka_partition = 0 AND kafka_offset >= 14`);
  assert.equal((await store.verify(trust)).ok, true);
  assert.equal(await store.indexSearch(), 3);
  // (Those later records are copies of stored event ids: duplicates, in the chain but not searchable as events.)
  assert.equal((await store.search({ identity: subject }, 0, 100)).length, events.length + 5);
  // The search table is append-only for the app role.
  await assert.rejects(db.app.query('DELETE FROM audit_search'), (err: { code?: string }) => err.code === '42501');
});
