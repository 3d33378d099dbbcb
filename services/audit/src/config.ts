import { fields, z } from '@phigate/config';

export const auditConfigSchema = z.object({
  AUDIT_HOST: fields.host(),
  AUDIT_HTTP_PORT: fields.port(8082),
  KAFKA_BROKERS: fields.list(),
  AUDIT_TOPIC: z.string().default('phigate.audit.v1'),
  AUDIT_CONSUMER_GROUP: z.string().min(1).default('phigate-audit'),
  /** The audit service's own least-privilege URL (INSERT and SELECT only). */
  AUDIT_DATABASE_URL: z.string().min(1),
  ...fields.oidc(),
  AUDITOR_GROUPS: fields.list().default(['auditors']),
  LOG_LEVEL: fields.logLevel(),
});

export type AuditConfig = z.infer<typeof auditConfigSchema>;
