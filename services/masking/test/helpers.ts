// Test helpers: a real masking gRPC server (in-process or in a child process, port 0) and a client
// that drives a mask stream the way the gateway does (one batch in flight).
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { credentials, Server, ServerCredentials } from '@grpc/grpc-js';
import type { AppError } from '@phigate/errors';
import { type Cell, decodeRow, encodeRow, fromGrpcError, maskingV1 } from '@phigate/proto';
import { Counter, createLogger, createMetrics } from '@phigate/telemetry';
import { type Draining, MASKING_SERVICE_DEFINITION, type MaskServerDeps, maskingService } from '../src/adapters/grpc/mask-server.js';
import { encodeRequest, rawMaskClient } from '../src/load/index.js';
import type { ChildStats } from '../src/tools/serve-child.js';

export const TEST_KEY = { id: 'k1', secret: Buffer.from('0123456789abcdef0123456789abcdef') };

/** A masking server in this process on 127.0.0.1:0; `logs` collects its log lines. */
export async function startInProcess(deps: Partial<MaskServerDeps> = {}, draining?: Draining) {
  const logs: Array<Record<string, unknown>> = [];
  const destination = {
    write(line: string) {
      logs.push(JSON.parse(line));
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  const metrics = createMetrics('masking');
  const server = new Server();
  server.addService(
    MASKING_SERVICE_DEFINITION,
    maskingService(
      {
        key: TEST_KEY,
        log: createLogger({ service: 'masking', level: 'info', destination }),
        rowsMasked: new Counter({ name: 'rows', help: 'rows', registers: [metrics] }),
        streams: new Counter({ name: 'streams', help: 'streams', labelNames: ['outcome'] as const, registers: [metrics] }),
        ...deps,
      },
      draining,
    ),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, logs, stop: () => server.forceShutdown() };
}

/** The masking server in a child process (dist/src/tools/serve-child.js). */
export async function startChild(env: Record<string, string> = {}) {
  const entry = fileURLToPath(new URL('../src/tools/serve-child.js', import.meta.url));
  const child: ChildProcess = fork(entry, [], { env: { ...process.env, MASKING_TOKEN_KEY: TEST_KEY.secret.toString(), ...env }, stdio: 'inherit' });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`masking child exited with ${code}`)));
    child.on('message', (m: { port?: number }) => m.port && resolve(m.port));
  });
  const ask = <T>(msg: string, key: string) =>
    new Promise<T>((resolve) => {
      const h = (m: Record<string, unknown>) => {
        if (key in m) {
          child.off('message', h);
          resolve(m[key] as T);
        }
      };
      child.on('message', h);
      child.send(msg);
    });
  return {
    address: `127.0.0.1:${port}`,
    pid: child.pid!,
    stats: () => ask<ChildStats>('stats', 'stats'),
    resetPeak: () => ask<boolean>('reset-peak', 'reset'),
    stop: () => {
      child.removeAllListeners('exit');
      child.send('stop');
    },
  };
}

export function client(address: string) {
  return new maskingV1.MaskingServiceClient(address, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
}

export interface Column {
  index: number;
  name: string;
  strategy: maskingV1.Strategy;
  keepLast?: number;
}

export function header(columns: Column[], extra: Partial<maskingV1.MaskHeader> = {}): maskingV1.MaskHeader {
  return {
    requestId: 'test',
    asOf: '2026-06-30',
    canary: maskingV1.CanaryMode.CANARY_MODE_OFF,
    visiblePhiKinds: [],
    columns: columns.map((c) => ({ keepLast: 0, ...c })),
    ...extra,
  };
}

/**
 * One mask stream as the gateway runs it: header, then each batch after the previous answer,
 * then half-close and the report. Rejects with the AppError the gateway would see.
 */
export async function maskStream(
  c: maskingV1.MaskingServiceClient,
  h: maskingV1.MaskHeader,
  batches: Iterable<Cell[][]>,
): Promise<{ batches: Cell[][][]; report: maskingV1.MaskReport }> {
  const call = c.mask({ deadline: Date.now() + 120_000 });
  const waiting: Array<(m: maskingV1.MaskResponse) => void> = [];
  let failure: AppError | undefined;
  const failed = new Promise<never>((_, reject) => {
    call.on('error', (err) => {
      failure = fromGrpcError(err, 'GATEWAY_MASKING_UNAVAILABLE', 'GATEWAY_MASKING_FAILED');
      reject(failure);
    });
  });
  failed.catch(() => {});
  call.on('data', (m: maskingV1.MaskResponse) => waiting.shift()?.(m));
  const next = () => Promise.race([new Promise<maskingV1.MaskResponse>((resolve) => waiting.push(resolve)), failed]);
  call.write({ msg: { $case: 'header', value: h } });
  const out: Cell[][][] = [];
  for (const rows of batches) {
    if (failure) throw failure;
    const answer = next();
    call.write({ msg: { $case: 'rows', value: { rows: rows.map(encodeRow) } } });
    const m = await answer;
    if (m.msg?.$case !== 'rows') throw new Error('expected rows');
    out.push(m.msg.value.rows.map(decodeRow));
  }
  const last = next();
  call.end();
  const m = await last;
  if (m.msg?.$case !== 'report') throw new Error('expected the report');
  return { batches: out, report: m.msg.value };
}

/**
 * Streams pre-encoded batches (one in flight, as the gateway does) and returns the raw report;
 * `onAnswer` sees each answered batch's bytes.
 */
export async function rawMaskStream(
  address: string,
  headerBuf: Buffer,
  batches: Iterable<Buffer>,
  onAnswer?: (b: Buffer, i: number) => void,
): Promise<maskingV1.MaskReport> {
  const c = rawMaskClient(address);
  try {
    const call = c.mask({ deadline: Date.now() + 600_000 });
    const waiting: Array<(b: Buffer) => void> = [];
    const failed = new Promise<never>((_, reject) =>
      call.on('error', (e) => reject(fromGrpcError(e, 'GATEWAY_MASKING_UNAVAILABLE', 'GATEWAY_MASKING_FAILED'))),
    );
    failed.catch(() => {});
    call.on('data', (b: Buffer) => waiting.shift()?.(b));
    const next = () => Promise.race([new Promise<Buffer>((resolve) => waiting.push(resolve)), failed]);
    call.write(headerBuf);
    let i = 0;
    for (const batch of batches) {
      const answer = next();
      call.write(batch);
      const b = await answer;
      onAnswer?.(b, i++);
    }
    const last = next();
    call.end();
    const res = maskingV1.MaskResponse.decode(await last);
    if (res.msg?.$case !== 'report') throw new Error('expected the report');
    return res.msg.value;
  } finally {
    c.close();
  }
}

export { encodeRequest };
