import type { ServerDuplexStream, ServiceDefinition } from '@grpc/grpc-js';
import { AppError } from '@phigate/errors';
import type { CanaryMode } from '@phigate/model';
import { canaryFromProto, maskingV1, STRATEGY_FROM_PROTO, STRATEGY_TO_PROTO, toGrpcError } from '@phigate/proto';
import type { Counter, Logger } from '@phigate/telemetry';
import { Canary, type CanarySampling, DEFAULT_CANARY_SAMPLING } from '../../domain/canary.js';
import { defaultScanner, type Scanner } from '../../domain/detectors.js';
import { TokenHmac } from '../../domain/hmac.js';
import { parseAsOf } from '../../domain/safe-harbor.js';
import { type ColumnRule, compileMasker, type Masker, Strategy, type TokenKey } from '../../domain/strategies.js';
import {
  BatchMasker,
  type ColumnPlan,
  decodeMultiplexedRequest,
  decodeRequest,
  encodeMultiplexedResponse,
  encodeResponse,
  type Inbound,
  type MultiplexedInbound,
  multiplexedRows,
} from './wire.js';

/** Column positions beyond this are refused (PostgreSQL allows 1,664 result columns). */
export const MAX_COLUMN_INDEX = 10_000;

/**
 * The service definition the server registers: the generated one's path and wire format, with a
 * decoder that leaves row batches as bytes and an encoder that accepts pre-encoded batches.
 */
export const MASKING_SERVICE_DEFINITION: ServiceDefinition = {
  mask: {
    path: maskingV1.MaskingServiceService.mask.path,
    requestStream: true,
    responseStream: true,
    originalName: 'mask',
    requestSerialize: maskingV1.MaskingServiceService.mask.requestSerialize as (v: unknown) => Buffer,
    requestDeserialize: decodeRequest,
    responseSerialize: encodeResponse as (v: unknown) => Buffer,
    responseDeserialize: maskingV1.MaskingServiceService.mask.responseDeserialize,
  },
  maskMultiplexed: {
    path: maskingV1.MaskingServiceService.maskMultiplexed.path,
    requestStream: true,
    responseStream: true,
    originalName: 'maskMultiplexed',
    requestSerialize: maskingV1.MaskingServiceService.maskMultiplexed.requestSerialize as (v: unknown) => Buffer,
    requestDeserialize: decodeMultiplexedRequest,
    responseSerialize: encodeMultiplexedResponse as (v: unknown) => Buffer,
    responseDeserialize: maskingV1.MaskingServiceService.maskMultiplexed.responseDeserialize,
  },
};

/** Sessions one multiplexed stream may hold open at once (each holds its compiled plan). */
export const MAX_MULTIPLEXED_SESSIONS = 4096;

export interface MaskServerDeps {
  key: TokenKey | undefined;
  log: Logger;
  rowsMasked: Counter;
  streams: Counter<'outcome'>;
  /** Leak-canary suspicions by detector and mode. */
  leaks?: Counter<'detector' | 'mode'>;
  /** Detectors for `scrub` and the canary (configured MRN and health-plan patterns). */
  scanner?: Scanner;
  canarySampling?: CanarySampling;
}

export interface Stream {
  requestId: string;
  rules: ColumnRule[];
  plan: ColumnPlan;
  masker: BatchMasker;
  canaryMode: CanaryMode;
}

