// PostgreSQL frontend/backend protocol v3, as pure functions over Buffers: framing, decoding of
// what clients send, encoding of what the server answers. No sockets here.
// Reference: https://www.postgresql.org/docs/current/protocol-message-formats.html

export const PROTOCOL_3_0 = 196_608;
export const SSL_REQUEST = 80_877_103;
export const GSSENC_REQUEST = 80_877_104;
export const CANCEL_REQUEST = 80_877_102;
/** PostgreSQL's own bound on a startup packet (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_BYTES = 10_000;
/** The Terminate message's type byte ('X'). */
const TERMINATE = 0x58;

/** Thrown for anything that is not a well-formed message: the connection answers 08P01 and closes. */
export class ProtocolViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolViolation';
  }
}

export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; processId: number; secretKey: Buffer }
  | { kind: 'startup'; major: number; minor: number; params: Map<string, string> };

export type FrontendMessage =
  | { type: 'query'; sql: string }
  | { type: 'parse'; name: string; sql: string; paramTypes: number[] }
  | { type: 'bind'; portal: string; statement: string; paramFormats: number[]; params: Array<Buffer | null>; resultFormats: number[] }
  | { type: 'describe'; what: 'S' | 'P'; name: string }
  | { type: 'execute'; portal: string; maxRows: number }
  | { type: 'close'; what: 'S' | 'P'; name: string }
  | { type: 'sync' }
  | { type: 'flush' }
  | { type: 'terminate' }
  | { type: 'password'; password: string }
  | { type: 'copy'; code: 'd' | 'c' | 'f' }
  | { type: 'other'; code: string };

/** A bounds-checked reader over one message body. */
class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length) throw new ProtocolViolation('message is shorter than its contents');
  }
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new ProtocolViolation('unterminated string');
    const v = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return v;
  }
  count(what: string): number {
    const n = this.int16();
    if (n < 0) throw new ProtocolViolation(`negative ${what} count`);
    return n;
  }
  end(): void {
    if (this.pos !== this.buf.length) throw new ProtocolViolation('message is longer than its contents');
  }
}

/** Decodes a startup-phase packet body (after its length word). */
export function decodeStartup(body: Buffer): StartupPacket {
  const r = new Reader(body);
  const code = r.int32();
  if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
    r.end();
    return { kind: code === SSL_REQUEST ? 'ssl' : 'gssenc' };
  }
  if (code === CANCEL_REQUEST) {
    const processId = r.int32();
    const secretKey = Buffer.from(body.subarray(8));
    if (secretKey.length < 4 || secretKey.length > 256) throw new ProtocolViolation('bad cancel key length');
    return { kind: 'cancel', processId, secretKey };
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) throw new ProtocolViolation(`unsupported frontend protocol ${major}.${minor}: server supports 3.0`);
  const params = new Map<string, string>();
  for (;;) {
    const key = r.cstring();
    if (key === '') break;
    params.set(key, r.cstring());
  }
  r.end();
  return { kind: 'startup', major, minor, params };
}

function formats(r: Reader): number[] {
  const n = r.count('format');
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const f = r.int16();
    if (f !== 0 && f !== 1) throw new ProtocolViolation(`unknown format code ${f}`);
    out.push(f);
  }
  return out;
}

function describeTarget(b: number | undefined): 'S' | 'P' {
  if (b === 0x53) return 'S';
  if (b === 0x50) return 'P';
  throw new ProtocolViolation('describe/close target must be S or P');
}

/** Decodes one regular message (type byte and body). */
export function decodeMessage(code: number, body: Buffer): FrontendMessage {
  const r = new Reader(body);
  let m: FrontendMessage;
  switch (String.fromCharCode(code)) {
    case 'Q':
      m = { type: 'query', sql: r.cstring() };
      break;
    case 'P': {
      const name = r.cstring();
      const sql = r.cstring();
      const n = r.count('parameter type');
      const paramTypes: number[] = [];
      for (let i = 0; i < n; i++) paramTypes.push(r.int32() >>> 0);
      m = { type: 'parse', name, sql, paramTypes };
      break;
    }
    case 'B': {
      const portal = r.cstring();
      const statement = r.cstring();
      const paramFormats = formats(r);
      const n = r.count('parameter');
      const params: Array<Buffer | null> = [];
      for (let i = 0; i < n; i++) {
        const len = r.int32();
        if (len < -1) throw new ProtocolViolation('negative parameter length');
        params.push(len === -1 ? null : r.bytes(len));
      }
      m = { type: 'bind', portal, statement, paramFormats, params, resultFormats: formats(r) };
      break;
    }
    case 'D': {
      const what = describeTarget(r.bytes(1)[0]);
      m = { type: 'describe', what, name: r.cstring() };
      break;
    }
    case 'E': {
      const portal = r.cstring();
      const maxRows = r.int32();
      m = { type: 'execute', portal, maxRows: Math.max(maxRows, 0) };
      break;
    }
    case 'C': {
      const what = describeTarget(r.bytes(1)[0]);
      m = { type: 'close', what, name: r.cstring() };
      break;
    }
    case 'S':
      m = { type: 'sync' };
      break;
    case 'H':
      m = { type: 'flush' };
      break;
    case 'X':
      m = { type: 'terminate' };
      break;
    case 'p':
      m = { type: 'password', password: r.cstring() };
      break;
    case 'd':
    case 'c':
    case 'f':
      return { type: 'copy', code: String.fromCharCode(code) as 'd' | 'c' | 'f' };
    default:
      return { type: 'other', code: String.fromCharCode(code) };
  }
  r.end();
  return m;
}

