import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { AppError } from '@phigate/errors';
import { parse } from 'yaml';
import { z } from 'zod';
import type { Binding } from '../../domain/bindings.js';
import type { ConnectionInfo } from '../../domain/ports.js';

const connectionSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
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
  })
  .strict();

const bindingSchema = z
  .object({
    groups: z.array(z.string().min(1)).optional(),
    identities: z.array(z.string().min(1)).optional(),
    connections: z.record(z.string(), z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'role names are plain identifiers')),
  })
  .strict()
  .refine((b) => b.groups?.length || b.identities?.length, { message: 'a binding needs groups or identities' });

const fileSchema = z.object({ connections: z.array(connectionSchema).min(1), bindings: z.array(bindingSchema).default([]) }).strict();

/** A connection with the secret it needs, held only by the upstream adapter. */
export interface UpstreamConnection extends ConnectionInfo {
  host: string;
  port: number;
  user: string;
  password: string;
  poolMax: number;
  statementTimeoutMs: number;
}

export interface ConnectionsFile {
  connections: Map<string, UpstreamConnection>;
  bindings: Binding[];
}

/** Loads and validates the connections and bindings file; every problem is reported at once. */
export function loadConnections(file: string, secretsDir: string): ConnectionsFile {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new AppError('COMMON_CONFIG_INVALID', { message: `cannot read connections file ${file}: ${(err as Error).message.split('\n')[0]}` });
  }
  const r = fileSchema.safeParse(raw);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new AppError('COMMON_CONFIG_INVALID', { message: `connections file ${file} is invalid:\n  - ${problems.join('\n  - ')}`, details: { problems } });
  }
  const connections = new Map<string, UpstreamConnection>();
  const problems: string[] = [];
  for (const c of r.data.connections) {
    const path = isAbsolute(c.passwordFile) ? c.passwordFile : join(secretsDir, c.passwordFile);
    let password = '';
    try {
      password = readFileSync(path, 'utf8').trim();
    } catch {
      problems.push(`connection ${c.name}: cannot read its password file`);
    }
    if (connections.has(c.name)) problems.push(`connection ${c.name} is defined twice`);
    connections.set(c.name, { ...c, dialect: 'postgresql', password });
  }
  if (problems.length)
    throw new AppError('COMMON_CONFIG_INVALID', { message: `connections file ${file} is invalid:\n  - ${problems.join('\n  - ')}`, details: { problems } });
  return { connections, bindings: r.data.bindings };
}
