// Block Kit messages for an approval: https://api.slack.com/reference/block-kit/blocks
// Everything shown comes from the approval state, whose statement is already literal-free; it is
// redacted once more here so no caller can put a value in front of approvers by mistake.

import { redactSqlLiterals } from '@phigate/sql';
import { APPROVAL_STATUS, type ApprovalState, effectiveStatus, grantedBy, VOTE_DECISION } from './approvals.js';

/** The `action_id` of each button; the button's `value` is the approval id and nothing else. */
export const ACTION_ID = { APPROVE: 'approve', DENY: 'deny' } as const;
export type ActionId = (typeof ACTION_ID)[keyof typeof ACTION_ID];

/** The `block_id` of the buttons' block. */
export const ACTIONS_BLOCK_ID = 'phigate_approval_actions';

export interface PlainText {
  type: 'plain_text';
  text: string;
  emoji?: boolean;
}
export interface Mrkdwn {
  type: 'mrkdwn';
  text: string;
}
export interface Button {
  type: 'button';
  action_id: ActionId;
  text: PlainText;
  value: string;
  style: 'primary' | 'danger';
}
export type Block =
  | { type: 'header'; text: PlainText }
  | { type: 'section'; text?: Mrkdwn; fields?: Mrkdwn[] }
  | { type: 'context'; elements: Mrkdwn[] }
  | { type: 'divider' }
  | { type: 'actions'; block_id: string; elements: Button[] };

/** A message for an incoming webhook or a `response_url`. */
export interface SlackMessage {
  /** Notification and accessibility fallback; carries no statement. */
  text: string;
  blocks?: Block[];
  /** For `response_url`: replace the message that holds the buttons. */
  replace_original?: boolean;
  /** For `response_url`: shown only to the user who clicked. */
  response_type?: 'ephemeral' | 'in_channel';
}

// Slack's limits: header 150 characters, section text 3000, each field 2000.
const MAX_STATEMENT = 2800;
const MAX_FIELD = 1900;
const MAX_LIST = 25;

/** The message posted when an approval is requested, and re-rendered after each vote. */
export function approvalMessage(state: ApprovalState, now: Date): SlackMessage {
  const r = state.request;
  const status = effectiveStatus(state, now);
  const blocks: Block[] = [
    { type: 'header', text: plain(clip(`${HEADER[status]}: query on ${r.connection}`, 150)) },
    {
      type: 'section',
      fields: [
        field('Requested by', code(r.requester)),
        field('Purpose of use', r.purpose ? code(r.purpose) : '_none stated_'),
        field('Connection / role', `${code(r.connection)} as ${code(r.role)}`),
        field('Tables', list(r.tables)),
        field('PHI columns', list(r.phiColumns)),
        field('Rule', list(r.ruleIds)),
        field('Expires', slackDate(r.expiresAt)),
      ],
    },
    { type: 'section', text: mrkdwn(`*Statement* (literals redacted)\n${codeBlock(redactSqlLiterals(r.statementRedacted))}`) },
    { type: 'section', text: mrkdwn(`*Reason*\n${clip(escapeMrkdwn(r.reason || '(none given)'), MAX_FIELD)}`) },
  ];
  const grants = grantedBy(state);
  const quorum = Math.max(1, r.quorum);
  const who = `${quorum === 1 ? 'one approver' : `${quorum} distinct approvers`} from ${list(r.approverGroups)}`;
  if (status === APPROVAL_STATUS.PENDING) {
    const progress = grants.length > 0 ? ` Approved so far by ${grants.map(code).join(', ')} (${grants.length} of ${quorum}).` : '';
    blocks.push({ type: 'context', elements: [mrkdwn(`Needs ${who}; you cannot approve your own request.${progress} Approval \`${r.approvalId}\``)] });
    blocks.push({
      type: 'actions',
      block_id: ACTIONS_BLOCK_ID,
      elements: [
        { type: 'button', action_id: ACTION_ID.APPROVE, text: plain('Approve'), value: r.approvalId, style: 'primary' },
        { type: 'button', action_id: ACTION_ID.DENY, text: plain('Deny'), value: r.approvalId, style: 'danger' },
      ],
    });
  } else {
    blocks.push({ type: 'divider' }, { type: 'section', text: mrkdwn(outcomeText(state, status)) });
    blocks.push({ type: 'context', elements: [mrkdwn(`Approval \`${r.approvalId}\``)] });
  }
  return { text: `${HEADER[status]}: ${r.requester} asks to query ${r.connection} as ${r.role}`, blocks };
}

/** The `response_url` body that replaces the original message after a vote. */
export function decisionUpdate(state: ApprovalState, now: Date): SlackMessage {
  return { replace_original: true, ...approvalMessage(state, now) };
}

/** A `response_url` body only the clicking user sees, leaving the message as it is. */
export function ephemeralNotice(text: string): SlackMessage {
  return { response_type: 'ephemeral', replace_original: false, text };
}

const HEADER: Record<ApprovalState['status'], string> = {
  pending: 'Approval needed',
  granted: 'Approved',
  denied: 'Denied',
  expired: 'Expired',
};

function outcomeText(state: ApprovalState, status: ApprovalState['status']): string {
  const when = slackDate(state.decidedAt ?? state.request.expiresAt);
  switch (status) {
    case APPROVAL_STATUS.GRANTED:
      return `:white_check_mark: *Approved* by ${grantedBy(state).map(code).join(', ')} at ${when}. The query may run once.`;
    case APPROVAL_STATUS.DENIED: {
      const by = state.votes.findLast((v) => v.decision === VOTE_DECISION.DENY)?.approver ?? 'an approver';
      return `:no_entry: *Denied* by ${code(by)} at ${when}. The query will not run.`;
    }
    default:
      return `:hourglass: *Expired* at ${slackDate(state.request.expiresAt)} without a decision. The query will not run.`;
  }
}

function plain(text: string): PlainText {
  return { type: 'plain_text', text, emoji: true };
}

function mrkdwn(text: string): Mrkdwn {
  return { type: 'mrkdwn', text };
}

function field(label: string, value: string): Mrkdwn {
  return mrkdwn(clip(`*${label}*\n${value}`, MAX_FIELD));
}

/** Slack's mrkdwn control characters: https://api.slack.com/reference/surfaces/formatting#escaping */
function escapeMrkdwn(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function code(s: string): string {
  return `\`${escapeMrkdwn(s.replaceAll('`', "'"))}\``;
}

function codeBlock(s: string): string {
  return `\`\`\`${clip(escapeMrkdwn(s.replaceAll('```', "'''")), MAX_STATEMENT)}\`\`\``;
}

function list(items: readonly string[]): string {
  if (items.length === 0) return '_none_';
  const shown = items.slice(0, MAX_LIST).map(code).join(', ');
  return items.length > MAX_LIST ? `${shown} and ${items.length - MAX_LIST} more` : shown;
}

/** Slack renders this in each reader's time zone, falling back to the ISO text. */
function slackDate(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return escapeMrkdwn(iso);
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time_secs}|${new Date(ms).toISOString()}>`;
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
