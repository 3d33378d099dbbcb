/**
 * Vendors the Kubernetes JSON schemas this workspace validates against: the kinds phigate's
 * manifests use, from one pinned Kubernetes version, plus only the definitions they reach.
 *
 *   pip download --no-deps kubernetes-validate==1.37.0 -d /tmp/kv
 *   (cd /tmp/kv && python3 -m zipfile -e kubernetes_validate-1.37.0-py3-none-any.whl x)
 *   node dist/src/tools/vendor-kubernetes-schemas.js /tmp/kv/x/kubernetes_validate/kubernetes-json-schema v1.34.0
 *
 * The schemas there are generated from Kubernetes' own OpenAPI document (openapi2jsonschema, the
 * "local-strict" variant: additionalProperties false, references into one _definitions.json).
 * Nothing is edited; the definitions file is cut down to what the vendored kinds reference.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** File names of the kinds phigate's manifests use (<kind>[-<group>]-<version>.json). */
export const VENDORED_KINDS = [
  'configmap-v1.json',
  'deployment-apps-v1.json',
  'namespace-v1.json',
  'networkpolicy-networking-v1.json',
  'poddisruptionbudget-policy-v1.json',
  'secret-v1.json',
  'service-v1.json',
  'serviceaccount-v1.json',
  'statefulset-apps-v1.json',
] as const;

/** How the kind files and the definitions file refer to a definition. */
const DEFS_PREFIXES = ['/api/_definitions.json#/$defs/', '#/$defs/'];

function collectRefs(node: unknown, out: Set<string>): void {
  if (Array.isArray(node)) {
    for (const n of node) collectRefs(n, out);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      const prefix = k === '$ref' && typeof v === 'string' ? DEFS_PREFIXES.find((p) => v.startsWith(p)) : undefined;
      if (prefix !== undefined) out.add((v as string).slice(prefix.length));
      else collectRefs(v, out);
    }
  }
}

function main(source: string, version: string): void {
  const from = join(source, `${version}-local-strict`);
  const to = fileURLToPath(new URL(`../../../schemas/kubernetes/${version}-local-strict/`, import.meta.url));
  mkdirSync(to, { recursive: true });
  const defsDoc = JSON.parse(readFileSync(join(from, '_definitions.json'), 'utf8')) as { $defs: Record<string, unknown> } & Record<string, unknown>;
  const wanted = new Set<string>();
  for (const file of VENDORED_KINDS) {
    const text = readFileSync(join(from, file), 'utf8');
    writeFileSync(join(to, file), text);
    collectRefs(JSON.parse(text), wanted);
  }
  // Close over references between definitions.
  const queue = [...wanted];
  while (queue.length > 0) {
    const name = queue.pop()!;
    const found = new Set<string>();
    collectRefs(defsDoc.$defs[name], found);
    for (const f of found) {
      if (!wanted.has(f)) {
        wanted.add(f);
        queue.push(f);
      }
    }
  }
  const $defs: Record<string, unknown> = {};
  for (const name of [...wanted].sort()) $defs[name] = defsDoc.$defs[name];
  writeFileSync(join(to, '_definitions.json'), `${JSON.stringify({ ...defsDoc, $defs }, null, 2)}\n`);
  process.stdout.write(`vendored ${VENDORED_KINDS.length} kinds and ${wanted.size} definitions into ${to}\n`);
}

const [source, version] = process.argv.slice(2);
if (!source || !version) {
  process.stderr.write('usage: vendor-kubernetes-schemas <kubernetes-json-schema dir> <version, e.g. v1.34.0>\n');
  process.exit(2);
}
main(source, version);