/** One framed unit read off the wire: a startup packet (no type byte) or a regular message. */
export type Frame = { startup: true; body: Buffer } | { startup: false; code: number; body: Buffer };

/**
 * Cuts a byte stream into frames. Lengths are checked before anything is buffered, so an absurd
 * length is refused at once instead of waiting for gigabytes that will never come.
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  /** True while the next frame is a startup packet (until the StartupMessage has been read). */
  startupPhase = true;

  constructor(private readonly maxMessageBytes: number) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
  }

  /** Bytes received but not yet framed. */
  get pending(): number {
    return this.buf.length;
  }

  /** The next complete frame, or undefined when more bytes are needed. Throws on a bad length. */
  next(): Frame | undefined {
    if (this.startupPhase) {
      if (this.buf.length < 4) return undefined;
      const len = this.buf.readInt32BE(0);
      if (len < 8 || len > MAX_STARTUP_BYTES) throw new ProtocolViolation('invalid length of startup packet');
      if (this.buf.length < len) return undefined;
      const body = this.buf.subarray(4, len);
      this.buf = this.buf.subarray(len);
      return { startup: true, body };
    }
    if (this.buf.length < 5) return undefined;
    const code = this.buf[0]!;
    const len = this.buf.readInt32BE(1);
    if (len < 4 || len > this.maxMessageBytes) throw new ProtocolViolation(`invalid message length ${len}`);
    if (this.buf.length < len + 1) return undefined;
    const body = this.buf.subarray(5, len + 1);
    this.buf = this.buf.subarray(len + 1);
    return { startup: false, code, body };
  }

  /**
   * Whether a Terminate message has arrived complete but not been read yet. When the socket ends
   * while earlier messages are still being served, the client said goodbye properly: the session's
   * end is recorded as a termination, not as a dropped connection.
   */
  hasTerminate(): boolean {
    if (this.startupPhase) return false;
    for (let pos = 0; pos + 5 <= this.buf.length; ) {
      if (this.buf[pos] === TERMINATE) return true;
      const len = this.buf.readInt32BE(pos + 1);
      if (len < 4) return false;
      pos += len + 1;
    }
    return false;
  }
}

// ---- backend messages ----

/** Builds one backend message; sizes are computed before anything is copied. */
function message(code: string, parts: Array<Buffer | number | string>): Buffer {
  let len = 4;
  const encoded = parts.map((p) => {
    if (typeof p === 'number') {
      len += 4;
      return p;
    }
    const b = typeof p === 'string' ? cstr(p) : p;
    len += b.length;
    return b;
  });
  const out = Buffer.allocUnsafe(len + 1);
  out[0] = code.charCodeAt(0);
  out.writeInt32BE(len, 1);
  let pos = 5;
  for (const p of encoded) {
    if (typeof p === 'number') pos = out.writeInt32BE(p | 0, pos);
    else pos += p.copy(out, pos);
  }
  return out;
}
function cstr(s: string): Buffer {
  // A NUL inside a string would end it early on the client: never send one.
  return Buffer.from(`${s.replace(/\0/g, '')}\0`, 'utf8');
}

export const authenticationOk = (): Buffer => message('R', [0]);
export const authenticationCleartextPassword = (): Buffer => message('R', [3]);
export const parameterStatus = (name: string, value: string): Buffer => message('S', [name, value]);
export const backendKeyData = (processId: number, secretKey: number): Buffer => message('K', [processId, secretKey]);
export const readyForQuery = (status: 'I' | 'T' | 'E'): Buffer => message('Z', [Buffer.from(status)]);
export const parseComplete = (): Buffer => message('1', []);
export const bindComplete = (): Buffer => message('2', []);
export const closeComplete = (): Buffer => message('3', []);
export const noData = (): Buffer => message('n', []);
export const portalSuspended = (): Buffer => message('s', []);
export const emptyQueryResponse = (): Buffer => message('I', []);
export const commandComplete = (tag: string): Buffer => message('C', [tag]);

