import { fields, internalTlsFields, internalTlsProblems, z } from '@phigate/config';

export const policyConfigSchema = z
  .object({
    POLICY_HOST: fields.host(),
    POLICY_GRPC_PORT: fields.port(50051),
    POLICY_OPS_PORT: fields.port(8091),
    /** Directory of *.yaml policy files (merged in name order). */
    POLICY_DIR: z.string().min(1),
    /** Reload policy files when they change. */
    POLICY_WATCH: fields.bool(true),
    /** Mutual TLS on the gRPC port (@phigate/config's internalTlsFields). */
    ...internalTlsFields(),
    LOG_LEVEL: fields.logLevel(),
  })
  .superRefine((c, ctx) => {
    for (const message of internalTlsProblems(c, [c.POLICY_HOST])) ctx.addIssue({ code: 'custom', message });
  });

export type PolicyConfig = z.infer<typeof policyConfigSchema>;
