import { fields, internalTlsFields, internalTlsProblems, redisFields, redisRefine, z } from '@phigate/config';

/** One approver as Slack knows them: their identity subject and groups in phigate. */
const slackApprover = z.object({ subject: z.string().min(1), groups: z.array(z.string().min(1)) }).strict();

/** An origin (`scheme://host[:port]`) and nothing more, so a path cannot widen or narrow it by accident. */
const origin = z.url().refine((u) => new URL(u).origin === u.replace(/\/$/, ''), 'must be an origin such as https://hooks.slack.com (no path)');

export const approvalConfigSchema = z
  .object({
    APPROVAL_HOST: fields.host(),
    APPROVAL_HTTP_PORT: fields.port(8081),
    /** Redis: URL (rediss:// for TLS), mode, CA, credentials (@phigate/config's redisFields). */
    ...redisFields(),
    /** Prefix of every Redis key and of the decisions channel. */
    APPROVAL_KEY_PREFIX: z.string().min(1).default('phigate:approval:'),
    /** How long a decided approval stays readable after its expiry, in seconds. */
    APPROVAL_RETENTION_SEC: z.coerce.number().int().min(60).default(86_400),
    /** Slack signing secret (v0 request signatures); may come from SLACK_SIGNING_SECRET_FILE. */
    SLACK_SIGNING_SECRET: fields.secret(),
    /** Incoming webhook the approval messages are posted to. */
    SLACK_WEBHOOK_URL: z.url(),
    /**
     * Origins a payload's `response_url` may point at, besides SLACK_WEBHOOK_URL's own. Anything
     * else is never fetched: the service must not become a proxy to wherever a payload says.
     */
    APPROVAL_RESPONSE_URL_ORIGINS: fields.list().pipe(z.array(origin)).default(['https://hooks.slack.com']),
    /** Slack user id → approver identity, e.g. {"U0ALICE": {"subject": "alice", "groups": ["phi-approvers"]}}. */
    APPROVAL_SLACK_USERS: fields
      .json(z.record(z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'keys must be Slack user ids such as U0ALICE'), slackApprover))
      .default({}),
    /**
     * Shared secret for `POST /internal/approvals` (header `x-phigate-internal-token`); may come from
     * APPROVAL_INTERNAL_TOKEN_FILE. Unset: that route is not served.
     */
    APPROVAL_INTERNAL_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
    /**
     * The internal API's own listener (`/internal/approvals`, for the gateway), apart from the public
     * one that Slack and approvers reach: HTTPS that requires a client certificate of the internal CA.
     */
    APPROVAL_INTERNAL_HOST: fields.host(),
    /** The internal API's port (0: any free port). */
    APPROVAL_INTERNAL_PORT: fields.port(8083),
    /** Mutual TLS on the internal API's listener (@phigate/config's internalTlsFields). */
    ...internalTlsFields(),
    /** Longest wait for Slack (webhook and response_url), in ms. */
    APPROVAL_SLACK_TIMEOUT_MS: fields.ms(5000),
    /** Token validation for the approvers' API (`/v1/approvals`). */
    ...fields.oidc(),
    LOG_LEVEL: fields.logLevel(),
  })
  .superRefine((c, ctx) => {
    redisRefine(c, ctx);
    // Without the token the internal listener is not opened, so it needs no certificate either.
    if (c.APPROVAL_INTERNAL_TOKEN) for (const message of internalTlsProblems(c, [c.APPROVAL_INTERNAL_HOST])) ctx.addIssue({ code: 'custom', message });
  });

export type ApprovalConfig = z.infer<typeof approvalConfigSchema>;
