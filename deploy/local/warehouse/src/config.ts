import { fileURLToPath } from 'node:url';
import { fields, z } from '@phigate/config';

const here = (f: string) => fileURLToPath(new URL(`../../${f}`, import.meta.url));

/** The warehouse's environment, validated once (every problem reported together). */
export const configSchema = z.object({
  WAREHOUSE_PORT: fields.port(9402),
  WAREHOUSE_HOST: fields.host(),
  /** PostgreSQL `clinical` database the demo tables are copied from at start-up. */
  WAREHOUSE_SEED_DATABASE_URL: z.url(),
  WAREHOUSE_USERS_FILE: z.string().min(1).default(here('users.json')),
  WAREHOUSE_GRANTS_FILE: z.string().min(1).default(here('grants.json')),
  /** Directory of the users' secret files (passwords, RSA public keys). */
  WAREHOUSE_SECRETS_DIR: z.string().min(1).optional(),
  /** Base URL put into result chunk URLs; default: the Host the client connected to. */
  WAREHOUSE_PUBLIC_URL: z.url().optional(),
  WAREHOUSE_RESULT_HOLD_MS: z.coerce.number().int().min(0).max(45_000).default(40_000),
  WAREHOUSE_CHUNK_ROWS: z.coerce.number().int().min(1).max(1_000_000).default(5000),
  WAREHOUSE_SESSION_VALIDITY_SEC: z.coerce.number().int().min(1).default(3600),
  WAREHOUSE_MASTER_VALIDITY_SEC: z.coerce.number().int().min(1).default(14_400),
  LOG_LEVEL: fields.logLevel(),
  ...fields.oidc(),
});

export type WarehouseConfig = z.infer<typeof configSchema>;
