import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import type { AppError } from '@phigate/errors';
import { pino } from 'pino';
import { encodeFrame, FileOutbox, MemorySpool, type OutboxRecord } from './outbox.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'phigate-outbox-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const rec = (i: number, key = `req-${i % 7}`): OutboxRecord => ({
  key,
  value: Buffer.from(JSON.stringify({ id: `ev-${i}`, n: i, pad: 'x'.repeat(i % 50) })),
  traceparent: i % 2 ? `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` : undefined,
});

const segments = (dir: string) =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.seg'))
    .sort();

async function readAll(o: FileOutbox, ack = true): Promise<OutboxRecord[]> {
  const out: OutboxRecord[] = [];
  for (;;) {
    const b = await o.read(100, 4096);
    if (b.records.length === 0) return out;
    out.push(...b.records);
    if (ack) await o.ack(b);
    else return out;
  }
}

test('records come back in order, byte for byte, across segment files; a drained outbox holds no files', async (t) => {
  const dir = tempDir(t);
  const o = await FileOutbox.open({ dir, log: capture().log, segmentBytes: 1024 });
  const all = Array.from({ length: 200 }, (_, i) => rec(i));
  for (let i = 0; i < all.length; i += 10) await o.append(all.slice(i, i + 10));
  assert.equal(o.pendingEvents, 200);
  assert.ok(segments(dir).length > 3, 'rolled to several segments');
  const got = await readAll(o);
  assert.deepEqual(
    got.map((r) => [r.key, r.value.toString(), r.traceparent]),
    all.map((r) => [r.key, r.value.toString(), r.traceparent]),
  );
  assert.equal(o.pendingEvents, 0);
  assert.equal(o.pendingBytes, 0);
  assert.deepEqual(readdirSync(dir), []);
  await o.append([rec(1)]);
  assert.equal(segments(dir).length, 1, 'appending again after a full drain starts a new segment');
  await o.close();
});

test('group commit: many concurrent appends share few fsyncs and resolve in order', async (t) => {
  const dir = tempDir(t);
  const o = await FileOutbox.open({ dir, log: capture().log });
  const order: number[] = [];
  await Promise.all(Array.from({ length: 500 }, (_, i) => o.append([rec(i)]).then(() => order.push(i))));
  assert.deepEqual(
    order,
    Array.from({ length: 500 }, (_, i) => i),
  );
  assert.ok(o.syncCount < 50, `500 appends used ${o.syncCount} fsyncs`);
  const got = await readAll(o);
  assert.deepEqual(
    got.map((r) => JSON.parse(r.value.toString()).n),
    Array.from({ length: 500 }, (_, i) => i),
  );
  await o.close();
});

test('the read position survives a restart; acknowledged records are not read again', async (t) => {
  const dir = tempDir(t);
  let o = await FileOutbox.open({ dir, log: capture().log, segmentBytes: 2048 });
  await o.append(Array.from({ length: 100 }, (_, i) => rec(i)));
  const first = await o.read(30, 1 << 20);
  assert.equal(first.records.length, 30);
  await o.ack(first);
  await o.close();

  o = await FileOutbox.open({ dir, log: capture().log, segmentBytes: 2048 });
  assert.equal(o.pendingEvents, 70);
  await o.append([rec(100)]);
  const rest = await readAll(o);
  assert.deepEqual(
    rest.map((r) => JSON.parse(r.value.toString()).n),
    Array.from({ length: 71 }, (_, i) => i + 30),
  );
  await o.close();
});

test('a lost or stale checkpoint re-sends from the oldest segment (duplicates, never loss)', async (t) => {
  const dir = tempDir(t);
  let o = await FileOutbox.open({ dir, log: capture().log });
  await o.append(Array.from({ length: 10 }, (_, i) => rec(i)));
  await o.ack(await o.read(4, 1 << 20));
  await o.close();
  writeFileSync(join(dir, 'checkpoint.json'), JSON.stringify({ segment: 0, offset: 3 })); // not a record boundary
  const { log, lines } = capture();
  o = await FileOutbox.open({ dir, log });
  assert.equal(o.pendingEvents, 10);
  assert.ok(lines.some((l) => l.msg === 'audit outbox: checkpoint not usable, re-sending from the oldest segment'));
  await o.close();
});

test('a torn last record (crash during a write) is truncated with a warning; earlier records survive', async (t) => {
  const dir = tempDir(t);
  let o = await FileOutbox.open({ dir, log: capture().log });
  await o.append([rec(1), rec(2), rec(3)]);
  await o.close();
  const [seg] = segments(dir);
  const file = join(dir, seg as string);
  const size = statSync(file).size;
  truncateSync(file, size - 5); // cut inside the last record

  const { log, lines } = capture();
  o = await FileOutbox.open({ dir, log });
  assert.equal(o.pendingEvents, 2);
  const warn = lines.find((l) => l.msg === 'audit outbox: torn tail record truncated');
  assert.ok(warn, 'the truncation is reported');
  assert.equal(warn.reason, 'short');
  assert.equal(statSync(file).size, size - encodeFrame(rec(3)).length);
  await o.append([rec(4)]);
  assert.deepEqual(
    (await readAll(o)).map((r) => JSON.parse(r.value.toString()).n),
    [1, 2, 4],
  );
  await o.close();
});

