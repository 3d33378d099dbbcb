// A request's session recording, assembled from its stored events (the JSON contract of
// docs/events.md). Events are read defensively: a field the producer left out is its default.

import { lifecycleOf } from '@phigate/bus/lifecycle';

type Json = Record<string, unknown>;

const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** A request's outcome, as far as its events tell. */
export type RequestStatus = 'completed' | 'failed' | 'denied' | 'pending_approval' | 'approval_denied' | 'approval_expired' | 'running' | 'received';

/** The session recording of one request: who asked what, what was decided, and what left. */
export interface Recording {
  requestId: string;
  sessionId?: string;
  frontDoor?: string;
  identity?: { subject?: string; clientId?: string; groups: string[]; issuer?: string };
  connection?: string;
  role?: string;
  statement?: { text?: string; fingerprint?: string; dialect?: string; kinds: string[]; tables: string[]; columnsRead: string[]; understood: boolean };
  decision?: { action?: string; ruleIds: string[]; reasons: string[]; policyRevision?: string; decisionId?: string; rowLimit: number; maskedColumns: string[] };
  approval?: {
    approvalId?: string;
    approverGroups: string[];
    quorum: number;
    expiresAt?: string;
    outcome?: 'granted' | 'denied' | 'expired';
    approvers: string[];
    reason?: string;
  };
  masking?: {
    columns: { name?: string; strategy: string; valuesMasked: number }[];
    valuesMasked: number;
    leaks: { column?: string; detector?: string; count: number }[];
  };
  result?: { rows: number; bytes: number; columns: string[] };
  error?: { code?: string; stage?: string; message?: string };
  status: RequestStatus;
  timings: {
    receivedAt?: string;
    decidedAt?: string;
    approvalRequestedAt?: string;
    approvalAnsweredAt?: string;
    finishedAt?: string;
    upstreamMs?: number;
    durationMs?: number;
  };
}

const tableName = (t: Json) => [str(t.schema), str(t.name)].filter(Boolean).join('.');

