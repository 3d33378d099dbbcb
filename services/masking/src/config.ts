import { fields, internalTlsFields, internalTlsProblems, z } from '@phigate/config';
import { DEFAULT_DETECTOR_CONFIG, validatePattern } from './domain/detectors.js';

/** A JSON array of detector patterns (bounded repetition only), or the defaults when unset. */
const patterns = (defaults: readonly string[]) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return [...defaults];
      let list: unknown;
      try {
        list = JSON.parse(raw);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON array of regular expressions' });
        return z.NEVER;
      }
      if (!Array.isArray(list) || !list.every((p) => typeof p === 'string')) {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON array of regular expressions' });
        return z.NEVER;
      }
      for (const p of list as string[]) {
        const problem = validatePattern(p);
        if (problem) ctx.addIssue({ code: 'custom', message: `pattern ${JSON.stringify(p)}: ${problem}` });
      }
      return list as string[];
    });

export const maskingConfigSchema = z
  .object({
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
    /** Medical record number patterns for the detectors (JSON array). */
    MASKING_MRN_PATTERNS: patterns(DEFAULT_DETECTOR_CONFIG.mrnPatterns),
    /** Health plan beneficiary / member number patterns for the detectors (JSON array). */
    MASKING_HEALTH_PLAN_PATTERNS: patterns(DEFAULT_DETECTOR_CONFIG.healthPlanPatterns),
    /** Leak canary: every row of the first N rows of a stream is inspected... */
    MASKING_CANARY_FIRST_ROWS: z.coerce.number().int().min(0).max(1_000_000).default(1000),
    /** ...then every k-th row. */
    MASKING_CANARY_EVERY: z.coerce.number().int().min(1).max(1_000_000).default(100),
    /** Mutual TLS on the gRPC port (@phigate/config's internalTlsFields). */
    ...internalTlsFields(),
    LOG_LEVEL: fields.logLevel(),
  })
  .superRefine((c, ctx) => {
    for (const message of internalTlsProblems(c, [c.MASKING_HOST])) ctx.addIssue({ code: 'custom', message });
  });

export type MaskingConfig = z.infer<typeof maskingConfigSchema>;
