import { Metadata } from '@grpc/grpc-js';
import {
  ACTION_FROM_PROTO,
  canaryFromProto,
  fromGrpcError,
  type GrpcTls,
  grpcChannelCredentials,
  maskingV1,
  policyV1,
  STRATEGY_FROM_PROTO,
} from '@phigate/proto';
import type { PolicyPort } from '../../domain/ports.js';
import type { Analysis, Decision } from '../../domain/types.js';

/** Channel options shared by our gRPC clients: reconnect fast once a peer is back, fail fast while it is down. */
export const CHANNEL_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.min_reconnect_backoff_ms': 100,
  'grpc.keepalive_time_ms': 30_000,
  'grpc.enable_retries': 0,
};

export function analysisToProto(a: Analysis): policyV1.Analysis {
  return a;
}

/** Converts a wire decision to the domain, refusing anything unrecognised (fail closed). */
export function decisionFromProto(r: policyV1.EvaluateResponse): Decision {
  const action = ACTION_FROM_PROTO[r.action];
  // A missing plan, an unknown action or strategy means the contract was not kept: deny.
  const columns = (r.maskingPlan?.columns ?? []).map((c) => ({ ...c, strategy: STRATEGY_FROM_PROTO[c.strategy] ?? 'redact' }));
  return {
    decisionId: r.decisionId,
    action: action ?? 'deny',
    ruleIds: action ? r.ruleIds : ['invalid-decision'],
    reasons: action ? r.reasons : ['the policy service returned an unrecognised decision'],
    policyRevision: r.policyRevision,
    maskingPlan: {
      columns,
      unknownSourceStrategy: STRATEGY_FROM_PROTO[r.maskingPlan?.unknownSourceStrategy ?? maskingV1.Strategy.STRATEGY_UNSPECIFIED] ?? 'redact',
      // Unset means off (an older policy service); a value we do not know means block (fail closed).
      canary: canaryFromProto(r.maskingPlan?.canary) ?? 'block',
      visiblePhiKinds: r.maskingPlan?.visiblePhiKinds ?? [],
    },
    rowLimit: r.rowLimit,
    approverGroups: r.approverGroups,
    ...(action === 'require_approval'
      ? { approval: { groups: r.approverGroups, quorum: Math.max(1, r.approvalQuorum), expiresInSec: r.approvalExpiresInSec || 1800 } }
      : {}),
  };
}

/** PolicyPort over gRPC with a deadline; any transport failure becomes GATEWAY_POLICY_UNAVAILABLE. */
export function createPolicyClient(
  address: string,
  timeoutMs: number,
  tls: GrpcTls,
): PolicyPort & { close(): void; watchRevision(onRevision: (revision: string | undefined) => void): () => void } {
  const client = new policyV1.PolicyServiceClient(address, grpcChannelCredentials(tls), CHANNEL_OPTIONS);
  return {
    /**
     * Follows the policy service's revision stream, resubscribing with a short backoff. Reports
     * `undefined` whenever the stream is down, so callers stop trusting cached decisions.
     */
    watchRevision(onRevision) {
      let stopped = false;
      let call: ReturnType<typeof client.watchRevision> | undefined;
      let retry: NodeJS.Timeout | undefined;
      const subscribe = () => {
        if (stopped) return;
        call = client.watchRevision({});
        call.on('data', (msg: policyV1.WatchRevisionResponse) => onRevision(msg.revision || undefined));
        const broken = () => {
          onRevision(undefined);
          call?.removeAllListeners();
          call?.on('error', () => {});
          if (!stopped) retry = setTimeout(subscribe, 250);
        };
        call.on('error', broken);
        call.on('end', broken);
      };
      subscribe();
      return () => {
        stopped = true;
        clearTimeout(retry);
        call?.cancel();
      };
    },
    evaluate(req) {
      return new Promise<Decision>((resolve, reject) => {
        const md = new Metadata();
        client.evaluate(
          {
            requestId: req.requestId,
            identity: req.identity,
            connection: req.connection,
            role: req.role,
            frontDoor: req.frontDoor,
            purpose: req.purpose ?? '',
            analysis: analysisToProto(req.analysis),
          },
          md,
          { deadline: Date.now() + timeoutMs },
          (err, res) => (err ? reject(fromGrpcError(err, 'GATEWAY_POLICY_UNAVAILABLE', 'GATEWAY_POLICY_UNAVAILABLE')) : resolve(decisionFromProto(res))),
        );
      });
    },
    close: () => client.close(),
  };
}
