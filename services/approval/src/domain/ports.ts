import type { ApprovalRequest, ApprovalState, Vote, VoteOutcome } from './approvals.js';

/** The result of recording a vote. */
export type VoteResult =
  /** This exact signed interaction was processed before: nothing was done again. */
  { kind: 'replay' } | { kind: 'not_found' } | { kind: 'applied'; state: ApprovalState; outcome: VoteOutcome; changed: boolean };

/** Where approvals live, shared by every replica. Votes are applied atomically. */
export interface ApprovalStore {
  /**
   * Stores a new pending approval, unless one exists for the same `requestId`: then that one is
   * returned with `created: false`, so a caller's retry never opens a second approval.
   */
  create(request: ApprovalRequest): Promise<{ state: ApprovalState; created: boolean }>;
  get(approvalId: string): Promise<ApprovalState | undefined>;
  /** Pending approvals that have not expired at `now`, soonest expiry first. */
  listPending(now: Date, limit: number): Promise<ApprovalState[]>;
  /**
   * Applies `decide(state, vote, now)` atomically: concurrent votes are serialised, so two
   * approvers cannot both finalise. With `replayKey`, a second call with the same key (within
   * the replay window) is a no-op returning `replay`.
   */
  vote(approvalId: string, vote: Vote, now: Date, replayKey?: string): Promise<VoteResult>;
  /** Records that the Slack message was delivered. */
  markNotified(approvalId: string, at: Date): Promise<void>;
  ping(): Promise<boolean>;
}
