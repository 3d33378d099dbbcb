import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { watchDebounced } from '@phigate/config';
import { AppError } from '@phigate/errors';
import type { Logger } from '@phigate/telemetry';
import { parse } from 'yaml';
import { z } from 'zod';
import { type Binding, PURPOSE_PATTERN } from '../../domain/bindings.js';
import { type Budget, parseWindow } from '../../domain/budgets.js';
import { pgTlsProblems, pgTlsShape } from '../postgres/tls.js';
import type { ConnectionDefinition } from '../store/connection-registry.js';

const postgresConnection = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
    type: z.literal('postgresql'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    database: z.string().min(1),
    user: z.string().min(1),
    /** File holding the upstream password, relative to GATEWAY_SECRETS_DIR. Never inline. */
    passwordFile: z.string().min(1),
    defaultSchema: z.string().default('public'),
    poolMax: z.number().int().min(1).max(200).default(10),
    statementTimeoutMs: z.number().int().min(100).default(30_000),
    /** TLS: sslMode (default verify-full), sslRootCertFile (relative to GATEWAY_SECRETS_DIR), plaintext. */
    ...pgTlsShape,
  })
  .strict();

/**
 * A Snowflake connection: the gateway logs in as `user` with a key-pair JWT (`privateKeyFile`, a
 * PKCS#8 PEM; preferred) or a password (`passwordFile`), then uses the role a binding names.
 */
const snowflakeConnection = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
    type: z.literal('snowflake'),
    /** `<account>.snowflakecomputing.com`, or the local warehouse's address. */
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(443),
    protocol: z.enum(['http', 'https']).default('https'),
    account: z.string().regex(/^\w+([.-]\w+)*$/, 'a Snowflake account identifier'),
    database: z.string().min(1),
    warehouse: z.string().min(1).optional(),
    user: z.string().min(1),
    /** PKCS#8 PEM private key of `user`, relative to GATEWAY_SECRETS_DIR. Never inline. */
    privateKeyFile: z.string().min(1).optional(),
    /** Alternatively a password file, relative to GATEWAY_SECRETS_DIR. */
    passwordFile: z.string().min(1).optional(),
    defaultSchema: z.string().default('PUBLIC'),
    poolMax: z.number().int().min(1).max(200).default(10),
    statementTimeoutMs: z.number().int().min(100).default(30_000),
  })
  .strict()
  .refine((c) => Boolean(c.privateKeyFile) !== Boolean(c.passwordFile), {
    message: 'a snowflake connection needs exactly one of privateKeyFile or passwordFile',
  });

type ConnectionEntry = z.infer<typeof postgresConnection> | z.infer<typeof snowflakeConnection>;

/** Each entry is checked against the schema of its type, so every problem of every entry is reported. */
function parseConnections(raw: unknown[], problems: string[]): ConnectionEntry[] {
  const out: ConnectionEntry[] = [];
  raw.forEach((entry, i) => {
    const schema = (entry as { type?: unknown } | null)?.type === 'snowflake' ? snowflakeConnection : postgresConnection;
    const r = schema.safeParse(entry);
    if (r.success) out.push(r.data);
    else problems.push(...r.error.issues.map((x) => `connections.${[i, ...x.path].join('.')}: ${x.message}`));
  });
  return out;
}

const columnPattern = z.string().regex(/^([^.\s]+\.)?[^.\s]+\.[^.\s]+\.[^.\s]+$/, 'a column pattern is [database.]schema.table.column');

const budgetSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'budget ids are lower-case words joined by dashes'),
    window: z.string().refine((w) => {
      const s = parseWindow(w);
      return s !== undefined && s >= 60 && s <= 31 * 86400;
    }, 'a window is a number and s, m, h or d (90s, 15m, 24h, 7d), from 1 minute to 31 days'),
    limits: z
      .object({ rows: z.number().int().min(0).optional(), patients: z.number().int().min(0).optional(), bytes: z.number().int().min(0).optional() })
      .strict()
      .refine((l) => l.rows !== undefined || l.patients !== undefined || l.bytes !== undefined, 'a budget limits rows, patients or bytes'),
    purposes: z.array(z.string().regex(PURPOSE_PATTERN)).min(1).optional(),
    connections: z.array(z.string().min(1)).min(1).optional(),
    per: z
      .array(z.enum(['purpose', 'connection']))
      .min(1)
      .optional(),
    columns: z.array(columnPattern).min(1),
    clear: z
      .array(z.enum(['none', 'partial', 'scrub', 'token', 'redact', 'nullify']))
      .min(1)
      .default(['none']),
    patientColumns: z.array(columnPattern).min(1).default(['*.patients.id', '*.*.patient_id']),
    onExceed: z.enum(['deny', 'require_approval', 'alert']).default('deny'),
    /** require_approval: groups whose members may approve; how long the statement waits (1m to 24h, default 30m). */
    approvers: z.array(z.string().min(1)).min(1).optional(),
    expiresIn: z
      .string()
      .refine((w) => {
        const s = parseWindow(w);
        return s !== undefined && s >= 60 && s <= 86400;
      }, 'expiresIn is a number and s, m or h, from 1m to 24h')
      .optional(),
    alertAt: z.number().gt(0).max(1).default(0.8),
  })
  .strict()
  .refine((b) => (b.onExceed === 'require_approval') === (b.approvers !== undefined), {
    message: 'approvers are required with onExceed: require_approval, and only there',
  })
  .refine((b) => b.onExceed === 'require_approval' || b.expiresIn === undefined, { message: 'expiresIn is for onExceed: require_approval only' })
  .transform(
    ({ window, expiresIn, ...b }): Budget => ({
      ...b,
      windowSec: parseWindow(window) as number,
      ...(expiresIn ? { expiresInSec: parseWindow(expiresIn) as number } : {}),
    }),
  );

