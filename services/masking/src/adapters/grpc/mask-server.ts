import type { ServerDuplexStream } from '@grpc/grpc-js';
import { AppError } from '@phigate/errors';
import { decodeRow, encodeRow, maskingV1, toGrpcError } from '@phigate/proto';
import type { Counter, Logger } from '@phigate/telemetry';
import { type ColumnRule, maskRows, Strategy, type TokenKey } from '../../domain/strategies.js';

const FROM_PROTO: Partial<Record<maskingV1.Strategy, Strategy>> = {
  [maskingV1.Strategy.STRATEGY_NONE]: Strategy.NONE,
  [maskingV1.Strategy.STRATEGY_REDACT]: Strategy.REDACT,
  [maskingV1.Strategy.STRATEGY_PARTIAL]: Strategy.PARTIAL,
  [maskingV1.Strategy.STRATEGY_NULLIFY]: Strategy.NULLIFY,
  [maskingV1.Strategy.STRATEGY_TOKEN]: Strategy.TOKEN,
  [maskingV1.Strategy.STRATEGY_SCRUB]: Strategy.SCRUB,
};
// Safe Harbor strategies are not implemented here yet: they are absent from this map, so a plan
// asking for one is refused (MASKING_STREAM_INVALID) rather than passed through.

function toRules(header: maskingV1.MaskHeader, key: TokenKey | undefined): ColumnRule[] {
  return header.columns.map((c) => {
    const strategy = FROM_PROTO[c.strategy];
    // An unknown strategy is a contract violation: refuse rather than pass values through.
    if (!strategy) throw new AppError('MASKING_STREAM_INVALID', { message: `unknown masking strategy for column ${c.index}` });
    if (strategy === 'token' && !key) throw new AppError('MASKING_KEY_MISSING');
    return { index: c.index, name: c.name, strategy, keepLast: c.keepLast };
  });
}

export interface MaskServerDeps {
  key: TokenKey | undefined;
  log: Logger;
  rowsMasked: Counter;
  streams: Counter<'outcome'>;
}

/** phigate.masking.v1.MaskingService: header, then row batches in, masked batches out, then a report. */
export function maskingService(deps: MaskServerDeps): maskingV1.MaskingServiceServer {
  return {
    mask(call: ServerDuplexStream<maskingV1.MaskRequest, maskingV1.MaskResponse>) {
      void (async () => {
        let rules: ColumnRule[] | undefined;
        const counts: number[] = [];
        let rows = 0;
        try {
          // Plain `for await` destroys the stream when the client half-closes, which would also
          // close our sending side before the report goes out.
          for await (const msg of call.iterator({ destroyOnReturn: false }) as AsyncIterable<maskingV1.MaskRequest>) {
            if (msg.msg?.$case === 'header') {
              if (rules) throw new AppError('MASKING_STREAM_INVALID', { message: 'a mask stream carries exactly one header' });
              rules = toRules(msg.msg.value, deps.key);
              continue;
            }
            if (msg.msg?.$case !== 'rows') throw new AppError('MASKING_STREAM_INVALID', { message: 'empty mask request' });
            if (!rules) throw new AppError('MASKING_STREAM_INVALID', { message: 'the header must come before rows' });
            const masked = maskRows(msg.msg.value.rows.map(decodeRow), rules, deps.key, counts);
            rows += masked.length;
            // No drain wait: the gateway sends the next batch only after this one is answered, so at
            // most one batch per stream is ever buffered here.
            call.write({ msg: { $case: 'rows', value: { rows: masked.map(encodeRow) } } });
          }
          if (!rules) throw new AppError('MASKING_STREAM_INVALID', { message: 'the stream ended without a header' });
          const report: maskingV1.MaskReport = {
            rows,
            leaks: [],
            columns: rules.map((r, i) => ({ index: r.index, name: r.name, strategy: strategyToProto(r.strategy), valuesMasked: counts[i] ?? 0 })),
          };
          deps.rowsMasked.inc(rows);
          deps.streams.inc({ outcome: 'ok' });
          call.write({ msg: { $case: 'report', value: report } });
          call.end();
        } catch (err) {
          deps.streams.inc({ outcome: 'error' });
          deps.log.warn({ code: (err as AppError).code ?? 'COMMON_INTERNAL' }, 'mask stream failed');
          // Emitting 'error' with a status object is how a grpc-js server ends a stream with a status;
          // destroy() would end it silently and leave the client waiting for its deadline.
          call.emit('error', toGrpcError(err));
        }
      })();
    },
  };
}

function strategyToProto(s: Strategy): maskingV1.Strategy {
  for (const [proto, dom] of Object.entries(FROM_PROTO)) if (dom === s) return proto as maskingV1.Strategy;
  return maskingV1.Strategy.STRATEGY_UNSPECIFIED;
}