test('a torn header, a zero-filled tail and a garbled final record are all torn tails', async (t) => {
  for (const damage of ['header', 'zeros', 'garbled'] as const) {
    const dir = tempDir(t);
    let o = await FileOutbox.open({ dir, log: capture().log });
    await o.append([rec(1), rec(2)]);
    await o.close();
    const file = join(dir, segments(dir)[0] as string);
    if (damage === 'header') appendFileSync(file, Buffer.from([1, 2, 3]));
    if (damage === 'zeros') appendFileSync(file, Buffer.alloc(4096));
    if (damage === 'garbled') {
      const buf = readFileSync(file);
      buf[buf.length - 3] = (buf[buf.length - 3] as number) ^ 0xff; // last record, which ends the file
      writeFileSync(file, buf);
    }
    const { log, lines } = capture();
    o = await FileOutbox.open({ dir, log });
    assert.equal(o.pendingEvents, damage === 'garbled' ? 1 : 2, damage);
    assert.ok(
      lines.some((l) => l.msg === 'audit outbox: torn tail record truncated'),
      damage,
    );
    await o.close();
  }
});

test('damage anywhere else refuses to open with BUS_OUTBOX_CORRUPT, naming file and offset, and keeps the file', async (t) => {
  // A flipped byte in the first of three records (not a torn tail).
  let dir = tempDir(t);
  let o = await FileOutbox.open({ dir, log: capture().log });
  await o.append([rec(1), rec(2), rec(3)]);
  await o.close();
  let file = join(dir, segments(dir)[0] as string);
  const buf = readFileSync(file);
  buf[12] = (buf[12] as number) ^ 0x01;
  writeFileSync(file, buf);
  await assert.rejects(FileOutbox.open({ dir, log: capture().log }), (err: AppError) => {
    assert.equal(err.code, 'BUS_OUTBOX_CORRUPT');
    assert.equal(err.details.file, file);
    assert.equal(err.details.offset, 0);
    assert.equal(err.details.reason, 'crc');
    return true;
  });
  assert.equal(readFileSync(file).length, buf.length, 'nothing was truncated');

  // A truncated record in a segment that is not the last one.
  dir = tempDir(t);
  o = await FileOutbox.open({ dir, log: capture().log, segmentBytes: 256 });
  for (let i = 0; i < 12; i++) await o.append([rec(i)]);
  await o.close();
  const segs = segments(dir);
  assert.ok(segs.length >= 2);
  file = join(dir, segs[0] as string);
  truncateSync(file, statSync(file).size - 1);
  await assert.rejects(FileOutbox.open({ dir, log: capture().log }), (err: AppError) => err.code === 'BUS_OUTBOX_CORRUPT' && err.details.file === file);
});

test('bounded: appends past maxEvents or maxBytes are refused with BUS_OUTBOX_FULL; room returns after acks', async (t) => {
  const dir = tempDir(t);
  const o = await FileOutbox.open({ dir, log: capture().log, maxEvents: 5 });
  await o.append([rec(1), rec(2), rec(3)]);
  assert.throws(
    () => o.append([rec(4), rec(5), rec(6)]),
    (err: AppError) => err.code === 'BUS_OUTBOX_FULL' && err.details.maxEvents === 5,
  );
  assert.equal(o.pendingEvents, 3, 'a refused append adds nothing');
  await o.append([rec(4)], true); // forced: already admitted elsewhere
  await o.ack(await o.read(2, 1 << 20));
  await o.append([rec(5), rec(6)]);
  assert.equal(o.pendingEvents, 4);
  await o.close();

  const dir2 = tempDir(t);
  const small = await FileOutbox.open({ dir: dir2, log: capture().log, maxBytes: encodeFrame(rec(1)).length * 2 });
  await small.append([rec(1), rec(1)]);
  assert.throws(
    () => small.append([rec(1)]),
    (err: AppError) => err.code === 'BUS_OUTBOX_FULL',
  );
  await small.close();
});

test('an outbox whose directory cannot be created fails with BUS_OUTBOX_IO', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'file'), 'x');
  await assert.rejects(FileOutbox.open({ dir: join(dir, 'file', 'sub'), log: capture().log }), (err: AppError) => err.code === 'BUS_OUTBOX_IO');
});

test('the memory spool keeps order and bounds', async () => {
  const s = new MemorySpool({ maxEvents: 3 });
  await s.append([rec(1), rec(2)]);
  assert.throws(
    () => s.append([rec(3), rec(4)]),
    (err: AppError) => err.code === 'BUS_OUTBOX_FULL',
  );
  await s.append([rec(3)]);
  const b = await s.read(2, 1 << 20);
  assert.deepEqual(
    b.records.map((r) => JSON.parse(r.value.toString()).n),
    [1, 2],
  );
  await s.ack(b);
  assert.equal(s.pendingEvents, 1);
  const c = await s.read(10, 1 << 20);
  assert.deepEqual(
    c.records.map((r) => JSON.parse(r.value.toString()).n),
    [3],
  );
});
