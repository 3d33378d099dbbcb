import { randomUUID } from 'node:crypto';
import type { ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import { AppError } from '@phigate/errors';
import { ACTION_TO_PROTO, CANARY_TO_PROTO, type policyV1, STRATEGY_TO_PROTO, toGrpcError } from '@phigate/proto';
import type { Counter, Histogram, Logger } from '@phigate/telemetry';
import { evaluateAt } from '../../domain/evaluate.js';
import { Channel, type Decision, type EvaluationInput, type StatementFacts, type TableName } from '../../domain/types.js';
import type { PolicyStore } from '../files/policy-store.js';

const CHANNELS: ReadonlySet<string> = new Set(Object.values(Channel));

const table = (t: policyV1.TableRef | undefined): TableName => ({ database: t?.database ?? '', schema: t?.schema ?? '', name: t?.name ?? '' });

/** Converts the wire request to the domain input, refusing requests that lack what a decision needs. */
export function toInput(req: policyV1.EvaluateRequest): EvaluationInput {
  if (!req.identity?.subject || !req.connection || !req.analysis) {
    throw new AppError('POLICY_REQUEST_INVALID', { details: { missing: !req.identity?.subject ? 'identity' : !req.connection ? 'connection' : 'analysis' } });
  }
  const dialect = req.analysis.dialect;
  if (dialect !== 'postgresql' && dialect !== 'snowflake') throw new AppError('POLICY_REQUEST_INVALID', { details: { dialect } });
  const statements: StatementFacts[] = req.analysis.statements.map((s) => ({
    kind: s.kind.toLowerCase(),
    tablesRead: s.tablesRead.map(table),
    tablesWritten: s.tablesWritten.map(table),
    columnsRead: s.columnsRead.map((c) => ({ table: table(c.table), column: c.column })),
    columnsWritten: s.columnsWritten.map((c) => ({ table: table(c.table), column: c.column })),
    functions: s.functions,
    hasWhere: s.hasWhere,
    whereTriviallyTrue: s.whereTriviallyTrue,
    hasLimit: s.hasLimit,
    columnsResolved: s.columnsResolved,
    columnsFiltered: s.columnsFiltered.map((c) => ({ table: table(c.table), column: c.column })),
    // A channel this service does not know is taken as the strictest one (fail closed).
    flows: s.flows.map((f) => ({
      column: { table: table(f.column?.table), column: f.column?.column ?? '*' },
      channel: CHANNELS.has(f.channel) ? (f.channel as Channel) : Channel.VALUE,
      via: f.via,
    })),
  }));
  return {
    identity: { subject: req.identity.subject, clientId: req.identity.clientId, groups: req.identity.groups },
    connection: req.connection,
    role: req.role,
    frontDoor: req.frontDoor,
    ...(req.purpose ? { purpose: req.purpose } : {}),
    analysis: {
      dialect,
      fingerprint: req.analysis.fingerprint,
      understood: req.analysis.understood,
      error: req.analysis.error,
      statements,
    },
  };
}

export function toResponse(decisionId: string, d: Decision): policyV1.EvaluateResponse {
  return {
    decisionId,
    action: ACTION_TO_PROTO[d.action],
    ruleIds: d.ruleIds,
    reasons: d.reasons,
    policyRevision: d.policyRevision,
    maskingPlan: {
      columns: d.maskingPlan.columns.map((c) => ({ ...c, strategy: STRATEGY_TO_PROTO[c.strategy] })),
      unknownSourceStrategy: STRATEGY_TO_PROTO[d.maskingPlan.unknownSourceStrategy],
      canary: CANARY_TO_PROTO[d.maskingPlan.canary ?? 'off'],
      visiblePhiKinds: d.maskingPlan.visiblePhiKinds ?? [],
    },
    rowLimit: d.rowLimit,
    approverGroups: d.approverGroups,
    approvalQuorum: d.approval?.quorum ?? 0,
    approvalExpiresInSec: d.approval?.expiresInSec ?? 0,
  };
}

export interface PolicyServerDeps {
  store: PolicyStore;
  log: Logger;
  decisions: Counter<'action'>;
  latency: Histogram;
  /** Open revision streams, ended first on shutdown so clients stop trusting cached decisions at once. */
  watchers: Set<{ end(): void }>;
}

/** The gRPC implementation of phigate.policy.v1.PolicyService. */
export function policyService(deps: PolicyServerDeps): policyV1.PolicyServiceServer {
  return {
    evaluate(call: ServerUnaryCall<policyV1.EvaluateRequest, policyV1.EvaluateResponse>, callback: sendUnaryData<policyV1.EvaluateResponse>) {
      const started = process.hrtime.bigint();
      try {
        const input = toInput(call.request);
        const { doc, revision } = deps.store.policy;
        // The clock is read here, at the edge; the domain is a pure function of it.
        const decision = evaluateAt(doc, revision, input, new Date());
        const decisionId = randomUUID();
        deps.decisions.inc({ action: decision.action });
        deps.latency.observe(Number(process.hrtime.bigint() - started) / 1e9);
        // Decision log: ids, rule ids and revision only; never statement text.
        deps.log.debug({ decisionId, requestId: call.request.requestId, action: decision.action, ruleIds: decision.ruleIds, revision }, 'policy decided');
        callback(null, toResponse(decisionId, decision));
      } catch (err) {
        callback(toGrpcError(err));
      }
    },
    watchRevision(call: ServerWritableStream<policyV1.WatchRevisionRequest, policyV1.WatchRevisionResponse>) {
      call.write({ revision: deps.store.policy.revision });
      const off = deps.store.onRevision((revision) => call.write({ revision }));
      deps.watchers.add(call);
      const done = () => {
        off();
        deps.watchers.delete(call);
      };
      call.on('cancelled', done);
      call.on('close', done);
      call.on('error', done);
    },
  };
}
