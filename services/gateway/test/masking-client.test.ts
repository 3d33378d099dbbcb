// phigate-test: stack
// The gateway's masking client (issue 19 item 3): results share a few long-lived MaskMultiplexed
// streams to the stack's masking service, each answered with its own plan, in order; a result the
// service does not answer in time fails alone, retriably; a masking service without the RPC is
// used one stream per result.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { isAppError } from '@phigate/errors';
import { type GrpcTls, maskingV1 } from '@phigate/proto';
import { need } from '@phigate/testkit';
import { createMaskingClient } from '../src/adapters/grpc/masking-client.js';
import type { Cell } from '../src/domain/types.js';

const stackTls = (): GrpcTls => ({
  INTERNAL_TLS_CA_FILE: need('INTERNAL_TLS_CA_FILE'),
  INTERNAL_TLS_CERT_FILE: need('INTERNAL_TLS_CERT_FILE'),
  INTERNAL_TLS_KEY_FILE: need('INTERNAL_TLS_KEY_FILE'),
  INTERNAL_TLS_REFRESH_MS: 60_000,
  INTERNAL_PLAINTEXT: false,
});
const PLAINTEXT: GrpcTls = { INTERNAL_PLAINTEXT: true, INTERNAL_TLS_REFRESH_MS: 60_000 };

const ssn = (i: number) => `123-45-${String(i).padStart(4, '0')}`;

test('two hundred results at once over the multiplexed streams: each masked by its own plan, in order, with its own report', async (t) => {
  const masking = createMaskingClient(need('MASKING_GRPC_ADDR'), 10_000, stackTls());
  t.after(() => masking.close());
  const results = await Promise.all(
    Array.from({ length: 200 }, async (_, r) => {
      // Even results redact column 1, odd ones keep its last four characters.
      const strategy = r % 2 === 0 ? 'redact' : 'partial';
      const session = masking.open(`mux-${r}`, [{ index: 1, name: 'ssn', strategy, keepLast: 4 }], 'off');
      const first = await session.mask([[String(r), ssn(r)] as Cell[]]);
      const second = await session.mask([[String(r + 1000), ssn(r + 1000)] as Cell[]]);
      const report = await session.finish();
      return { r, first, second, report };
    }),
  );
  for (const { r, first, second, report } of results) {
    const want = (i: number) => (r % 2 === 0 ? '[REDACTED]' : `***-**-${ssn(i).slice(-4)}`);
    assert.deepEqual(first, [[String(r), want(r)]], `result ${r}`);
    assert.deepEqual(second, [[String(r + 1000), want(r + 1000)]], `result ${r}`);
    assert.equal(report.columns[0]?.valuesMasked, 2);
  }
});

/** A masking service of our own on 127.0.0.1:0 implementing only what `impl` has. */
async function fakeMasking(t: { after(f: () => void): void }, impl: Record<string, unknown>, definition = maskingV1.MaskingServiceService) {
  const server = new Server();
  const partial = Object.fromEntries(Object.entries(definition).filter(([k]) => k in impl));
  server.addService(partial as typeof definition, impl as never);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.after(() => server.forceShutdown());
  return `127.0.0.1:${port}`;
}

test('a result the service does not answer in time fails alone with a retriable error; a later one on the same stream is answered', async (t) => {
  const seen: string[] = [];
  const address = await fakeMasking(t, {
    // Answers every session's rows unchanged and its report, except the session whose request id is 'stuck'.
    maskMultiplexed(call: ServerDuplexStream<maskingV1.MaskMultiplexedRequest, maskingV1.MaskMultiplexedResponse>) {
      const stuck = new Set<number>();
      call.on('data', (m: maskingV1.MaskMultiplexedRequest) => {
        if (m.msg?.$case === 'header') {
          seen.push(m.msg.value.requestId);
          if (m.msg.value.requestId === 'stuck') stuck.add(m.sessionId);
        } else if (stuck.has(m.sessionId)) return;
        else if (m.msg?.$case === 'rows') call.write({ sessionId: m.sessionId, msg: { $case: 'rows', value: m.msg.value } });
        else if (m.msg?.$case === 'end') call.write({ sessionId: m.sessionId, msg: { $case: 'report', value: { columns: [], rows: 1, leaks: [] } } });
      });
    },
  });
  const masking = createMaskingClient(address, 300, PLAINTEXT);
  t.after(() => masking.close());
  const stuck = masking.open('stuck', [], 'off');
  const waited = stuck.mask([['1'] as Cell[]]).then(
    () => assert.fail('a result nobody masked was released'),
    (e: unknown) => e,
  );
  const err = await waited;
  assert.ok(isAppError(err));
  assert.deepEqual([err.code, err.retriable], ['GATEWAY_MASKING_UNAVAILABLE', true]);
  // Four streams, taken in turn: the fifth result shares the stuck one's stream.
  for (let i = 0; i < 4; i++) {
    const s = masking.open(`ok-${i}`, [], 'off');
    assert.deepEqual(await s.mask([['2'] as Cell[]]), [['2']]);
    await s.finish();
  }
  assert.deepEqual(seen, ['stuck', 'ok-0', 'ok-1', 'ok-2', 'ok-3']);
});

test('a masking service without MaskMultiplexed: the first result fails retriably, the next ones use one stream each', async (t) => {
  const address = await fakeMasking(t, {
    mask(call: ServerDuplexStream<maskingV1.MaskRequest, maskingV1.MaskResponse>) {
      call.on('data', (m: maskingV1.MaskRequest) => {
        if (m.msg?.$case === 'rows') call.write({ msg: { $case: 'rows', value: m.msg.value } });
      });
      call.on('end', () => {
        call.write({ msg: { $case: 'report', value: { columns: [], rows: 1, leaks: [] } } });
        call.end();
      });
    },
  });
  const masking = createMaskingClient(address, 5_000, PLAINTEXT);
  t.after(() => masking.close());
  const first = await masking
    .open('first', [], 'off')
    .mask([['1'] as Cell[]])
    .catch((e: unknown) => e);
  assert.ok(isAppError(first));
  assert.deepEqual([first.code, first.retriable], ['GATEWAY_MASKING_UNAVAILABLE', true]);
  const next = masking.open('next', [], 'off');
  assert.deepEqual(await next.mask([['3'] as Cell[]]), [['3']]);
  assert.equal((await next.finish()).columns.length, 0);
});