/** Validates a header and compiles it into a stream plan; throws (fail closed) on anything it cannot honour. */
export function openStream(
  header: maskingV1.MaskHeader,
  deps: { key?: TokenKey | undefined; scanner?: Scanner | undefined; canarySampling?: CanarySampling | undefined },
): Stream {
  const invalid = (message: string) => new AppError('MASKING_STREAM_INVALID', { message });
  const asOf = header.asOf === '' ? undefined : parseAsOf(header.asOf);
  if (header.asOf !== '' && !asOf) throw invalid('as_of must be a date (YYYY-MM-DD)');
  const canaryMode = canaryFromProto(header.canary);
  if (!canaryMode) throw invalid('unknown canary mode');
  const scanner = deps.scanner ?? defaultScanner;
  const rules: ColumnRule[] = [];
  let maxIndex = -1;
  const seen = new Set<number>();
  for (const c of header.columns) {
    const strategy = STRATEGY_FROM_PROTO[c.strategy];
    // An unknown strategy is a contract violation: refuse rather than pass values through.
    if (!strategy) throw invalid(`unknown masking strategy for column ${c.index}`);
    if (c.index > MAX_COLUMN_INDEX) throw invalid(`column index ${c.index} is out of range`);
    if (seen.has(c.index)) throw invalid(`column ${c.index} appears twice in the header`);
    seen.add(c.index);
    if (strategy === 'token' && !deps.key) throw new AppError('MASKING_KEY_MISSING');
    if (strategy === 'safe_harbor_date' && !asOf) throw invalid(`column ${c.index} uses safe_harbor_date but the header has no as_of date`);
    rules.push({ index: c.index, name: c.name, strategy, keepLast: c.keepLast });
    maxIndex = Math.max(maxIndex, c.index);
  }
  const maskers: Array<Masker | undefined> = new Array(maxIndex + 1).fill(undefined);
  const strategies: Strategy[] = new Array(maxIndex + 1).fill(Strategy.NONE);
  const keepLast = new Int32Array(maxIndex + 1);
  const slots = new Int32Array(maxIndex + 1).fill(-1);
  const names: string[] = new Array(maxIndex + 1).fill('');
  for (const [slot, rule] of rules.entries()) {
    maskers[rule.index] = compileMasker(rule, { key: deps.key, asOf, scanner });
    strategies[rule.index] = rule.strategy;
    keepLast[rule.index] = rule.keepLast;
    slots[rule.index] = slot;
    names[rule.index] = rule.name;
  }
  const plan: ColumnPlan = {
    maskers,
    strategies,
    keepLast,
    slots,
    names,
    counts: new Float64Array(rules.length),
    hmac: deps.key ? new TokenHmac(deps.key.id, deps.key.secret) : undefined,
    asOfYear: asOf?.year ?? 0,
    canary: canaryMode === 'off' ? undefined : new Canary(scanner, deps.canarySampling ?? DEFAULT_CANARY_SAMPLING, header.visiblePhiKinds),
    block: canaryMode === 'block',
  };
  return { requestId: header.requestId, rules, plan, masker: new BatchMasker(plan), canaryMode };
}

/** A stream's report once its last batch is masked (counted, and its leak suspicions logged: column, detector and count, never a value). */
export function finishStream(stream: Stream, deps: MaskServerDeps): maskingV1.MaskReport {
  const leaks = stream.plan.canary?.leaks() ?? [];
  if (leaks.length > 0) {
    deps.log.warn({ requestId: stream.requestId, leaks }, 'phi.leak_suspected');
    for (const l of leaks) deps.leaks?.inc({ detector: l.detector, mode: stream.canaryMode }, l.count);
  }
  deps.rowsMasked.inc(stream.masker.rows);
  deps.streams.inc({ outcome: 'ok' });
  return {
    rows: stream.masker.rows,
    leaks,
    columns: stream.rules.map((r, i) => ({ index: r.index, name: r.name, strategy: STRATEGY_TO_PROTO[r.strategy], valuesMasked: stream.plan.counts[i] ?? 0 })),
  };
}

/** Counts and logs a stream that ends in `err` (a blocked one with its leak suspicions); returns the error's code. */
export function streamFailed(err: unknown, stream: Stream | undefined, deps: MaskServerDeps): string {
  const code = (err as AppError).code ?? 'COMMON_INTERNAL';
  deps.streams.inc({ outcome: code === 'MASKING_LEAK_BLOCKED' ? 'blocked' : 'error' });
  if (code === 'MASKING_LEAK_BLOCKED') {
    const leaks = stream?.plan.canary?.leaks() ?? [];
    deps.log.warn({ requestId: stream?.requestId, leaks }, 'phi.leak_suspected: stream blocked, no rows released');
    for (const l of leaks) deps.leaks?.inc({ detector: l.detector, mode: 'block' }, l.count);
  } else deps.log.warn({ code }, 'mask stream failed');
  return code;
}

/** phigate.masking.v1.MaskingService: header, then row batches in, masked batches out, then a report. */
export function maskingService(deps: MaskServerDeps, draining = new Draining()) {
  return {
    maskMultiplexed: multiplexed(deps, draining),
    mask(call: ServerDuplexStream<Inbound, Buffer | maskingV1.MaskResponse>) {
      void (async () => {
        let stream: Stream | undefined;
        try {
          // Plain `for await` destroys the stream when the client half-closes, which would also
          // close our sending side before the report goes out.
          for await (const msg of call.iterator({ destroyOnReturn: false }) as AsyncIterable<Inbound>) {
            if (msg.kind === 'header') {
              if (stream) throw new AppError('MASKING_STREAM_INVALID', { message: 'a mask stream carries exactly one header' });
              stream = openStream(msg.header, deps);
              continue;
            }
            if (msg.kind === 'invalid') throw new AppError('MASKING_STREAM_INVALID', { message: `undecodable mask request (${msg.reason})` });
            if (msg.kind !== 'rows') throw new AppError('MASKING_STREAM_INVALID', { message: 'empty mask request' });
            if (!stream) throw new AppError('MASKING_STREAM_INVALID', { message: 'the header must come before rows' });
            const out = stream.masker.maskBatch(msg.buf, msg.start, msg.end);
            // The gateway sends the next batch only after this one is answered; a client that does
            // not read its answers is made to wait rather than buffered without bound.
            if (!call.write(out)) await drained(call);
          }
          if (!stream) throw new AppError('MASKING_STREAM_INVALID', { message: 'the stream ended without a header' });
          call.write({ msg: { $case: 'report', value: finishStream(stream, deps) } });
          call.end();
        } catch (err) {
          streamFailed(err, stream, deps);
          // Emitting 'error' with a status object is how a grpc-js server ends a stream with a status;
          // destroy() would end it silently and leave the client waiting for its deadline.
          call.emit('error', toGrpcError(err));
        }
      })();
    },
  };
}