/** Builds the recording of one request from its events, in stored order. */
export function buildRecording(requestId: string, events: readonly unknown[]): Recording {
  const rec: Recording = { requestId, status: 'received', timings: {} };
  for (const raw of events.flatMap(lifecycleOf)) {
    const e = obj(raw);
    const time = str(e.time);
    rec.sessionId ??= str(e.sessionId);
    rec.frontDoor ??= str(e.frontDoor);
    rec.connection ??= str(e.connection);
    rec.role ??= str(e.role);
    if (!rec.identity && e.identity) {
      const i = obj(e.identity);
      rec.identity = {
        subject: str(i.subject),
        clientId: str(i.clientId),
        groups: arr(i.groups).filter((g): g is string => typeof g === 'string'),
        issuer: str(i.issuer),
      };
    }
    switch (e.type) {
      case 'query.received': {
        const q = obj(e.queryReceived);
        const a = obj(q.analysis);
        const statements = arr(a.statements).map(obj);
        rec.statement = {
          text: str(q.statement),
          fingerprint: str(q.fingerprint),
          dialect: str(q.dialect),
          kinds: statements.map((s) => str(s.kind) ?? 'unknown'),
          tables: [...new Set(statements.flatMap((s) => [...arr(s.tablesRead), ...arr(s.tablesWritten)].map((t) => tableName(obj(t)))))],
          columnsRead: [...new Set(statements.flatMap((s) => arr(s.columnsRead).map((c) => `${tableName(obj(obj(c).table))}.${str(obj(c).column) ?? ''}`)))],
          understood: a.understood === true,
        };
        rec.timings.receivedAt = time;
        break;
      }
      case 'policy.decided': {
        const d = obj(e.policyDecided);
        const action = str(d.action);
        rec.decision = {
          action,
          ruleIds: arr(d.ruleIds).filter((x): x is string => typeof x === 'string'),
          reasons: arr(d.reasons).filter((x): x is string => typeof x === 'string'),
          policyRevision: str(d.policyRevision),
          decisionId: str(d.decisionId),
          rowLimit: num(d.rowLimit),
          maskedColumns: arr(obj(d.maskingPlan).columns).map((c) => {
            const m = obj(c);
            return `${[str(m.schema), str(m.table), str(m.column)].filter(Boolean).join('.')}:${str(m.strategy) ?? 'STRATEGY_UNSPECIFIED'}`;
          }),
        };
        rec.timings.decidedAt = time;
        rec.status = action === 'ACTION_DENY' ? 'denied' : action === 'ACTION_REQUIRE_APPROVAL' ? 'pending_approval' : 'running';
        break;
      }
      case 'approval.requested': {
        const a = obj(e.approvalRequested);
        rec.approval = {
          ...rec.approval,
          approvalId: str(a.approvalId),
          approverGroups: arr(a.approverGroups).filter((x): x is string => typeof x === 'string'),
          quorum: num(a.quorum),
          expiresAt: str(a.expiresAt),
          approvers: rec.approval?.approvers ?? [],
        };
        rec.timings.approvalRequestedAt = time;
        rec.status = 'pending_approval';
        break;
      }
      case 'approval.granted':
      case 'approval.denied':
      case 'approval.expired': {
        const a = obj(e.approvalGranted ?? e.approvalDenied ?? e.approvalExpired);
        const approvers = arr(a.approvers).filter((x): x is string => typeof x === 'string');
        const approver = str(a.approver);
        const outcome = e.type === 'approval.granted' ? 'granted' : e.type === 'approval.denied' ? 'denied' : 'expired';
        rec.approval = {
          approverGroups: [],
          quorum: 0,
          ...rec.approval,
          approvalId: rec.approval?.approvalId ?? str(a.approvalId),
          outcome,
          approvers: approvers.length ? approvers : approver ? [approver] : [],
          reason: str(a.reason),
        };
        rec.timings.approvalAnsweredAt = time;
        rec.status = outcome === 'granted' ? 'running' : outcome === 'denied' ? 'approval_denied' : 'approval_expired';
        break;
      }
      case 'query.executed': {
        const x = obj(e.queryExecuted);
        rec.timings.upstreamMs = num(x.upstreamMs);
        rec.result = { rows: rec.result?.rows ?? 0, bytes: rec.result?.bytes ?? 0, columns: arr(x.columns).filter((c): c is string => typeof c === 'string') };
        break;
      }
      case 'masking.applied': {
        const columns = arr(obj(e.maskingApplied).columns).map((c) => {
          const m = obj(c);
          return { name: str(m.name), strategy: str(m.strategy) ?? 'STRATEGY_UNSPECIFIED', valuesMasked: num(m.valuesMasked) };
        });
        rec.masking = { columns, valuesMasked: columns.reduce((n, c) => n + c.valuesMasked, 0), leaks: rec.masking?.leaks ?? [] };
        break;
      }
      case 'phi.leak_suspected': {
        const l = obj(e.phiLeakSuspected);
        rec.masking ??= { columns: [], valuesMasked: 0, leaks: [] };
        rec.masking.leaks.push({ column: str(l.column), detector: str(l.detector), count: num(l.count) });
        break;
      }
      case 'query.completed': {
        const c = obj(e.queryCompleted);
        rec.result = { columns: rec.result?.columns ?? [], rows: num(c.rows), bytes: num(c.bytes) };
        rec.timings.durationMs = num(c.durationMs);
        rec.timings.finishedAt = time;
        rec.status = 'completed';
        break;
      }
      case 'query.failed': {
        const f = obj(e.queryFailed);
        rec.error = { code: str(f.code), stage: str(f.stage), message: str(f.message) };
        rec.timings.finishedAt = time;
        rec.status = 'failed';
        break;
      }
      default:
        break;
    }
  }
  return rec;
}
