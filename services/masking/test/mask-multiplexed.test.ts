// MaskMultiplexed: many results' masking on one long-lived stream (the gateway keeps a few open).
// Sessions interleave and each is answered in order; one session's failure ends it alone; a
// cancelled session is forgotten; shutting down ends idle streams and refuses new sessions as
// retriable while open ones finish.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Cell, decodeRow, encodeRow, maskingV1 } from '@phigate/proto';
import { Draining } from '../src/adapters/grpc/mask-server.js';
import { client, startInProcess } from './helpers.js';

type Response = maskingV1.MaskMultiplexedResponse;

const header = (requestId: string, strategy: maskingV1.Strategy = maskingV1.Strategy.STRATEGY_REDACT): maskingV1.MaskHeader => ({
  requestId,
  columns: [{ index: 1, name: 'ssn', strategy, keepLast: 0 }],
  asOf: '2026-01-01',
  canary: maskingV1.CanaryMode.CANARY_MODE_OFF,
  visiblePhiKinds: [],
});
const rows = (...ids: string[]) => ({ rows: ids.map((id) => encodeRow([id, `123-45-${id.padStart(4, '0')}`] as Cell[])) });

/** A multiplexed call and the responses it has received, by session. */
function open(address: string) {
  const call = client(address).maskMultiplexed();
  const got: Response[] = [];
  const ended = new Promise<{ code: number }>((resolve) => {
    call.on('status', (s: { code: number }) => resolve(s));
    call.on('error', () => {});
  });
  call.on('data', (r: Response) => got.push(r));
  const of = (session: number) => got.filter((r) => r.sessionId === session);
  const wait = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(ok(), what);
  };
  return { call, got, of, wait, ended };
}

test('interleaved sessions are each answered in order with their own plan, then their own report', async (t) => {
  const server = await startInProcess();
  t.after(() => server.stop());
  const m = open(server.address);
  t.after(() => m.call.cancel());
  m.call.write({ sessionId: 1, msg: { $case: 'header', value: header('r1') } });
  m.call.write({ sessionId: 2, msg: { $case: 'header', value: header('r2', maskingV1.Strategy.STRATEGY_NONE) } });
  m.call.write({ sessionId: 1, msg: { $case: 'rows', value: rows('1', '2') } });
  m.call.write({ sessionId: 2, msg: { $case: 'rows', value: rows('3') } });
  m.call.write({ sessionId: 1, msg: { $case: 'rows', value: rows('4') } });
  m.call.write({ sessionId: 2, msg: { $case: 'end', value: {} } });
  m.call.write({ sessionId: 1, msg: { $case: 'end', value: {} } });
  await m.wait('both reports', () => m.got.filter((r) => r.msg?.$case === 'report').length === 2);
  const batches = (s: number) => m.of(s).flatMap((r) => (r.msg?.$case === 'rows' ? [r.msg.value.rows.map(decodeRow)] : []));
  assert.deepEqual(batches(1), [
    [
      ['1', '[REDACTED]'],
      ['2', '[REDACTED]'],
    ],
    [['4', '[REDACTED]']],
  ]);
  assert.deepEqual(batches(2), [[['3', '123-45-0003']]]);
  const report = (s: number) => m.of(s).find((r) => r.msg?.$case === 'report')!.msg as { value: maskingV1.MaskReport };
  assert.deepEqual([report(1).value.rows, report(1).value.columns[0]!.valuesMasked], [3, 3]);
  assert.deepEqual([report(2).value.rows, report(2).value.columns[0]!.valuesMasked], [1, 0]);
});

