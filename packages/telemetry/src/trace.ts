import { randomBytes } from 'node:crypto';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** W3C trace context as carried in HTTP headers, gRPC metadata and Kafka headers. */
export interface TraceContext {
  traceparent: string;
  tracestate: string;
}

/** Continues an incoming traceparent with a new span id, or starts a new trace. */
export function childTrace(incoming?: string | null, tracestate = ''): TraceContext {
  const m = incoming ? TRACEPARENT.exec(incoming) : null;
  const traceId = m?.[1] && m[1] !== '0'.repeat(32) ? m[1] : randomBytes(16).toString('hex');
  const flags = m?.[3] ?? '01';
  return { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-${flags}`, tracestate: m ? tracestate : '' };
}

/** The trace id part of a traceparent, for log correlation. */
export function traceIdOf(traceparent: string): string | undefined {
  return TRACEPARENT.exec(traceparent)?.[1];
}
