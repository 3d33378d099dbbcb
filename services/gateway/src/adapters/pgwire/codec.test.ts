import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CANCEL_REQUEST,
  commandComplete,
  dataRow,
  decodeMessage,
  decodeStartup,
  errorResponse,
  FrameReader,
  formatAt,
  ProtocolViolation,
  parameterDescription,
  rowDescription,
  SSL_REQUEST,
} from './codec.js';

function frame(code: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(code, 0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const cstr = (s: string) => Buffer.from(`${s}\0`);
const i16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const i32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

test('startup packets: SSLRequest, CancelRequest and StartupMessage with parameters', () => {
  assert.deepEqual(decodeStartup(i32(SSL_REQUEST)), { kind: 'ssl' });
  const cancel = decodeStartup(Buffer.concat([i32(CANCEL_REQUEST), i32(42), i32(7)]));
  assert.equal(cancel.kind, 'cancel');
  assert.equal(cancel.kind === 'cancel' && cancel.processId, 42);
  const s = decodeStartup(Buffer.concat([i32(196608), cstr('user'), cstr('etl'), cstr('database'), cstr('clinical-pg'), Buffer.from([0])]));
  assert.ok(s.kind === 'startup');
  assert.equal(s.params.get('user'), 'etl');
  assert.equal(s.params.get('database'), 'clinical-pg');
  assert.throws(() => decodeStartup(i32(0x00020000)), ProtocolViolation, 'protocol 2 is refused');
  assert.throws(() => decodeStartup(Buffer.concat([i32(196608), cstr('user')])), ProtocolViolation, 'truncated parameters');
});

test('the frame reader waits for whole frames and refuses absurd lengths before buffering them', () => {
  const r = new FrameReader(1024);
  const startup = Buffer.concat([i32(8), i32(SSL_REQUEST)]);
  r.push(startup.subarray(0, 3));
  assert.equal(r.next(), undefined);
  r.push(startup.subarray(3));
  assert.deepEqual(r.next(), { startup: true, body: i32(SSL_REQUEST) });
  r.startupPhase = false;
  const q = frame('Q', cstr('select 1'));
  r.push(q.subarray(0, 6));
  assert.equal(r.next(), undefined);
  r.push(q.subarray(6));
  const f = r.next();
  assert.ok(f && !f.startup);
  assert.deepEqual(decodeMessage(f.code, f.body), { type: 'query', sql: 'select 1' });
  const huge = Buffer.alloc(5);
  huge.write('Q');
  huge.writeInt32BE(0x7fffffff, 1);
  r.push(huge);
  assert.throws(() => r.next(), ProtocolViolation);
  const startupOnly = new FrameReader(1024);
  startupOnly.push(i32(1_000_000));
  assert.throws(() => startupOnly.next(), ProtocolViolation, 'startup packets are at most 10000 bytes');
});

test('extended-protocol messages decode, and malformed ones are protocol violations', () => {
  const parse = Buffer.concat([cstr('s1'), cstr('select $1'), i16(1), i32(23)]);
  assert.deepEqual(decodeMessage('P'.charCodeAt(0), parse), { type: 'parse', name: 's1', sql: 'select $1', paramTypes: [23] });
  const bind = Buffer.concat([cstr(''), cstr('s1'), i16(1), i16(1), i16(2), i32(4), i32(7), i32(-1), i16(1), i16(1)]);
  assert.deepEqual(decodeMessage('B'.charCodeAt(0), bind), {
    type: 'bind',
    portal: '',
    statement: 's1',
    paramFormats: [1],
    params: [i32(7), null],
    resultFormats: [1],
  });
  assert.deepEqual(decodeMessage('E'.charCodeAt(0), Buffer.concat([cstr('p'), i32(10)])), { type: 'execute', portal: 'p', maxRows: 10 });
  assert.deepEqual(decodeMessage('D'.charCodeAt(0), Buffer.concat([Buffer.from('S'), cstr('s1')])), { type: 'describe', what: 'S', name: 's1' });
  assert.throws(() => decodeMessage('D'.charCodeAt(0), Buffer.concat([Buffer.from('X'), cstr('s1')])), ProtocolViolation);
  assert.throws(
    () => decodeMessage('B'.charCodeAt(0), Buffer.concat([cstr(''), cstr(''), i16(0), i16(1), i32(100)])),
    ProtocolViolation,
    'a value longer than the message',
  );
  assert.throws(() => decodeMessage('B'.charCodeAt(0), Buffer.concat([cstr(''), cstr(''), i16(1), i16(7)])), ProtocolViolation, 'unknown format code');
  assert.throws(() => decodeMessage('Q'.charCodeAt(0), Buffer.from('no terminator')), ProtocolViolation);
  assert.throws(() => decodeMessage('S'.charCodeAt(0), Buffer.from([1])), ProtocolViolation, 'trailing bytes');
  assert.deepEqual(decodeMessage('?'.charCodeAt(0), Buffer.alloc(0)), { type: 'other', code: '?' });
});

test('backend messages have the lengths and layouts of the protocol', () => {
  const row = dataRow([Buffer.from('ab'), null]);
  assert.equal(row.toString('latin1', 0, 1), 'D');
  assert.equal(row.readInt32BE(1), row.length - 1);
  assert.equal(row.readInt16BE(5), 2);
  assert.equal(row.readInt32BE(7), 2);
  assert.equal(row.readInt32BE(13), -1);
  const desc = rowDescription([{ name: 'ssn', tableOid: 0, columnAttr: 0, typeOid: 25, typeSize: -1, typeMod: -1, format: 0 }]);
  assert.equal(desc.readInt32BE(1), desc.length - 1);
  assert.equal(desc.readUInt32BE(5 + 2 + 4 + 4 + 2), 25, 'type OID after name, table OID and attnum');
  assert.equal(parameterDescription([23, 25]).readUInt32BE(11), 25);
  assert.equal(commandComplete('SELECT 1').toString('utf8', 5), 'SELECT 1\0');
  const err = errorResponse({ severity: 'ERROR', code: '42501', message: 'm\0x', detail: 'd' });
  assert.ok(err.includes(Buffer.from('C42501\0')));
  assert.ok(err.includes(Buffer.from('Mmx\0')), 'a NUL inside a field is dropped, never sent');
  assert.equal(err[err.length - 1], 0);
});

test('format lists: none means text, one applies to all, else one per item', () => {
  assert.equal(formatAt([], 3), 0);
  assert.equal(formatAt([1], 3), 1);
  assert.equal(formatAt([0, 1], 1), 1);
});

test('the frame reader sees a Terminate queued behind other messages, and only at a frame boundary', () => {
  const r = new FrameReader(1024);
  r.startupPhase = false;
  r.push(frame('Q', cstr('select 1')));
  assert.equal(r.hasTerminate(), false);
  r.push(frame('Q', cstr('X marks no terminate')));
  assert.equal(r.hasTerminate(), false, 'an X inside a message body is not a Terminate');
  r.push(frame('X', Buffer.alloc(0)));
  assert.equal(r.hasTerminate(), true);
  assert.equal((r.next() as { code: number }).code, 'Q'.charCodeAt(0));
  assert.equal(r.hasTerminate(), true);
});
