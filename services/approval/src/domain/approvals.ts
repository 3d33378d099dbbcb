// The approval model: a held request waits for the approvers a policy rule names. Pure: the clock
// is a parameter, and every function returns new values.

/** What the gateway asks approvers to decide on. Never holds statement literals or row values. */
export interface ApprovalRequest {
  approvalId: string;
  /** The gateway request that is held. */
  requestId: string;
  /** Identity subject of the requester (the token's `sub`). */
  requester: string;
  connection: string;
  role: string;
  /** The statement with its literals replaced by `?` (see redactSqlLiterals). */
  statementRedacted: string;
  tables: string[];
  phiColumns: string[];
  ruleIds: string[];
  reason: string;
  /** Any member of any of these groups may decide. */
  approverGroups: string[];
  /** Distinct approvers needed to grant; a single eligible denial denies. */
  quorum: number;
  /** ISO-8601 instant after which no vote counts. */
  expiresAt: string;
  /** The purpose of use the requester stated (validated by the gateway against its binding); absent: none. */
  purpose?: string;
}

export const APPROVAL_STATUS = {
  PENDING: 'pending',
  GRANTED: 'granted',
  DENIED: 'denied',
  EXPIRED: 'expired',
} as const;
export type ApprovalStatus = (typeof APPROVAL_STATUS)[keyof typeof APPROVAL_STATUS];

export const VOTE_DECISION = { APPROVE: 'approve', DENY: 'deny' } as const;
export type VoteDecision = (typeof VOTE_DECISION)[keyof typeof VOTE_DECISION];

/** Who is voting, as resolved from their Slack account (or, later, their bearer token). */
export interface Approver {
  subject: string;
  groups: readonly string[];
}

export interface Vote {
  approver: Approver;
  decision: VoteDecision;
}

/** A vote that counted. */
export interface RecordedVote {
  approver: string;
  decision: VoteDecision;
  at: string;
}

export interface ApprovalState {
  request: ApprovalRequest;
  status: ApprovalStatus;
  votes: RecordedVote[];
  /** When the request reached its final status. */
  decidedAt?: string;
  /** When the Slack message was delivered (creation retries delivery until it is). */
  notifiedAt?: string;
}

/** Why a vote did not count. Stable strings: they reach logs, metrics and API bodies. */
export const REFUSAL = {
  /** The approver is in none of the request's approver groups. */
  NOT_ELIGIBLE: 'not_eligible',
  /** The requester tried to decide their own request. */
  SELF_APPROVAL: 'self_approval',
  /** The request was already granted, denied or expired. */
  ALREADY_FINAL: 'already_final',
  /** The vote arrived after the request's expiry. */
  EXPIRED: 'expired',
} as const;
export type Refusal = (typeof REFUSAL)[keyof typeof REFUSAL];

/** What a vote did. `granted`, `denied` and `expired` are the transitions that end a request. */
export type VoteOutcome =
  | { kind: 'granted'; approvers: string[] }
  | { kind: 'denied'; approver: string }
  | { kind: 'recorded'; grants: number; quorum: number }
  | { kind: 'duplicate' }
  | { kind: 'refused'; reason: Refusal; status: ApprovalStatus; expired?: true };

export interface DecideResult {
  state: ApprovalState;
  outcome: VoteOutcome;
  /** True when `state` differs from the input and must be stored. */
  changed: boolean;
}

/** A new, pending approval. */
export function openApproval(request: ApprovalRequest): ApprovalState {
  return { request, status: APPROVAL_STATUS.PENDING, votes: [] };
}

/** True when `at` is at or past the request's expiry. */
export function isExpired(request: ApprovalRequest, at: Date): boolean {
  return at.getTime() >= Date.parse(request.expiresAt);
}

/** The status a reader should see at `now`: a pending request past its expiry reads as expired. */
export function effectiveStatus(state: ApprovalState, now: Date): ApprovalStatus {
  return state.status === APPROVAL_STATUS.PENDING && isExpired(state.request, now) ? APPROVAL_STATUS.EXPIRED : state.status;
}

/** Distinct approvers whose grant counts. */
export function grantedBy(state: ApprovalState): string[] {
  return [...new Set(state.votes.filter((v) => v.decision === VOTE_DECISION.APPROVE).map((v) => v.approver))];
}

/**
 * Applies one vote. In order: a vote the approver already cast is a no-op; a final request refuses
 * every other vote; an expired one becomes expired and refuses it; the requester may not decide
 * their own request; the approver must be in one of the approver groups. Then a denial denies, and
 * grants by distinct approvers accumulate until the quorum grants.
 */
export function decide(state: ApprovalState, vote: Vote, now: Date): DecideResult {
  const who = vote.approver.subject;
  const at = now.toISOString();
  if (state.votes.some((v) => v.approver === who && v.decision === vote.decision)) {
    return { state, outcome: { kind: 'duplicate' }, changed: false };
  }
  if (state.status !== APPROVAL_STATUS.PENDING) {
    return { state, outcome: { kind: 'refused', reason: REFUSAL.ALREADY_FINAL, status: state.status }, changed: false };
  }
  if (isExpired(state.request, now)) {
    const expired: ApprovalState = { ...state, status: APPROVAL_STATUS.EXPIRED, decidedAt: at };
    return { state: expired, outcome: { kind: 'refused', reason: REFUSAL.EXPIRED, status: expired.status, expired: true }, changed: true };
  }
  if (who === state.request.requester) {
    return { state, outcome: { kind: 'refused', reason: REFUSAL.SELF_APPROVAL, status: state.status }, changed: false };
  }
  if (!vote.approver.groups.some((g) => state.request.approverGroups.includes(g))) {
    return { state, outcome: { kind: 'refused', reason: REFUSAL.NOT_ELIGIBLE, status: state.status }, changed: false };
  }
  const votes = [...state.votes, { approver: who, decision: vote.decision, at }];
  if (vote.decision === VOTE_DECISION.DENY) {
    return { state: { ...state, votes, status: APPROVAL_STATUS.DENIED, decidedAt: at }, outcome: { kind: 'denied', approver: who }, changed: true };
  }
  const next: ApprovalState = { ...state, votes };
  const approvers = grantedBy(next);
  const quorum = Math.max(1, state.request.quorum);
  if (approvers.length >= quorum) {
    return { state: { ...next, status: APPROVAL_STATUS.GRANTED, decidedAt: at }, outcome: { kind: 'granted', approvers }, changed: true };
  }
  return { state: next, outcome: { kind: 'recorded', grants: approvers.length, quorum }, changed: true };
}

/** Ends a pending request whose expiry has passed (for a sweeper); otherwise returns it unchanged. */
export function expireIfDue(state: ApprovalState, now: Date): { state: ApprovalState; expired: boolean } {
  if (state.status !== APPROVAL_STATUS.PENDING || !isExpired(state.request, now)) return { state, expired: false };
  return { state: { ...state, status: APPROVAL_STATUS.EXPIRED, decidedAt: now.toISOString() }, expired: true };
}

/** A human sentence for a refusal, safe to show the voter in Slack. */
export function refusalText(reason: Refusal, status: ApprovalStatus): string {
  switch (reason) {
    case REFUSAL.NOT_ELIGIBLE:
      return 'You are not in an approver group for this request, so your vote was not counted.';
    case REFUSAL.SELF_APPROVAL:
      return 'You asked for this request, so you cannot decide it; another approver must.';
    case REFUSAL.ALREADY_FINAL:
      return `This request is already ${status}; your vote was not counted.`;
    case REFUSAL.EXPIRED:
      return 'This request expired before your vote arrived; it was not counted.';
  }
}
