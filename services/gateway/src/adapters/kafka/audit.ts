import { buildEvent, type EventContext, type EventPublisher } from '@phigate/bus';
import { ACTION_TO_PROTO, CANARY_TO_PROTO, type eventsV1, type maskingV1, STRATEGY_TO_PROTO } from '@phigate/proto';
import type { AuditPort, DomainEvent, RequestContext } from '../../domain/ports.js';
import type { Decision } from '../../domain/types.js';

function planToProto(plan: Decision['maskingPlan']): maskingV1.MaskingPlan {
  return {
    columns: plan.columns.map((c) => ({ ...c, strategy: STRATEGY_TO_PROTO[c.strategy] })),
    unknownSourceStrategy: STRATEGY_TO_PROTO[plan.unknownSourceStrategy],
    canary: CANARY_TO_PROTO[plan.canary ?? 'off'],
    visiblePhiKinds: plan.visiblePhiKinds ?? [],
  };
}

const received = (e: Omit<Extract<DomainEvent, { type: 'query.received' }>, 'type'>): eventsV1.QueryReceived => ({
  statement: e.statement,
  fingerprint: e.analysis.fingerprint,
  dialect: e.analysis.dialect,
  analysis: e.analysis,
  queryTag: e.queryTag ?? '',
});

const decided = (d: Decision): eventsV1.PolicyDecided => ({
  decisionId: d.decisionId,
  action: ACTION_TO_PROTO[d.action],
  ruleIds: d.ruleIds,
  reasons: d.reasons,
  policyRevision: d.policyRevision,
  maskingPlan: planToProto(d.maskingPlan),
  rowLimit: d.rowLimit,
});

const masked = (e: Omit<Extract<DomainEvent, { type: 'masking.applied' }>, 'type'>): eventsV1.MaskingApplied => ({
  columns: e.columns.map((c) => ({ ...c, strategy: STRATEGY_TO_PROTO[c.strategy] })),
});

function toEnvelope(ctx: EventContext, e: DomainEvent): eventsV1.AuditEvent {
  switch (e.type) {
    case 'query.received':
      return buildEvent(e.type, ctx, received(e));
    case 'policy.decided':
      return buildEvent(e.type, ctx, decided(e.decision));
    case 'query.executed':
      return buildEvent(e.type, ctx, { upstreamMs: e.upstreamMs, columns: e.columns });
    case 'query.failed':
      return buildEvent(e.type, ctx, { code: e.code, message: e.message, stage: e.stage });
    case 'masking.applied':
      return buildEvent(e.type, ctx, masked(e));
    case 'phi.leak_suspected':
      return buildEvent(e.type, ctx, { column: e.column, detector: e.detector, count: e.count });
    case 'query.completed':
      return buildEvent(e.type, ctx, { rows: e.rows, bytes: e.bytes, durationMs: e.durationMs });
    case 'query.served':
      return buildEvent(e.type, ctx, {
        received: received(e.received),
        decision: decided(e.decision),
        executed: { upstreamMs: e.executed.upstreamMs, columns: e.executed.columns },
        masking: masked(e.masking),
        leaks: e.leaks.map((l) => ({ column: l.column, detector: l.detector, count: l.count })),
        completed: { rows: e.completed.rows, bytes: e.completed.bytes, durationMs: e.completed.durationMs },
      });
    case 'approval.requested':
      return buildEvent(e.type, ctx, {
        approvalId: e.approvalId,
        expiresAt: new Date(e.expiresAt),
        approverGroups: e.approverGroups,
        quorum: e.quorum,
        fingerprint: e.fingerprint,
        paramsHash: e.paramsHash,
      });
    case 'approval.granted':
      return buildEvent(e.type, ctx, { approvalId: e.approvalId, approver: e.approver, approvers: e.approvers });
    case 'approval.denied':
      return buildEvent(e.type, ctx, { approvalId: e.approvalId, approver: e.approver, reason: e.reason });
    case 'approval.expired':
      return buildEvent(e.type, ctx, { approvalId: e.approvalId, reason: e.reason });
    case 'session.opened':
      return buildEvent(e.type, ctx, { clientAddress: e.clientAddress });
    case 'session.closed':
      return buildEvent(e.type, ctx, { reason: e.reason, durationMs: e.durationMs });
    case 'budget.threshold_reached':
    case 'budget.exceeded': {
      const { type, ...signal } = e;
      return buildEvent(type, ctx, signal);
    }
  }
}

/** AuditPort on Kafka: events of one call go in one group-committed send and resolve when acknowledged. */
export function createKafkaAudit(publisher: EventPublisher, replica = ''): AuditPort {
  return {
    record(ctx: RequestContext, events: DomainEvent[]) {
      const ec: EventContext = {
        requestId: ctx.requestId,
        sessionId: ctx.sessionId,
        frontDoor: ctx.frontDoor,
        identity: ctx.identity,
        connection: ctx.connection,
        role: ctx.role,
        trace: { traceparent: ctx.traceparent, tracestate: '' },
        producer: 'gateway',
        client: ctx.client,
        replica,
        ...(ctx.purpose ? { purpose: ctx.purpose } : {}),
      };
      return publisher.publish(events.map((e) => toEnvelope(ec, e)));
    },
  };
}
