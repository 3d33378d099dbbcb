// What every released result shares, whether returned whole or streamed (query-service.ts,
// streaming-cursor.ts): the masking a result needs, masking a batch, the columns as the client sees
// them, and the events that record a finished result.
import { AppError } from '@phigate/errors';
import { resultMasks } from './masks.js';
import type { DomainEvent, MaskingPort, MaskSession } from './ports.js';
import type { Cell, Decision, ResultColumn, ResultColumnMask } from './types.js';

/** A result column as the client sees it (`masking`: the strategy applied to it). */
export type ClientColumn = ResultColumn & { masking?: string };

/**
 * The canary a statement runs with. `block`, and any statement that is masked anyway (its rows go
 * through the masking service already), as planned; `report` on a statement with nothing to mask
 * (a masking call only for the canary), a sample of `rate` of them.
 */
export function effectiveCanary(planned: 'off' | 'report' | 'block', masked: boolean, rate: number, random: () => number): 'off' | 'report' | 'block' {
  if (planned !== 'report' || masked) return planned;
  return random() < rate ? 'report' : 'off';
}

/** The masking a result needs: a masking-service stream, or none when there is nothing to mask and no canary. */
export function openMasking(
  deps: { masking: MaskingPort; canaryReportSample?: number },
  requestId: string,
  cols: ResultColumn[],
  decision: Decision,
  random: () => number,
): MaskSession {
  const masks = resultMasks(cols, decision.maskingPlan);
  const masked = masks.some((m) => m.strategy !== 'none');
  const canary = effectiveCanary(decision.maskingPlan.canary ?? 'off', masked, deps.canaryReportSample ?? 1, random);
  // Nothing to mask and no canary: no masking call at all (the rows are what policy allows).
  return masked || canary !== 'off' ? deps.masking.open(requestId, masks, canary, decision.maskingPlan.visiblePhiKinds) : passThrough(masks);
}

/** PostgreSQL's text type: what a masked column is, whatever its source type. */
const TEXT_OID = 25;

function passThrough(masks: ResultColumnMask[]): MaskSession {
  return {
    mask: async (rows) => rows,
    finish: async () => ({ columns: masks.map((m) => ({ index: m.index, name: m.name, strategy: m.strategy, valuesMasked: 0 })), leaks: [] }),
    abort: () => {},
  };
}

/** Masks a batch; a masking service that answers a different number of rows releases nothing. */
export async function maskAll(session: MaskSession, batch: Cell[][]): Promise<Cell[][]> {
  const masked = await session.mask(batch);
  if (masked.length !== batch.length)
    throw new AppError('GATEWAY_MASKING_FAILED', { message: 'masking returned a different number of rows; no rows were released' });
  return masked;
}

/** The result's columns as the client sees them: a masked value is text, whatever the source type was. */
export function clientColumns(columns: ResultColumn[], decision: Decision): ClientColumn[] {
  const masks = resultMasks(columns, decision.maskingPlan);
  return columns.map((c, i) => {
    const m = masks[i];
    if (!m || m.strategy === 'none') return c;
    return { ...c, type: 'text', ...(c.typeOid === undefined ? {} : { typeOid: TEXT_OID, typeMod: -1 }), masking: m.strategy };
  });
}

export function bytesOf(rows: Cell[][]): number {
  let bytes = 0;
  for (const r of rows) for (const c of r) bytes += c === null ? 0 : c.length;
  return bytes;
}

/** What a finished result records: masking, suspected leaks, completion. */
export function outcomeEvents(report: Awaited<ReturnType<MaskSession['finish']>>, rows: number, bytes: number, durationMs: number): DomainEvent[] {
  return [
    { type: 'masking.applied', columns: report.columns },
    ...report.leaks.map((l): DomainEvent => ({ type: 'phi.leak_suspected', ...l })),
    { type: 'query.completed', rows, bytes, durationMs },
  ];
}

export function failed(e: AppError, stage: string): DomainEvent {
  return { type: 'query.failed', code: e.code, message: e.message, stage };
}
