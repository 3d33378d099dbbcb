import { fields, z } from '@phigate/config';

export const approvalConfigSchema = z.object({
  APPROVAL_HOST: fields.host(),
  APPROVAL_HTTP_PORT: fields.port(8081),
  REDIS_URL: z.url(),
  /** Slack signing secret (v0 request signatures); may come from SLACK_SIGNING_SECRET_FILE. */
  SLACK_SIGNING_SECRET: fields.secret(),
  SLACK_WEBHOOK_URL: z.url(),
  LOG_LEVEL: fields.logLevel(),
});

export type ApprovalConfig = z.infer<typeof approvalConfigSchema>;
