import { type ClientDuplexStream, status } from '@grpc/grpc-js';
import { AppError, isErrorCode } from '@phigate/errors';
import {
  CANARY_TO_PROTO,
  decodeRow,
  encodeRow,
  fromGrpcError,
  type GrpcTls,
  grpcChannelCredentials,
  maskingV1,
  STRATEGY_FROM_PROTO,
  STRATEGY_TO_PROTO,
} from '@phigate/proto';
import type { LeakSuspicion, MaskingPort, MaskSession } from '../../domain/ports.js';
import type { Cell, MaskReportColumn, ResultColumnMask } from '../../domain/types.js';
import { CHANNEL_OPTIONS } from './policy-client.js';

/** Long-lived multiplexed streams per replica: a large result on one delays the small ones on it only. */
const STREAMS = 4;

type Report = { columns: MaskReportColumn[]; leaks: LeakSuspicion[] };
type Waiter<T> = { resolve: (v: T) => void; reject: (e: AppError) => void };

/**
 * MaskingPort over the masking service's MaskMultiplexed RPC: a few long-lived streams carry every
 * result's masking, so a statement pays no call set-up. Each result is a session with its own
 * deadline; batches are answered in order; a session's failure rejects what waits on it, and a
 * stream's failure every session on it, so no row is released unmasked. A masking service without
 * the RPC (an older one, mid-upgrade) is used one stream per result instead.
 */
export function createMaskingClient(address: string, timeoutMs: number, tls: GrpcTls): MaskingPort & { close(): void } {
  const client = new maskingV1.MaskingServiceClient(address, grpcChannelCredentials(tls), CHANNEL_OPTIONS);
  const muxes: Array<Multiplexed | undefined> = new Array(STREAMS).fill(undefined);
  let turn = 0;
  let multiplexing = true;
  return {
    open(requestId, columns, canary, visiblePhiKinds = []): MaskSession {
      const header = maskHeader(requestId, columns, canary, visiblePhiKinds);
      if (!multiplexing) return perCallSession(client, timeoutMs, header);
      const slot = turn++ % STREAMS;
      let mux = muxes[slot];
      if (!mux || mux.broken) {
        mux = new Multiplexed(client, (unsupported) => {
          if (muxes[slot] === mux) muxes[slot] = undefined;
          if (unsupported) multiplexing = false;
        });
        muxes[slot] = mux;
      }
      return mux.session(header, timeoutMs);
    },
    close: () => {
      for (const m of muxes) m?.close();
      client.close();
    },
  };
}

function maskHeader(
  requestId: string,
  columns: ResultColumnMask[],
  canary: 'off' | 'report' | 'block',
  visiblePhiKinds: readonly string[],
): maskingV1.MaskHeader {
  return {
    requestId,
    columns: columns.map((c) => ({ index: c.index, name: c.name, strategy: STRATEGY_TO_PROTO[c.strategy], keepLast: c.keepLast })),
    // The request's date is the reference for age-based Safe Harbor rules.
    asOf: new Date().toISOString().slice(0, 10),
    canary: CANARY_TO_PROTO[canary],
    visiblePhiKinds: [...visiblePhiKinds],
  };
}

function toReport(r: maskingV1.MaskReport): Report {
  return {
    columns: r.columns.map((c) => ({ index: c.index, name: c.name, strategy: STRATEGY_FROM_PROTO[c.strategy] ?? 'redact', valuesMasked: c.valuesMasked })),
    leaks: r.leaks.map((l) => ({ column: l.name, detector: l.detector, count: l.count })),
  };
}

/** One result's state on either transport: batches waiting for their answer, the report, the failure that ended it. */
class Pending {
  readonly waiting: Array<Waiter<Cell[][]>> = [];
  report: Waiter<Report> | undefined;
  failure: AppError | undefined;
  /** Called once when the result fails. */
  onFail: (() => void) | undefined;

  fail(err: AppError): void {
    if (this.failure) return;
    this.failure = err;
    this.onFail?.();
    for (const w of this.waiting.splice(0)) w.reject(err);
    this.report?.reject(err);
  }

  rows(rows: Cell[][]): void {
    this.waiting.shift()?.resolve(rows);
  }

  /** A waiter for the next answer, or the failure at once. */
  next<T>(add: (w: Waiter<T>) => void, send: () => void): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      add({ resolve, reject });
      send();
    });
  }
}

/** One long-lived MaskMultiplexed stream and the sessions on it. */
class Multiplexed {
  private readonly call: ClientDuplexStream<maskingV1.MaskMultiplexedRequest, maskingV1.MaskMultiplexedResponse>;
  private readonly sessions = new Map<number, Pending>();
  private nextId = 1;
  broken = false;

