import type { ClientDuplexStream } from '@grpc/grpc-js';
import { AppError } from '@phigate/errors';
import { decodeRow, encodeRow, fromGrpcError, type GrpcTls, grpcChannelCredentials, maskingV1 } from '@phigate/proto';
import type { LeakSuspicion, MaskingPort, MaskSession } from '../../domain/ports.js';
import type { Cell, MaskReportColumn } from '../../domain/types.js';
import { CANARY_TO_PROTO, CHANNEL_OPTIONS, STRATEGIES, STRATEGY_TO_PROTO } from './policy-client.js';

/**
 * MaskingPort over one bidirectional gRPC stream per result. Batches are answered in order; the
 * stream has a deadline, and any failure rejects every waiting batch, so no row is released unmasked.
 */
export function createMaskingClient(address: string, timeoutMs: number, tls: GrpcTls): MaskingPort & { close(): void } {
  const client = new maskingV1.MaskingServiceClient(address, grpcChannelCredentials(tls), CHANNEL_OPTIONS);
  return {
    open(requestId, columns, canary, visiblePhiKinds = []): MaskSession {
      const call: ClientDuplexStream<maskingV1.MaskRequest, maskingV1.MaskResponse> = client.mask({ deadline: Date.now() + timeoutMs });
      const waiting: Array<{ resolve: (rows: Cell[][]) => void; reject: (e: AppError) => void }> = [];
      let report: { resolve: (r: { columns: MaskReportColumn[]; leaks: LeakSuspicion[] }) => void; reject: (e: AppError) => void } | undefined;
      let failure: AppError | undefined;
      const fail = (err: AppError) => {
        if (failure) return;
        failure = err;
        for (const w of waiting.splice(0)) w.reject(err);
        report?.reject(err);
      };
      call.on('data', (res: maskingV1.MaskResponse) => {
        if (res.msg?.$case === 'rows') waiting.shift()?.resolve(res.msg.value.rows.map(decodeRow));
        else if (res.msg?.$case === 'report') {
          const cols = res.msg.value.columns.map((c) => ({
            index: c.index,
            name: c.name,
            strategy: STRATEGIES[c.strategy] ?? 'redact',
            valuesMasked: c.valuesMasked,
          }));
          const leaks = res.msg.value.leaks.map((l) => ({ column: l.name, detector: l.detector, count: l.count }));
          report?.resolve({ columns: cols, leaks });
        }
      });
      call.on('error', (err) => fail(fromGrpcError(err, 'GATEWAY_MASKING_UNAVAILABLE', 'GATEWAY_MASKING_FAILED')));
      call.on('end', () => fail(new AppError('GATEWAY_MASKING_FAILED', { message: 'the masking stream ended early; no rows were released' })));
      call.write({
        msg: {
          $case: 'header',
          value: {
            requestId,
            columns: columns.map((c) => ({ index: c.index, name: c.name, strategy: STRATEGY_TO_PROTO[c.strategy], keepLast: c.keepLast })),
            // The request's date is the reference for age-based Safe Harbor rules.
            asOf: new Date().toISOString().slice(0, 10),
            canary: CANARY_TO_PROTO[canary],
            visiblePhiKinds: [...visiblePhiKinds],
          },
        },
      });
      return {
        mask(rows) {
          if (failure) return Promise.reject(failure);
          return new Promise((resolve, reject) => {
            waiting.push({ resolve, reject });
            call.write({ msg: { $case: 'rows', value: { rows: rows.map(encodeRow) } } });
          });
        },
        finish() {
          if (failure) return Promise.reject(failure);
          return new Promise((resolve, reject) => {
            report = { resolve, reject };
            call.end();
          });
        },
        abort() {
          failure ??= new AppError('GATEWAY_MASKING_FAILED');
          call.cancel();
        },
      };
    },
    close: () => client.close(),
  };
}
