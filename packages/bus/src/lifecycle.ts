// The event contract's lifecycle view (pure: no Kafka, importable as @phigate/bus/lifecycle). A
// read that ran without waiting is one `query.served` record (schema version 2): its statement,
// decision, execution, masking, suspected leaks and completion. Readers that reason step by step
// (the session recording, the minimum-necessary report, tests of one step) read it as the separate
// events schema version 1 producers sent, so both versions mean the same to them. The JSON
// contract of docs/events.md.

type Json = Record<string, unknown>;

const obj = (v: unknown): Json | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);

/** The record's parts, in lifecycle order: [type, detail field, value]. */
const PARTS = [
  ['query.received', 'queryReceived', 'received'],
  ['policy.decided', 'policyDecided', 'decision'],
  ['query.executed', 'queryExecuted', 'executed'],
  ['masking.applied', 'maskingApplied', 'masking'],
] as const;

/**
 * An event in its proto3 JSON form as the lifecycle steps it records: a `query.served` record as its
 * parts (each with the record's envelope), any other event as itself.
 */
export function lifecycleOf(event: unknown): unknown[] {
  const e = obj(event);
  const served = e?.type === 'query.served' ? obj(e.queryServed) : undefined;
  if (!e || !served) return [event];
  const { queryServed: _, ...envelope } = e;
  const part = (type: string, field: string, value: unknown) => ({ ...envelope, type, [field]: value });
  const out: unknown[] = [];
  for (const [type, field, key] of PARTS) if (obj(served[key])) out.push(part(type, field, served[key]));
  for (const leak of Array.isArray(served.leaks) ? served.leaks : []) if (obj(leak)) out.push(part('phi.leak_suspected', 'phiLeakSuspected', leak));
  out.push(part('query.completed', 'queryCompleted', obj(served.completed) ?? {}));
  return out;
}