  constructor(client: maskingV1.MaskingServiceClient, onBroken: (unsupported: boolean) => void) {
    this.call = client.maskMultiplexed();
    const broke = (err: AppError, unsupported = false) => {
      if (this.broken) return;
      this.broken = true;
      onBroken(unsupported);
      for (const s of this.sessions.values()) s.fail(err);
      this.sessions.clear();
    };
    this.call.on('data', (res: maskingV1.MaskMultiplexedResponse) => {
      const s = this.sessions.get(res.sessionId);
      if (!s) return; // cancelled, or timed out: its late answers are dropped
      const msg = res.msg;
      if (msg?.$case === 'rows') s.rows(msg.value.rows.map(decodeRow));
      else if (msg?.$case === 'report') {
        this.sessions.delete(res.sessionId);
        s.report?.resolve(toReport(msg.value));
      } else if (msg?.$case === 'failed') {
        this.sessions.delete(res.sessionId);
        const code = isErrorCode(msg.value.code) ? msg.value.code : 'GATEWAY_MASKING_FAILED';
        s.fail(new AppError(code === 'MASKING_SHUTTING_DOWN' ? 'GATEWAY_MASKING_UNAVAILABLE' : code));
      }
    });
    this.call.on('error', (err: { code?: number }) =>
      // A service without MaskMultiplexed: these results are retried by their clients, the next ones use Mask.
      err.code === status.UNIMPLEMENTED
        ? broke(new AppError('GATEWAY_MASKING_UNAVAILABLE', { message: 'the masking service has no multiplexed streams; retry' }), true)
        : broke(fromGrpcError(err, 'GATEWAY_MASKING_UNAVAILABLE', 'GATEWAY_MASKING_FAILED')),
    );
    // The service ended the stream cleanly: it is shutting down (the next result opens a new stream).
    this.call.on('end', () => broke(new AppError('GATEWAY_MASKING_UNAVAILABLE', { message: 'the masking stream ended; no rows were released' })));
  }

  session(header: maskingV1.MaskHeader, timeoutMs: number): MaskSession {
    const id = this.nextId++;
    const s = new Pending();
    this.sessions.set(id, s);
    const forget = () => {
      if (this.sessions.get(id) !== s) return;
      this.sessions.delete(id);
      if (!this.broken) this.call.write({ sessionId: id, msg: { $case: 'cancel', value: {} } });
    };
    // A session has the deadline a call of its own would have had.
    const timer = setTimeout(() => {
      forget();
      s.fail(new AppError('GATEWAY_MASKING_UNAVAILABLE', { message: 'masking did not answer in time; no rows were released' }));
    }, timeoutMs);
    timer.unref();
    s.onFail = () => clearTimeout(timer);
    this.call.write({ sessionId: id, msg: { $case: 'header', value: header } });
    return {
      mask: (rows) =>
        s.next<Cell[][]>(
          (w) => s.waiting.push(w),
          () => this.call.write({ sessionId: id, msg: { $case: 'rows', value: { rows: rows.map(encodeRow) } } }),
        ),
      finish: () =>
        s
          .next<Report>(
            (w) => {
              s.report = w;
            },
            () => this.call.write({ sessionId: id, msg: { $case: 'end', value: {} } }),
          )
          .finally(() => clearTimeout(timer)),
      abort: () => {
        forget();
        s.fail(new AppError('GATEWAY_MASKING_FAILED'));
      },
    };
  }

  close(): void {
    this.broken = true;
    this.call.cancel();
  }
}

/** A result on a stream of its own (the Mask RPC), for a masking service without MaskMultiplexed. */
function perCallSession(client: maskingV1.MaskingServiceClient, timeoutMs: number, header: maskingV1.MaskHeader): MaskSession {
  const call: ClientDuplexStream<maskingV1.MaskRequest, maskingV1.MaskResponse> = client.mask({ deadline: Date.now() + timeoutMs });
  const s = new Pending();
  call.on('data', (res: maskingV1.MaskResponse) => {
    if (res.msg?.$case === 'rows') s.rows(res.msg.value.rows.map(decodeRow));
    else if (res.msg?.$case === 'report') s.report?.resolve(toReport(res.msg.value));
  });
  call.on('error', (err) => s.fail(fromGrpcError(err, 'GATEWAY_MASKING_UNAVAILABLE', 'GATEWAY_MASKING_FAILED')));
  call.on('end', () => s.fail(new AppError('GATEWAY_MASKING_FAILED', { message: 'the masking stream ended early; no rows were released' })));
  call.write({ msg: { $case: 'header', value: header } });
  return {
    mask: (rows) =>
      s.next<Cell[][]>(
        (w) => s.waiting.push(w),
        () => call.write({ msg: { $case: 'rows', value: { rows: rows.map(encodeRow) } } }),
      ),
    finish: () =>
      s.next<Report>(
        (w) => {
          s.report = w;
        },
        () => call.end(),
      ),
    abort: () => {
      s.failure ??= new AppError('GATEWAY_MASKING_FAILED');
      call.cancel();
    },
  };
}
