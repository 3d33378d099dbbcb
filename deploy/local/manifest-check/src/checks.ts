/**
 * Shared pieces of the manifest checks: the vendored official schemas (Compose Specification,
 * Kubernetes v1.34 strict), and what each service's configuration schema requires.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';

/** The repository root (this file is deploy/local/manifest-check/dist/src/checks.js). */
export const ROOT = fileURLToPath(new URL('../../../../../', import.meta.url));
const SCHEMAS = fileURLToPath(new URL('../../schemas/', import.meta.url));

/** The Kubernetes version the manifests are validated against. */
export const KUBERNETES_VERSION = 'v1.34.0';

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
}

/** Validates a parsed Compose file against the official Compose Specification schema. */
export function composeValidator(): (doc: unknown) => string[] {
  // The spec is draft-07 and uses its own "duration" format and some non-standard keywords.
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, validateSchema: false });
  const validate = ajv.compile(JSON.parse(readFileSync(join(SCHEMAS, 'compose-spec/compose-spec.json'), 'utf8')) as object);
  return (doc) => (validate(doc) ? [] : describe(validate.errors));
}

/** Validates one Kubernetes object against the strict schema of its apiVersion and kind. */
export function kubernetesValidator(): (obj: { apiVersion?: unknown; kind?: unknown }) => string[] {
  const dir = join(SCHEMAS, `kubernetes/${KUBERNETES_VERSION}-local-strict`);
  // x-kubernetes-* annotations and OpenAPI formats (int32, int-or-string) are not validation keywords.
  const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
  ajv.addSchema(JSON.parse(readFileSync(join(dir, '_definitions.json'), 'utf8')) as object);
  const byKind = new Map<string, ValidateFunction>();
  for (const f of readdirSync(dir).filter((n) => n !== '_definitions.json' && n.endsWith('.json'))) {
    const schema = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
      'x-kubernetes-group-version-kind': Array<{ group: string; kind: string; version: string }>;
    };
    const gvk = schema['x-kubernetes-group-version-kind'][0]!;
    byKind.set(`${gvk.group ? `${gvk.group}/` : ''}${gvk.version}/${gvk.kind}`, ajv.compile(schema));
  }
  return (obj) => {
    const v = byKind.get(`${String(obj.apiVersion)}/${String(obj.kind)}`);
    if (!v) return [`no vendored schema for ${String(obj.apiVersion)} ${String(obj.kind)} (add it with src/tools/vendor-kubernetes-schemas.ts)`];
    return v(obj) ? [] : describe(v.errors);
  };
}

/** A phigate service and its configuration schema's requirements. */
export interface ServiceConfig {
  service: string;
  /** Variables the service refuses to start without (they have no default). */
  required: string[];
  /** Variables naming a listen address: in a container they must be 0.0.0.0. */
  hosts: string[];
  /** Variables whose default points at 127.0.0.1 (another service): in a container they must be set. */
  loopbackDefaults: string[];
  /** Every variable the schema reads. */
  keys: string[];
}

type ZodLike = { shape: Record<string, { safeParse(v: unknown): { success: boolean; data?: unknown } }> };

const SERVICES = [
  ['gateway', 'gatewayConfigSchema'],
  ['policy', 'policyConfigSchema'],
  ['masking', 'maskingConfigSchema'],
  ['approval', 'approvalConfigSchema'],
  ['audit', 'auditConfigSchema'],
] as const;

/**
 * Reads each service's compiled config schema (services/<name>/dist/src/config.js): a variable is
 * required when its schema rejects "unset".
 */
export async function serviceConfigs(): Promise<ServiceConfig[]> {
  const out: ServiceConfig[] = [];
  for (const [service, exportName] of SERVICES) {
    const mod = (await import(new URL(`services/${service}/dist/src/config.js`, `file://${ROOT}`).href)) as Record<string, ZodLike>;
    const schema = mod[exportName];
    if (!schema) throw new Error(`services/${service}/src/config.ts no longer exports ${exportName}`);
    const keys = Object.keys(schema.shape);
    const unset = (k: string) => schema.shape[k]!.safeParse(undefined);
    out.push({
      service,
      required: keys.filter((k) => !unset(k).success),
      hosts: keys.filter((k) => k.endsWith('_HOST')),
      loopbackDefaults: keys.filter((k) => !k.endsWith('_HOST') && /127\.0\.0\.1|localhost/.test(String(unset(k).data ?? ''))),
      keys,
    });
  }
  return out;
}

/**
 * Problems with one container's environment against a service's requirements: every required
 * variable set directly or as *_FILE, every *_HOST 0.0.0.0. `fileOk` judges each *_FILE path.
 */
export function envProblems(cfg: ServiceConfig, env: Record<string, string>, fileOk: (path: string) => string | undefined): string[] {
  const problems: string[] = [];
  for (const k of cfg.required) {
    if (env[k] === undefined && env[`${k}_FILE`] === undefined) problems.push(`${cfg.service}: ${k} (or ${k}_FILE) is not set`);
  }
  for (const h of cfg.hosts) {
    if (env[h] !== '0.0.0.0') problems.push(`${cfg.service}: ${h} must be 0.0.0.0 in a container (it is ${env[h] ?? 'unset, default 127.0.0.1'})`);
  }
  for (const k of cfg.loopbackDefaults) {
    if (env[k] === undefined) problems.push(`${cfg.service}: ${k} defaults to a loopback address; set it to the other service's name`);
  }
  // The *_FILE form of a setting (loadConfig reads the file): each must be a mounted secret.
  for (const k of cfg.keys) {
    const v = env[`${k}_FILE`];
    if (v === undefined) continue;
    const why = fileOk(v);
    if (why) problems.push(`${cfg.service}: ${k}_FILE=${v}: ${why}`);
  }
  return problems;
}

/** A gateway connections file, as far as these checks read it. */
export interface ConnectionsFile {
  connections: Array<{ name: string; type: string; host: string; database: string; user: string; passwordFile: string }>;
  bindings: Array<{ groups?: string[]; identities?: string[]; connections: Record<string, string> }>;
}

/** Same connections (but host and password file) and the same bindings, for the connections both define. */
export function assertSameConnections(local: ConnectionsFile, other: ConnectionsFile, where: string): void {
  const names = new Set(other.connections.map((c) => c.name));
  assert.ok(names.size > 0, `${where} defines connections`);
  for (const c of other.connections) {
    const l = local.connections.find((x) => x.name === c.name);
    assert.ok(l, `${where}: connection ${c.name} exists in deploy/local/gateway/connections.yaml`);
    assert.deepEqual([c.type, c.database, c.user], [l.type, l.database, l.user], `${where}: ${c.name}`);
  }
  const only = (b: ConnectionsFile['bindings']) =>
    b
      .map((x) => ({ ...x, connections: Object.fromEntries(Object.entries(x.connections).filter(([k]) => names.has(k))) }))
      .filter((x) => Object.keys(x.connections).length > 0);
  assert.deepEqual(only(other.bindings), only(local.bindings), `${where}: bindings match deploy/local/gateway/connections.yaml`);
}