const bindingSchema = z
  .object({
    groups: z.array(z.string().min(1)).optional(),
    identities: z.array(z.string().min(1)).optional(),
    connections: z.record(z.string(), z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'role names are plain identifiers')),
    /** Purposes of use the identity may state; absent: any well-formed purpose. */
    purposes: z.array(z.string().regex(PURPOSE_PATTERN, 'purposes are lower-case words joined by dashes')).min(1).optional(),
    /** Every statement and session must state a purpose (one of `purposes`, when given). */
    purposeRequired: z.boolean().optional(),
    /** Statements per minute per identity on these connections; absent: GATEWAY_RATE_LIMIT_PER_MINUTE. */
    statementsPerMinute: z.number().int().min(1).optional(),
    /** PHI budgets of the identities it matches (domain/budgets.ts, docs/policies.md "PHI budgets"). */
    budgets: z.array(budgetSchema).min(1).optional(),
  })
  .strict()
  .refine((b) => b.groups?.length || b.identities?.length, { message: 'a binding needs groups or identities' })
  .refine((b) => new Set(b.budgets?.map((x) => x.id)).size === (b.budgets?.length ?? 0), { message: 'budget ids must be unique within a binding' });

const fileSchema = z.object({ connections: z.array(z.unknown()).default([]), bindings: z.array(bindingSchema).default([]) }).strict();

/** A connection defined in the config file, with its password, to be sealed into the registry. */
export interface ConnectionSeed {
  definition: ConnectionDefinition;
  password: string;
}

export interface ConnectionsFile {
  seeds: ConnectionSeed[];
  bindings: Binding[];
}

/** Loads and validates the connections/bindings file; every problem is reported at once. */
export function loadConnectionsFile(file: string, secretsDir: string): ConnectionsFile {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new AppError('COMMON_CONFIG_INVALID', { message: `cannot read connections file ${file}: ${(err as Error).message.split('\n')[0]}` });
  }
  const r = fileSchema.safeParse(raw);
  const problems = r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  const seeds: ConnectionSeed[] = [];
  const rawConnections = r.success ? r.data.connections : (raw as { connections?: unknown } | null)?.connections;
  for (const c of parseConnections(Array.isArray(rawConnections) ? rawConnections : [], problems)) {
    let definition: ConnectionDefinition;
    let secretFile: string;
    if (c.type === 'snowflake') {
      const { privateKeyFile, passwordFile, ...rest } = c;
      definition = { ...rest, authMethod: privateKeyFile ? 'keypair' : 'password' };
      secretFile = (privateKeyFile ?? passwordFile)!;
    } else {
      const { passwordFile, ...rest } = c;
      definition = rest;
      secretFile = passwordFile;
      // Checked once here, CA file included, so a connection that could never connect safely is refused at start.
      problems.push(...pgTlsProblems(c, secretsDir).map((p) => `connection ${c.name}: ${p}`));
    }
    try {
      const password = readFileSync(isAbsolute(secretFile) ? secretFile : join(secretsDir, secretFile), 'utf8').trim();
      seeds.push({ definition, password });
    } catch {
      problems.push(`connection ${c.name}: cannot read its ${definition.authMethod === 'keypair' ? 'private key' : 'password'} file`);
    }
  }
  if (problems.length || !r.success) {
    throw new AppError('COMMON_CONFIG_INVALID', { message: `connections file ${file} is invalid:\n  - ${problems.join('\n  - ')}`, details: { problems } });
  }
  return { seeds, bindings: r.data.bindings };
}

/**
 * Bindings in force, reloaded when the file changes. A broken edit keeps the previous bindings
 * and logs why, so a typo never opens (or closes) access by accident.
 */
export class BindingsFile {
  private current: Binding[];
  private watcher: { close(): void } | undefined;

  constructor(
    private readonly file: string,
    private readonly secretsDir: string,
    private readonly log: Logger,
    initial: Binding[],
  ) {
    this.current = initial;
  }

  get bindings(): readonly Binding[] {
    return this.current;
  }

  reload(): boolean {
    try {
      this.current = loadConnectionsFile(this.file, this.secretsDir).bindings;
      this.log.info({ bindings: this.current.length }, 'bindings reloaded');
      return true;
    } catch (err) {
      this.log.error({ problems: (err as AppError).details?.problems }, 'bindings file rejected; previous bindings stay in force');
      return false;
    }
  }

  watch(): void {
    this.watcher = watchDebounced(this.file, () => this.reload());
  }

  close(): void {
    this.watcher?.close();
  }
}
