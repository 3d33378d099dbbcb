import { type FileHandle, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { AppError } from '@phigate/errors';
import type { Logger } from 'pino';

/** One Kafka message held for later delivery: the event keeps its id, so a re-send is harmless. */
export interface OutboxRecord {
  key: string;
  value: Buffer;
  traceparent?: string | undefined;
}

/** Where the next unacknowledged record starts (opaque to callers). */
export interface OutboxPosition {
  readonly segment: number;
  readonly offset: number;
}

/** Records read from a spool, to be acknowledged with {@link Spool.ack} once Kafka has them. */
export interface SpoolBatch {
  readonly records: OutboxRecord[];
  readonly bytes: number;
  readonly next: OutboxPosition;
}

/**
 * An ordered, bounded holding area for events Kafka has not acknowledged: the durable
 * {@link FileOutbox}, or the {@link MemorySpool} of the `async` mode without one.
 */
export interface Spool {
  /** Records appended (or being appended) and not yet acknowledged. */
  readonly pendingEvents: number;
  /** Their size in bytes, as framed on disk. */
  readonly pendingBytes: number;
  /** Bounds this spool enforces. */
  readonly limits: { maxBytes: number; maxEvents: number };
  /** True when `count` more records of `bytes` would still fit. */
  fits(count: number, bytes: number): boolean;
  /**
   * Appends in call order. Throws `BUS_OUTBOX_FULL` synchronously when the records do not fit
   * (unless `force`: records already admitted elsewhere, never refused); otherwise the promise
   * resolves once they are durable.
   */
  append(records: OutboxRecord[], force?: boolean): Promise<void>;
  /** The oldest durable records not yet acknowledged, in append order. */
  read(maxRecords: number, maxBytes: number): Promise<SpoolBatch>;
  /** Forgets a batch from {@link read} (Kafka acknowledged it). */
  ack(batch: SpoolBatch): Promise<void>;
  /** Resolves once every append made so far is durable (or has failed). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

/** Options for {@link FileOutbox.open}. */
export interface OutboxOptions {
  /** Directory that holds the segment files; created (mode 0700) when missing. Must be on persistent storage. */
  dir: string;
  /** Most bytes held before appends are refused with `BUS_OUTBOX_FULL`. Default 256 MiB. */
  maxBytes?: number;
  /** Most events held before appends are refused with `BUS_OUTBOX_FULL`. Default 1,000,000. */
  maxEvents?: number;
  /** A new segment file is started once the current one reaches this size. Default 16 MiB. */
  segmentBytes?: number;
  log: Logger;
}

// Frame: u32 LE body length | u32 LE CRC-32 of the body | body.
// Body:  u8 version | u16 LE key length | key | u16 LE traceparent length | traceparent | value.
const HEADER = 8;
const VERSION = 1;
const MAX_BODY = 16 * 1024 * 1024;
const SEGMENT_RE = /^(\d{20})\.seg$/;
const CHECKPOINT = 'checkpoint.json';

/** Frames one record (exported for tests). */
export function encodeFrame(r: OutboxRecord): Buffer {
  const key = Buffer.from(r.key, 'utf8');
  const tp = Buffer.from(r.traceparent ?? '', 'utf8');
  if (key.length > 0xffff || tp.length > 0xffff) throw new AppError('BUS_EVENT_INVALID', { message: 'key or traceparent too long for the outbox' });
  const bodyLen = 1 + 2 + key.length + 2 + tp.length + r.value.length;
  if (bodyLen > MAX_BODY) throw new AppError('BUS_EVENT_INVALID', { message: 'event too large for the outbox' });
  const buf = Buffer.allocUnsafe(HEADER + bodyLen);
  let o = HEADER;
  buf.writeUInt8(VERSION, o);
  o += 1;
  buf.writeUInt16LE(key.length, o);
  o += 2;
  key.copy(buf, o);
  o += key.length;
  buf.writeUInt16LE(tp.length, o);
  o += 2;
  tp.copy(buf, o);
  o += tp.length;
  r.value.copy(buf, o);
  buf.writeUInt32LE(bodyLen, 0);
  buf.writeUInt32LE(crc32(buf.subarray(HEADER)), 4);
  return buf;
}

type Parsed = { ok: true; record: OutboxRecord; size: number } | { ok: false; reason: 'short' | 'length' | 'crc' | 'body'; size?: number };

/** Parses the frame at `at`; `short` means the buffer ends inside it. */
function parseFrame(buf: Buffer, at: number): Parsed {
  if (buf.length - at < HEADER) return { ok: false, reason: 'short' };
  const len = buf.readUInt32LE(at);
  if (len < 5 || len > MAX_BODY) return { ok: false, reason: 'length' };
  if (buf.length - at < HEADER + len) return { ok: false, reason: 'short', size: HEADER + len };
  const body = buf.subarray(at + HEADER, at + HEADER + len);
  if (crc32(body) !== buf.readUInt32LE(at + 4)) return { ok: false, reason: 'crc', size: HEADER + len };
  if (body.readUInt8(0) !== VERSION) return { ok: false, reason: 'body' };
  const keyLen = body.readUInt16LE(1);
  if (3 + keyLen + 2 > len) return { ok: false, reason: 'body' };
  const key = body.toString('utf8', 3, 3 + keyLen);
  const tpLen = body.readUInt16LE(3 + keyLen);
  const vAt = 3 + keyLen + 2 + tpLen;
  if (vAt > len) return { ok: false, reason: 'body' };
  const tp = body.toString('utf8', 3 + keyLen + 2, vAt);
  return { ok: true, record: { key, value: Buffer.from(body.subarray(vAt)), traceparent: tp || undefined }, size: HEADER + len };
}

const segmentName = (base: number) => `${String(base).padStart(20, '0')}.seg`;

interface Segment {
  base: number;
  /** Durable size: everything before it is whole, CRC-checked records. */
  size: number;
}

interface Waiter {
  frames: Buffer[];
  count: number;
  bytes: number;
  resolve: () => void;
  reject: (err: AppError) => void;
}

/**
 * A local, append-only, bounded outbox on disk: segment files of CRC-framed records, written with
 * group commit (every append queued while one `fdatasync` runs shares the next one). Records are
 * read back in order and forgotten once Kafka acknowledges them; the read position survives a
 * restart (checkpoint file; losing it only causes harmless re-sends). On open, a torn last record
 * (a crash during a write that was never acknowledged) is truncated; any other damage refuses to
 * open with `BUS_OUTBOX_CORRUPT`, naming the file and offset, and nothing is dropped.
 */
export class FileOutbox implements Spool {
  private readonly maxBytes: number;
  private readonly maxEvents: number;
  private readonly segmentBytes: number;
  private readonly log: Logger;
  private segments: Segment[] = [];
  /** Next record's sequence number: names the next segment. */
  private nextSeq: number;
  private writer: FileHandle | undefined;
  private reader: { base: number; fh: FileHandle } | undefined;
  private cursor: OutboxPosition;
  private buffer: Waiter[] = [];
  private flushing = false;
  private settledWaiters: Array<() => void> = [];
  private ackChain: Promise<void> = Promise.resolve();
  private failed: AppError | undefined;
  private closed = false;
  private events = 0;
  private bytes = 0;
  private syncs = 0;

  private constructor(
    private readonly dir: string,
    opts: OutboxOptions,
    state: { segments: Segment[]; cursor: OutboxPosition; events: number; bytes: number; nextSeq: number },
  ) {
    this.maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
    this.maxEvents = opts.maxEvents ?? 1_000_000;
    this.segmentBytes = opts.segmentBytes ?? 16 * 1024 * 1024;
    this.log = opts.log.child({ component: 'audit-outbox' });
    this.segments = state.segments;
    this.cursor = state.cursor;
    this.events = state.events;
    this.bytes = state.bytes;
    this.nextSeq = state.nextSeq;
  }

  /** Opens (and recovers) the outbox in `opts.dir`. Rejects with `BUS_OUTBOX_CORRUPT` or `BUS_OUTBOX_IO`. */
  static async open(opts: OutboxOptions): Promise<FileOutbox> {
    const dir = opts.dir;
    const log = opts.log.child({ component: 'audit-outbox' });
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await unlink(join(dir, `${CHECKPOINT}.tmp`)).catch(() => undefined);
      const names = (await readdir(dir))
        .map((n) => SEGMENT_RE.exec(n))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => Number(m[1]))
        .sort((a, b) => a - b);
      const checkpoint = await readCheckpoint(dir);
      // Every segment is scanned: whole records counted, a torn tail truncated, damage reported.
      const scanned: Array<Segment & { offsets: number[] }> = [];
      for (const [i, base] of names.entries()) {
        const file = join(dir, segmentName(base));
        const last = i === names.length - 1;
        const buf = await readFile(file);
        const offsets = [0]; // offsets[k] = where record k starts; the last entry is the end
        let at = 0;
        while (at < buf.length) {
          const p = parseFrame(buf, at);
          if (p.ok) {
            at += p.size;
            offsets.push(at);
            continue;
          }
          // A torn tail: the last write of the last segment, cut short by a crash before its
          // fsync returned (so no caller was told it was durable). Anything else is damage.
          const rest = buf.subarray(at);
          const torn = last && (p.reason === 'short' || (p.reason === 'crc' && at + (p.size ?? 0) === buf.length) || rest.every((b) => b === 0));
          if (!torn) {
            throw new AppError('BUS_OUTBOX_CORRUPT', {
              message: `the audit outbox segment ${file} is damaged at byte ${at} (${p.reason}); nothing was dropped: keep the directory as evidence, move it aside and restart`,
              details: { file, offset: at, reason: p.reason },
            });
          }
          log.warn({ file, offset: at, bytes: rest.length, reason: p.reason }, 'audit outbox: torn tail record truncated');
          const fh = await open(file, 'r+');
          try {
            await fh.truncate(at);
            await fh.datasync();
          } finally {
            await fh.close();
          }
          break;
        }
        if (offsets.length === 1 && last) {
          // Nothing whole in it: an empty segment left by a crash right after it was created.
          await unlink(file);
          continue;
        }
        scanned.push({ base, size: at, offsets });
      }
      // The checkpoint counts only when its segment exists and it falls on a record boundary;
      // otherwise everything is re-sent from the oldest segment, which the ids make harmless.
      let cursor: OutboxPosition = { segment: scanned[0]?.base ?? 0, offset: 0 };
      const at = checkpoint ? scanned.findIndex((s) => s.base === checkpoint.segment) : -1;
      if (checkpoint && at >= 0 && scanned[at]?.offsets.includes(checkpoint.offset)) cursor = checkpoint;
      else if (checkpoint && scanned.length > 0 && checkpoint.segment >= (scanned[0]?.base ?? 0)) {
        log.warn({ checkpoint }, 'audit outbox: checkpoint not usable, re-sending from the oldest segment');
      }
      if (scanned.length === 0) await unlink(join(dir, CHECKPOINT)).catch(() => undefined);
      const live: Segment[] = [];
      let events = 0;
      let bytes = 0;
      for (const s of scanned) {
        if (s.base < cursor.segment) {
          await unlink(join(dir, segmentName(s.base)));
          continue;
        }
        const skip = s.base === cursor.segment ? s.offsets.indexOf(cursor.offset) : 0;
        events += s.offsets.length - 1 - skip;
        bytes += s.size - (s.base === cursor.segment ? cursor.offset : 0);
        live.push({ base: s.base, size: s.size });
      }
      const tail = scanned.at(-1);
      let nextSeq = tail ? tail.base + tail.offsets.length - 1 : 0;
      if (events === 0 && live.length > 0) {
        // Everything was delivered before the last stop: start afresh.
        for (const s of live.splice(0)) await unlink(join(dir, segmentName(s.base)));
        await unlink(join(dir, CHECKPOINT)).catch(() => undefined);
        nextSeq = 0;
        cursor = { segment: 0, offset: 0 };
      }
      const outbox = new FileOutbox(dir, opts, { segments: live, cursor, events, bytes, nextSeq });
      if (events > 0) log.warn({ events, bytes }, 'audit outbox holds undelivered events; they drain to Kafka first');
      return outbox;
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw new AppError('BUS_OUTBOX_IO', { cause: err, message: `the audit outbox directory ${dir} cannot be used`, details: { dir } });
    }
  }

  get pendingEvents(): number {
    return this.events;
  }

  get pendingBytes(): number {
    return this.bytes;
  }

  /** Number of fdatasync calls so far (group commit shares them). */
  get syncCount(): number {
    return this.syncs;
  }

  /** Bounds this outbox enforces. */
  get limits(): { maxBytes: number; maxEvents: number } {
    return { maxBytes: this.maxBytes, maxEvents: this.maxEvents };
  }

  fits(count: number, bytes: number): boolean {
    return this.events + count <= this.maxEvents && this.bytes + bytes <= this.maxBytes;
  }

  append(records: OutboxRecord[], force = false): Promise<void> {
    if (this.closed) throw new AppError('COMMON_SHUTTING_DOWN');
    if (this.failed) throw this.failed;
    const frames = records.map(encodeFrame);
    const bytes = frames.reduce((n, f) => n + f.length, 0);
    if (!force && !this.fits(records.length, bytes)) {
      throw new AppError('BUS_OUTBOX_FULL', {
        details: { pendingEvents: this.events, pendingBytes: this.bytes, maxEvents: this.maxEvents, maxBytes: this.maxBytes },
      });
    }
    if (records.length === 0) return Promise.resolve();
    this.events += records.length;
    this.bytes += bytes;
    return new Promise<void>((resolve, reject) => {
      this.buffer.push({ frames, count: records.length, bytes, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.buffer.length > 0) {
        const group = this.buffer.splice(0);
        try {
          if (this.failed) throw this.failed;
          const data = Buffer.concat(group.flatMap((w) => w.frames));
          const count = group.reduce((n, w) => n + w.count, 0);
          const seg = await this.writable();
          let done = 0;
          while (done < data.length) {
            const { bytesWritten } = await (this.writer as FileHandle).write(data, done, data.length - done, seg.size + done);
            done += bytesWritten;
          }
          await (this.writer as FileHandle).datasync();
          this.syncs++;
          seg.size += data.length;
          this.nextSeq += count;
          for (const w of group) w.resolve();
        } catch (cause) {
          // After a failed write or fsync the file's state is unknown (fsync errors are not
          // sticky on Linux): stop accepting, fail closed, and let a restart recover the file.
          this.failed ??= new AppError('BUS_OUTBOX_IO', { cause, message: 'the audit outbox could not be written or synced to disk' });
          this.log.error({ err: { message: (cause as Error)?.message, code: (cause as NodeJS.ErrnoException)?.code } }, 'audit outbox write failed');
          for (const w of group.concat(this.buffer.splice(0))) {
            this.events -= w.count;
            this.bytes -= w.bytes;
            w.reject(this.failed);
          }
        }
      }
    } finally {
      this.flushing = false;
      for (const r of this.settledWaiters.splice(0)) r();
    }
  }

  /** The segment to append to, rolling to a new file when the current one is full. */
  private async writable(): Promise<Segment> {
    let seg = this.segments.at(-1);
    if (seg && this.writer && seg.size < this.segmentBytes) return seg;
    if (seg && !this.writer && seg.size < this.segmentBytes) {
      this.writer = await open(join(this.dir, segmentName(seg.base)), 'r+');
      return seg;
    }
    await this.writer?.close();
    this.writer = undefined;
    seg = { base: this.nextSeq, size: 0 };
    this.writer = await open(join(this.dir, segmentName(seg.base)), 'wx', 0o600);
    // The new file's directory entry must be durable too, or a crash could lose the whole file.
    await syncDir(this.dir);
    this.segments.push(seg);
    if (this.segments.length === 1) this.cursor = { segment: seg.base, offset: 0 };
    return seg;
  }

  async read(maxRecords: number, maxBytes: number): Promise<SpoolBatch> {
    let { segment, offset } = this.cursor;
    const empty = (): SpoolBatch => ({ records: [], bytes: 0, next: { segment, offset } });
    for (;;) {
      const i = this.segments.findIndex((s) => s.base === segment);
      const seg = this.segments[i];
      if (!seg) return empty();
      if (offset < seg.size) break;
      const after = this.segments[i + 1];
      if (!after) return empty();
      segment = after.base;
      offset = 0;
    }
    const seg = this.segments.find((s) => s.base === segment) as Segment;
    if (this.reader?.base !== segment) {
      await this.reader?.fh.close();
      this.reader = undefined;
      this.reader = { base: segment, fh: await open(join(this.dir, segmentName(segment)), 'r') };
    }
    let want = Math.min(seg.size - offset, Math.max(maxBytes, HEADER));
    let buf = await readAt(this.reader.fh, offset, want);
    const first = parseFrame(buf, 0);
    if (!first.ok && first.reason === 'short' && first.size !== undefined && first.size <= seg.size - offset) {
      want = first.size; // one record larger than maxBytes: read it alone
      buf = await readAt(this.reader.fh, offset, want);
    }
    const records: OutboxRecord[] = [];
    let at = 0;
    while (at < buf.length && records.length < maxRecords) {
      const p = parseFrame(buf, at);
      if (!p.ok) {
        if (p.reason === 'short' && records.length > 0) break;
        const file = join(this.dir, segmentName(segment));
        throw new AppError('BUS_OUTBOX_CORRUPT', {
          message: `the audit outbox segment ${file} is damaged at byte ${offset + at} (${p.reason}); it stays on disk`,
          details: { file, offset: offset + at, reason: p.reason },
        });
      }
      if (records.length > 0 && at + p.size > maxBytes) break;
      records.push(p.record);
      at += p.size;
    }
    return { records, bytes: at, next: { segment, offset: offset + at } };
  }

  ack(batch: SpoolBatch): Promise<void> {
    const run = async () => {
      this.cursor = batch.next;
      this.events -= batch.records.length;
      this.bytes -= batch.bytes;
      const gone = this.segments.filter((s) => s.base < batch.next.segment);
      this.segments = this.segments.filter((s) => s.base >= batch.next.segment);
      if (this.events === 0 && !this.flushing && this.buffer.length === 0) {
        // Fully drained: start afresh, so an idle outbox holds no files at all.
        gone.push(...this.segments);
        this.segments = [];
        this.cursor = { segment: this.nextSeq, offset: 0 };
        const w = this.writer;
        this.writer = undefined;
        await w?.close();
      }
      if (this.reader && gone.some((s) => s.base === this.reader?.base)) {
        const r = this.reader;
        this.reader = undefined;
        await r.fh.close();
      }
      for (const s of gone) await unlink(join(this.dir, segmentName(s.base))).catch(() => undefined);
      if (this.segments.length === 0) await unlink(join(this.dir, CHECKPOINT)).catch(() => undefined);
      else {
        // Not fsynced on purpose: if it is lost, the records after the previous checkpoint are
        // sent again, and their ids make that harmless.
        const tmp = join(this.dir, `${CHECKPOINT}.tmp`);
        await writeFile(tmp, JSON.stringify(this.cursor));
        await rename(tmp, join(this.dir, CHECKPOINT));
      }
    };
    this.ackChain = this.ackChain.then(run, run);
    return this.ackChain;
  }

  settled(): Promise<void> {
    if (!this.flushing && this.buffer.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.settled();
    await this.ackChain.catch(() => undefined);
    await this.writer?.close();
    this.writer = undefined;
    await this.reader?.fh.close();
    this.reader = undefined;
  }
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buf.subarray(0, done);
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function readCheckpoint(dir: string): Promise<OutboxPosition | undefined> {
  try {
    const s = await stat(join(dir, CHECKPOINT));
    if (s.size > 1024) return undefined;
    const j = JSON.parse(await readFile(join(dir, CHECKPOINT), 'utf8')) as Partial<OutboxPosition>;
    if (Number.isSafeInteger(j.segment) && Number.isSafeInteger(j.offset)) return { segment: j.segment as number, offset: j.offset as number };
  } catch {
    // Missing or unreadable: start from the oldest segment (re-sends are harmless).
  }
  return undefined;
}

/** Options for {@link MemorySpool}. */
export interface MemorySpoolOptions {
  maxEvents?: number;
  maxBytes?: number;
}

/**
 * The `async` mode's holding area when no outbox directory is configured: in order, bounded, in
 * memory. It survives Kafka outages but not the process.
 */
export class MemorySpool implements Spool {
  private items: Array<{ record: OutboxRecord; bytes: number }> = [];
  private head = 0;
  private events = 0;
  private bytes = 0;
  private readonly maxEvents: number;
  private readonly maxBytes: number;

  constructor(opts: MemorySpoolOptions = {}) {
    this.maxEvents = opts.maxEvents ?? 100_000;
    this.maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
  }

  get pendingEvents(): number {
    return this.events;
  }

  get pendingBytes(): number {
    return this.bytes;
  }

  /** Bounds this spool enforces. */
  get limits(): { maxBytes: number; maxEvents: number } {
    return { maxBytes: this.maxBytes, maxEvents: this.maxEvents };
  }

  fits(count: number, bytes: number): boolean {
    return this.events + count <= this.maxEvents && this.bytes + bytes <= this.maxBytes;
  }

  append(records: OutboxRecord[], force = false): Promise<void> {
    const sized = records.map((record) => ({ record, bytes: record.value.length + record.key.length + HEADER }));
    const bytes = sized.reduce((n, s) => n + s.bytes, 0);
    if (!force && !this.fits(records.length, bytes)) {
      throw new AppError('BUS_OUTBOX_FULL', {
        details: { pendingEvents: this.events, pendingBytes: this.bytes, maxEvents: this.maxEvents, maxBytes: this.maxBytes },
      });
    }
    this.items.push(...sized);
    this.events += records.length;
    this.bytes += bytes;
    return Promise.resolve();
  }

  async read(maxRecords: number, maxBytes: number): Promise<SpoolBatch> {
    const records: OutboxRecord[] = [];
    let bytes = 0;
    let i = this.head;
    while (i < this.items.length && records.length < maxRecords) {
      const it = this.items[i] as { record: OutboxRecord; bytes: number };
      if (records.length > 0 && bytes + it.bytes > maxBytes) break;
      records.push(it.record);
      bytes += it.bytes;
      i++;
    }
    return { records, bytes, next: { segment: 0, offset: i } };
  }

  async ack(batch: SpoolBatch): Promise<void> {
    this.head = batch.next.offset;
    this.events -= batch.records.length;
    this.bytes -= batch.bytes;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  settled(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {}
}
