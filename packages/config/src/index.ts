import { readFileSync, watch } from 'node:fs';
import { AppError } from '@phigate/errors';
import { z } from 'zod';

export { z };

/** Environment as given to a process: names to optional strings. */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Loads and validates configuration once: every problem is reported together, and the result is
 * deeply frozen. Secrets may come from `<NAME>_FILE` (the file's contents, trailing newline
 * trimmed) when `<NAME>` itself is unset.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, env: Env): Readonly<z.infer<S>> {
  const input: Record<string, string | undefined> = {};
  const problems: string[] = [];
  for (const key of Object.keys(schema.shape)) {
    let value = env[key];
    const fileVar = env[`${key}_FILE`];
    if ((value === undefined || value === '') && fileVar) {
      try {
        value = readFileSync(fileVar, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        problems.push(`${key}_FILE: cannot read ${fileVar} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    }
    input[key] = value === '' ? undefined : value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  if (problems.length > 0 || !parsed.success) {
    throw new AppError('COMMON_CONFIG_INVALID', {
      message: `configuration is invalid:\n  - ${problems.join('\n  - ')}`,
      details: { problems },
    });
  }
  return deepFreeze(parsed.data);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Common field helpers, so every service spells its env the same way. */
export const fields = {
  port: (def: number) => z.coerce.number().int().min(0).max(65535).default(def),
  host: (def = '127.0.0.1') => z.string().min(1).default(def),
  url: () => z.url(),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Comma-separated list, e.g. KAFKA_BROKERS=a:9092,b:9092. */
  list: () =>
    z
      .string()
      .min(1)
      .transform((s) =>
        s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      ),
  ms: (def: number) => z.coerce.number().int().min(0).default(def),
  bool: (def: boolean) =>
    z
      .enum(['true', 'false', '1', '0'])
      .default(def ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1'),
  secret: () => z.string().min(16, 'must be at least 16 characters'),
  /** A JSON value checked against `schema`, e.g. a list of identity providers. */
  json: <T extends z.ZodType>(schema: T) =>
    z
      .string()
      .transform((s, ctx) => {
        try {
          return JSON.parse(s) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be JSON' });
          return z.NEVER;
        }
      })
      .pipe(schema),
  /**
   * The OIDC providers to trust: OIDC_ISSUER/OIDC_AUDIENCE/OIDC_JWKS_URI name the first, and
   * OIDC_EXTRA_ISSUERS (a JSON array of {issuer, audience, jwksUri, groupsClaim?}) any others.
   */
  oidc: () => ({
    OIDC_ISSUER: z.url(),
    OIDC_AUDIENCE: z.string().min(1),
    OIDC_JWKS_URI: z.url(),
    OIDC_EXTRA_ISSUERS: fields
      .json(z.array(z.object({ issuer: z.url(), audience: z.string().min(1), jwksUri: z.url(), groupsClaim: z.string().min(1).optional() }).strict()))
      .default([]),
    OIDC_CLOCK_SKEW_SEC: z.coerce.number().int().min(0).max(300).default(30),
  }),
};

/**
 * Mutual TLS between phigate's own services (gRPC to policy and masking, HTTPS to the approval
 * service's internal API, see internal-https.ts): a CA that signs every
 * service's certificate, and this service's certificate and key. Files are re-read every
 * INTERNAL_TLS_REFRESH_MS, so a rotated certificate takes effect without a restart. Plaintext only
 * with INTERNAL_PLAINTEXT=true, and only on loopback addresses (checked by {@link internalTlsProblems}).
 */
export const internalTlsFields = () => ({
  INTERNAL_TLS_CA_FILE: z.string().min(1).optional(),
  INTERNAL_TLS_CERT_FILE: z.string().min(1).optional(),
  INTERNAL_TLS_KEY_FILE: z.string().min(1).optional(),
  INTERNAL_TLS_REFRESH_MS: z.coerce.number().int().min(1000).default(60_000),
  INTERNAL_PLAINTEXT: fields.bool(false),
});

export interface InternalTls {
  INTERNAL_TLS_CA_FILE?: string | undefined;
  INTERNAL_TLS_CERT_FILE?: string | undefined;
  INTERNAL_TLS_KEY_FILE?: string | undefined;
  INTERNAL_TLS_REFRESH_MS: number;
  INTERNAL_PLAINTEXT: boolean;
}

/** Whether a `host:port` or host names this machine only (127.0.0.0/8, ::1, localhost). */
export function isLoopbackAddress(address: string): boolean {
  // [v6]:port, host:port, or a bare host (an IPv6 address without brackets has several colons).
  let host = address;
  if (address.startsWith('[')) host = address.slice(1, address.indexOf(']'));
  else if (address.split(':').length === 2) host = address.split(':')[0]!;
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * What is wrong with the internal TLS settings for a service that listens on or dials `addresses`:
 * all three files or none; none only with INTERNAL_PLAINTEXT=true, and then only on loopback.
 */
export function internalTlsProblems(c: InternalTls, addresses: readonly string[]): string[] {
  const files = [c.INTERNAL_TLS_CA_FILE, c.INTERNAL_TLS_CERT_FILE, c.INTERNAL_TLS_KEY_FILE].filter(Boolean).length;
  if (files === 3) return c.INTERNAL_PLAINTEXT ? ['INTERNAL_PLAINTEXT: set together with INTERNAL_TLS_* files; choose one'] : [];
  if (files > 0) return ['INTERNAL_TLS_CA_FILE, INTERNAL_TLS_CERT_FILE and INTERNAL_TLS_KEY_FILE: set all three, or none'];
  if (!c.INTERNAL_PLAINTEXT)
    return ['INTERNAL_TLS_CA_FILE, INTERNAL_TLS_CERT_FILE and INTERNAL_TLS_KEY_FILE are required (or INTERNAL_PLAINTEXT=true on loopback only)'];
  const remote = addresses.filter((a) => !isLoopbackAddress(a));
  return remote.length ? [`INTERNAL_PLAINTEXT: refused, ${remote.join(', ')} is not a loopback address (PHI would cross the network in clear)`] : [];
}

/** The issuer list a token verifier takes, from the fields of {@link fields.oidc}. */
export function oidcIssuers(c: {
  OIDC_ISSUER: string;
  OIDC_AUDIENCE: string;
  OIDC_JWKS_URI: string;
  OIDC_EXTRA_ISSUERS: ReadonlyArray<{ issuer: string; audience: string; jwksUri: string; groupsClaim?: string | undefined }>;
}) {
  return [{ issuer: c.OIDC_ISSUER, audience: c.OIDC_AUDIENCE, jwksUri: c.OIDC_JWKS_URI }, ...c.OIDC_EXTRA_ISSUERS.map((i) => ({ ...i }))];
}

/**
 * For `main.ts`: loads config, or prints every problem as one JSON log line on stderr and exits 1,
 * so a misconfigured service never starts half-way.
 */
export function loadConfigOrExit<S extends z.ZodObject>(schema: S, env: Env, service: string): Readonly<z.infer<S>> {
  try {
    return loadConfig(schema, env);
  } catch (err) {
    const problems = (err as { details?: { problems?: string[] } }).details?.problems ?? [String((err as Error).message)];
    process.stderr.write(`${JSON.stringify({ level: 'fatal', service, code: 'COMMON_CONFIG_INVALID', msg: 'configuration is invalid', problems })}\n`);
    process.exit(1);
  }
}

/**
 * For `main.ts`: a start-up failure (invalid policy or connections file, unreachable dependency)
 * becomes one JSON line on stderr with its code and problems, and exit 1, never a stack trace.
 */
export function exitOnStartupError(err: unknown, service: string): never {
  const e = err as { code?: string; message?: string; details?: { problems?: string[] } };
  const problems = e.details?.problems ?? [String(e.message ?? err).split('\n')[0]];
  process.stderr.write(`${JSON.stringify({ level: 'fatal', service, code: e.code ?? 'COMMON_INTERNAL', msg: 'failed to start', problems })}\n`);
  process.exit(1);
}

/**
 * Calls `onChange` once a burst of changes to `path` has settled (editors write several times per
 * save). For hot-reloaded files: policy, bindings.
 */
export function watchDebounced(path: string, onChange: () => void, delayMs = 100): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(path, () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, delayMs);
  });
  return {
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}

export * from './internal-https.js';
export * from './kafka-security.js';
export * from './pg-security.js';
export * from './redis-security.js';
export * from './watched-files.js';