/** CopyOutResponse: text format overall and for each of `columns` columns. */
export function copyOutResponse(columns: number): Buffer {
  const body = Buffer.alloc(3 + 2 * columns);
  body.writeInt16BE(columns, 1);
  return message('H', [body]);
}
export const copyData = (data: string): Buffer => message('d', [Buffer.from(data, 'utf8')]);
/** CopyData messages, one per line (as PostgreSQL sends one per row), in one buffer. */
export function copyDataLines(lines: readonly string[]): Buffer {
  let total = 0;
  const sizes = lines.map((l) => {
    const n = Buffer.byteLength(l, 'utf8');
    total += 5 + n;
    return n;
  });
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < lines.length; i++) {
    out[at] = 0x64; // 'd'
    out.writeInt32BE(sizes[i]! + 4, at + 1);
    at += 5 + out.write(lines[i]!, at + 5, 'utf8');
  }
  return out;
}
export const copyDone = (): Buffer => message('c', []);

/** NegotiateProtocolVersion: the newest minor version we speak and the options we did not recognise. */
export function negotiateProtocolVersion(minor: number, unrecognised: string[]): Buffer {
  return message('v', [minor, unrecognised.length, ...unrecognised]);
}

export function parameterDescription(types: number[]): Buffer {
  const out = Buffer.allocUnsafe(7 + 4 * types.length);
  out[0] = 0x74; // 't'
  out.writeInt32BE(6 + 4 * types.length, 1);
  out.writeInt16BE(types.length, 5);
  for (const [i, t] of types.entries()) out.writeUInt32BE(t >>> 0, 7 + 4 * i);
  return out;
}

export interface FieldDescription {
  name: string;
  tableOid: number;
  columnAttr: number;
  typeOid: number;
  typeSize: number;
  typeMod: number;
  format: 0 | 1;
}

export function rowDescription(fields: FieldDescription[]): Buffer {
  const names = fields.map((f) => cstr(f.name));
  const len = 4 + 2 + names.reduce((n, b) => n + b.length + 18, 0);
  const out = Buffer.allocUnsafe(len + 1);
  out[0] = 0x54; // 'T'
  out.writeInt32BE(len, 1);
  let pos = out.writeInt16BE(fields.length, 5);
  fields.forEach((f, i) => {
    pos += names[i]!.copy(out, pos);
    pos = out.writeUInt32BE(f.tableOid >>> 0, pos);
    pos = out.writeInt16BE(f.columnAttr, pos);
    pos = out.writeUInt32BE(f.typeOid >>> 0, pos);
    pos = out.writeInt16BE(f.typeSize, pos);
    pos = out.writeInt32BE(f.typeMod | 0, pos);
    pos = out.writeInt16BE(f.format, pos);
  });
  return out;
}

/** DataRow from already-encoded cells (null is SQL NULL). */
export function dataRow(cells: Array<Buffer | null>): Buffer {
  let len = 4 + 2;
  for (const c of cells) len += 4 + (c ? c.length : 0);
  const out = Buffer.allocUnsafe(len + 1);
  out[0] = 0x44; // 'D'
  out.writeInt32BE(len, 1);
  let pos = out.writeInt16BE(cells.length, 5);
  for (const c of cells) {
    if (c === null) pos = out.writeInt32BE(-1, pos);
    else {
      pos = out.writeInt32BE(c.length, pos);
      pos += c.copy(out, pos);
    }
  }
  return out;
}

/** The fields of an ErrorResponse or NoticeResponse. */
export interface Notice {
  severity: 'ERROR' | 'FATAL' | 'NOTICE' | 'WARNING';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  /** 1-based character position in the statement the error refers to (PostgreSQL's `P`). */
  position?: number;
}

function fieldsMessage(code: 'E' | 'N', n: Notice): Buffer {
  const parts: Buffer[] = [];
  const add = (k: string, v: string | undefined) => {
    if (v !== undefined) parts.push(Buffer.from(k), cstr(v));
  };
  add('S', n.severity);
  add('V', n.severity);
  add('C', n.code);
  add('M', n.message);
  add('D', n.detail);
  add('H', n.hint);
  add('P', n.position === undefined ? undefined : String(n.position));
  parts.push(Buffer.from([0]));
  return message(code, parts);
}

export const errorResponse = (n: Notice): Buffer => fieldsMessage('E', n);
export const noticeResponse = (n: Notice): Buffer => fieldsMessage('N', n);

/** The format (0 text, 1 binary) of item `i` given a Bind format list (none: all text; one: all). */
export function formatAt(list: readonly number[], i: number): 0 | 1 {
  const f = list.length === 0 ? 0 : list.length === 1 ? list[0] : list[i];
  return f === 1 ? 1 : 0;
}