export /**
 * MaskMultiplexed: the sessions of one long-lived stream, each as a Mask stream would be, frames
 * handled in arrival order (masking is synchronous, so each session's batches are answered in
 * order). A session that fails is answered SessionFailed and forgotten (its later frames are
 * dropped until the client's end or cancel); only an undecodable frame fails the whole stream.
 */
function multiplexed(deps: MaskServerDeps, draining: Draining) {
  return (call: ServerDuplexStream<MultiplexedInbound, Buffer | maskingV1.MaskMultiplexedResponse>) => {
    void (async () => {
      const sessions = new Map<number, Stream>();
      /** Sessions that failed and whose client has not yet sent its end or cancel. */
      const failed = new Set<number>();
      const send = async (out: Buffer | maskingV1.MaskMultiplexedResponse) => {
        if (!call.write(out)) await drained(call);
      };
      // Shutting down: the stream ends as soon as it has no open session (the client opens a new
      // one, elsewhere), and a session that starts meanwhile is refused as retriable.
      const drainIfIdle = () => {
        if (draining.on && sessions.size === 0 && !call.writableEnded) call.end();
      };
      const unsubscribe = draining.subscribe(drainIfIdle);
      try {
        for await (const msg of call.iterator({ destroyOnReturn: false }) as AsyncIterable<MultiplexedInbound>) {
          if (msg.kind === 'invalid') throw new AppError('MASKING_STREAM_INVALID', { message: `undecodable mask request (${msg.reason})` });
          const id = msg.session;
          if (msg.kind === 'cancel' || (msg.kind === 'end' && failed.has(id))) {
            sessions.delete(id);
            failed.delete(id);
            continue;
          }
          if (failed.has(id)) continue;
          let stream = sessions.get(id);
          try {
            if (msg.kind === 'header') {
              if (stream) throw new AppError('MASKING_STREAM_INVALID', { message: 'a mask session carries exactly one header' });
              if (draining.on) throw new AppError('MASKING_SHUTTING_DOWN');
              if (sessions.size >= MAX_MULTIPLEXED_SESSIONS)
                throw new AppError('MASKING_STREAM_INVALID', { message: 'too many open mask sessions on one stream' });
              stream = openStream(msg.header, deps);
              sessions.set(id, stream);
            } else if (!stream) throw new AppError('MASKING_STREAM_INVALID', { message: 'the header must come before rows' });
            else if (msg.kind === 'rows') await send(multiplexedRows(id, stream.masker.maskBatch(msg.buf, msg.start, msg.end)));
            else if (msg.kind === 'end') {
              sessions.delete(id);
              await send({ sessionId: id, msg: { $case: 'report', value: finishStream(stream, deps) } });
            } else throw new AppError('MASKING_STREAM_INVALID', { message: 'empty mask request' });
          } catch (err) {
            sessions.delete(id);
            failed.add(id);
            const code = streamFailed(err, stream, deps);
            const message = code === 'COMMON_INTERNAL' ? 'the masking service failed' : (err as Error).message;
            await send({ sessionId: id, msg: { $case: 'failed', value: { code, message } } });
          }
          drainIfIdle();
        }
        if (!call.writableEnded) call.end();
      } catch (err) {
        streamFailed(err, undefined, deps);
        call.emit('error', toGrpcError(err));
      } finally {
        unsubscribe();
      }
    })();
  };
}

/** The server's shutdown, as the multiplexed streams see it. */
export class Draining {
  on = false;
  private readonly listeners = new Set<() => void>();

  subscribe(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** Starts the drain: idle streams end now, busy ones when their last session ends. */
  start(): void {
    this.on = true;
    for (const f of this.listeners) f();
  }
}

function drained(call: ServerDuplexStream<unknown, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('close', done);
      call.off('cancelled', done);
      resolve();
    };
    call.on('drain', done);
    call.on('close', done);
    call.on('cancelled', done);
  });
}
