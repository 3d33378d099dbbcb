import { fields, z } from '@phigate/config';

export const maskingConfigSchema = z.object({
  MASKING_HOST: fields.host(),
  MASKING_GRPC_PORT: fields.port(50052),
  MASKING_OPS_PORT: fields.port(8092),
  /** Secret for keyed deterministic tokens (HMAC-SHA-256); may come from MASKING_TOKEN_KEY_FILE. */
  MASKING_TOKEN_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Id of that key, embedded in tokens so keys can rotate. */
  MASKING_TOKEN_KEY_ID: z
    .string()
    .regex(/^[a-z0-9]{1,8}$/)
    .default('k1'),
  LOG_LEVEL: fields.logLevel(),
});

export type MaskingConfig = z.infer<typeof maskingConfigSchema>;