test('a session that fails is answered SessionFailed alone; the stream and the other sessions go on', async (t) => {
  const server = await startInProcess();
  t.after(() => server.stop());
  const m = open(server.address);
  t.after(() => m.call.cancel());
  m.call.write({ sessionId: 7, msg: { $case: 'header', value: header('bad', maskingV1.Strategy.STRATEGY_UNSPECIFIED) } });
  m.call.write({ sessionId: 7, msg: { $case: 'rows', value: rows('1') } });
  m.call.write({ sessionId: 8, msg: { $case: 'rows', value: rows('1') } });
  m.call.write({ sessionId: 9, msg: { $case: 'header', value: header('good') } });
  m.call.write({ sessionId: 9, msg: { $case: 'rows', value: rows('5') } });
  m.call.write({ sessionId: 9, msg: { $case: 'end', value: {} } });
  await m.wait('the good session’s report', () => m.of(9).some((r) => r.msg?.$case === 'report'));
  // The unknown strategy fails session 7 once (its later rows are dropped, never passed through);
  // rows before a header fail session 8.
  assert.deepEqual(
    m.of(7).map((r) => (r.msg?.$case === 'failed' ? r.msg.value.code : r.msg?.$case)),
    ['MASKING_STREAM_INVALID'],
  );
  assert.deepEqual(
    m.of(8).map((r) => (r.msg?.$case === 'failed' ? r.msg.value.code : r.msg?.$case)),
    ['MASKING_STREAM_INVALID'],
  );
  const masked = m.of(9).find((r) => r.msg?.$case === 'rows')!.msg as { value: maskingV1.RowBatch };
  assert.deepEqual(masked.value.rows.map(decodeRow), [['5', '[REDACTED]']]);
});

test('a cancelled session is forgotten; an undecodable frame fails the whole stream', async (t) => {
  const server = await startInProcess();
  t.after(() => server.stop());
  const m = open(server.address);
  m.call.write({ sessionId: 3, msg: { $case: 'header', value: header('r3') } });
  m.call.write({ sessionId: 3, msg: { $case: 'cancel', value: {} } });
  m.call.write({ sessionId: 3, msg: { $case: 'rows', value: rows('1') } });
  await m.wait('the rows after the cancel refused', () => m.of(3).length === 1);
  assert.equal(m.of(3)[0]!.msg?.$case, 'failed', 'a cancelled session is unknown: its rows are refused, not masked by a stale plan');
  // A RowBatch whose row claims more bytes than it has.
  const raw = client(server.address);
  const bad = raw.makeBidiStreamRequest(
    maskingV1.MaskingServiceService.maskMultiplexed.path,
    (b: Buffer) => b,
    maskingV1.MaskingServiceService.maskMultiplexed.responseDeserialize,
  );
  const status = new Promise<{ code: number; details: string }>((resolve) => bad.on('status', resolve));
  bad.on('error', () => {});
  bad.on('data', () => {});
  bad.write(Buffer.from([0x08, 0x01, 0x1a, 0x05, 0x0a, 0x7f]));
  const s = await status;
  assert.notEqual(s.code, 0);
  assert.match(s.details, /malformed|undecodable/);
  m.call.cancel();
});

test('shutting down: an idle stream ends at once; a busy one after its open session, refusing new ones as retriable', async (t) => {
  const draining = new Draining();
  const server = await startInProcess({}, draining);
  t.after(() => server.stop());
  const idle = open(server.address);
  const busy = open(server.address);
  t.after(() => busy.call.cancel());
  idle.call.write({ sessionId: 1, msg: { $case: 'header', value: header('a') } });
  idle.call.write({ sessionId: 1, msg: { $case: 'rows', value: rows('1') } });
  idle.call.write({ sessionId: 1, msg: { $case: 'end', value: {} } });
  busy.call.write({ sessionId: 1, msg: { $case: 'header', value: header('b') } });
  await idle.wait('the first report', () => idle.of(1).some((r) => r.msg?.$case === 'report'));
  await busy.wait('nothing yet', () => true);
  draining.start();
  assert.equal((await idle.ended).code, 0, 'the idle stream ends cleanly');
  busy.call.write({ sessionId: 2, msg: { $case: 'header', value: header('c') } });
  busy.call.write({ sessionId: 1, msg: { $case: 'rows', value: rows('2') } });
  busy.call.write({ sessionId: 1, msg: { $case: 'end', value: {} } });
  assert.equal((await busy.ended).code, 0, 'the busy stream ends once its session did');
  const failed = busy.of(2)[0]!.msg as { $case: 'failed'; value: maskingV1.SessionFailed };
  assert.equal(failed.value.code, 'MASKING_SHUTTING_DOWN');
  assert.equal(busy.of(1).at(-1)!.msg?.$case, 'report', 'the open session finished');
});
