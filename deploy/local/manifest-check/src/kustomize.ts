/**
 * A kustomize-equivalent render of the subset phigate's overlays use, so the tests can validate
 * what `kubectl apply -k` would send without a kustomize binary: resources (files and directories),
 * namespace, images, replicas, JSON 6902 patches with targets (names are anchored regular
 * expressions, as in kustomize), configMapGenerator and secretGenerator. Anything else in a
 * kustomization is refused, so an unsupported feature cannot slip through unchecked.
 *
 * Differences that do not matter for validation: generated objects keep their plain names (kustomize
 * appends a content hash and rewrites the references), and generator files that do not exist yet
 * (git-ignored secrets, files a prepare step copies) render as empty values.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** One Kubernetes object as rendered. */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
} & Record<string, unknown>;

/** Where a generated ConfigMap or Secret key came from. */
export interface GeneratorSource {
  generator: 'configMapGenerator' | 'secretGenerator';
  name: string;
  kind: 'file' | 'literal';
  key: string;
  /** Absolute path for file sources. */
  path?: string;
  /** The kustomization directory that declared it. */
  dir: string;
}

/** The render of one kustomization. */
export interface Render {
  objects: K8sObject[];
  sources: GeneratorSource[];
  /** Every kustomization file visited, base first. */
  kustomizations: string[];
}

const SUPPORTED = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'images', 'replicas', 'patches', 'configMapGenerator', 'secretGenerator']);

interface Generator {
  name: string;
  /** A Secret's type, e.g. kubernetes.io/tls (default Opaque). */
  type?: string;
  files?: string[];
  literals?: string[];
}
interface Kustomization {
  namespace?: string;
  resources?: string[];
  images?: Array<{ name: string; newName?: string; newTag?: string; digest?: string }>;
  replicas?: Array<{ name: string; count: number }>;
  patches?: Array<{ target?: { kind?: string; name?: string }; patch?: string; path?: string }>;
  configMapGenerator?: Generator[];
  secretGenerator?: Generator[];
}

/** Reads YAML documents (skipping empty ones) and fails on any YAML error. */
export function readYamlDocuments(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true });
  const out: unknown[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    const v = d.toJS() as unknown;
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

/** Renders the kustomization in `dir`. */
export function render(dir: string): Render {
  const file = join(dir, 'kustomization.yaml');
  const [k] = readYamlDocuments(file) as [Kustomization & Record<string, unknown>];
  const unsupported = Object.keys(k).filter((key) => !SUPPORTED.has(key));
  if (unsupported.length > 0) throw new Error(`${file}: unsupported fields ${unsupported.join(', ')} (extend kustomize.ts or use a supported one)`);

  const result: Render = { objects: [], sources: [], kustomizations: [] };
  for (const r of k.resources ?? []) {
    const p = resolve(dir, r);
    if (statSync(p).isDirectory()) {
      const sub = render(p);
      result.objects.push(...sub.objects);
      result.sources.push(...sub.sources);
      result.kustomizations.push(...sub.kustomizations);
    } else {
      for (const o of readYamlDocuments(p)) result.objects.push(o as K8sObject);
    }
  }
  result.kustomizations.push(file);

  for (const [generator, kind] of [
    ['configMapGenerator', 'ConfigMap'],
    ['secretGenerator', 'Secret'],
  ] as const) {
    for (const g of k[generator] ?? []) {
      const data: Record<string, string> = {};
      for (const lit of g.literals ?? []) {
        const eq = lit.indexOf('=');
        if (eq <= 0) throw new Error(`${file}: ${generator} ${g.name}: literal without key=value`);
        data[lit.slice(0, eq)] = lit.slice(eq + 1);
        result.sources.push({ generator, name: g.name, kind: 'literal', key: lit.slice(0, eq), dir });
      }
      for (const f of g.files ?? []) {
        const eq = f.indexOf('=');
        const key = eq > 0 ? f.slice(0, eq) : basename(f);
        const path = resolve(dir, eq > 0 ? f.slice(eq + 1) : f);
        const content = existsSync(path) ? readFileSync(path, 'utf8') : '';
        data[key] = kind === 'Secret' ? Buffer.from(content).toString('base64') : content;
        result.sources.push({ generator, name: g.name, kind: 'file', key, path, dir });
      }
      const obj: K8sObject = { apiVersion: 'v1', kind, metadata: { name: g.name }, data };
      if (kind === 'Secret') obj.type = g.type ?? 'Opaque';
      result.objects.push(obj);
    }
  }

  for (const p of k.patches ?? []) {
    if (p.path !== undefined || p.patch === undefined) throw new Error(`${file}: only inline JSON 6902 patches are supported`);
    const ops = readYamlFromString(p.patch) as JsonPatchOp[];
    const matches = result.objects.filter((o) => targetMatches(o, p.target ?? {}));
    if (matches.length === 0) throw new Error(`${file}: patch target ${JSON.stringify(p.target)} matches nothing`);
    for (const o of matches) applyJsonPatch(o, ops);
  }

  for (const r of k.replicas ?? []) {
    const targets = result.objects.filter((o) => (o.kind === 'Deployment' || o.kind === 'StatefulSet') && o.metadata.name === r.name);
    if (targets.length === 0) throw new Error(`${file}: replicas for ${r.name} matches no Deployment or StatefulSet`);
    for (const t of targets) (t.spec as Record<string, unknown>).replicas = r.count;
  }

  for (const img of k.images ?? []) {
    let used = false;
    for (const c of allContainers(result.objects)) {
      const [name, tag] = splitImage(c.image);
      if (name !== img.name) continue;
      used = true;
      c.image = `${img.newName ?? name}${img.digest ? `@${img.digest}` : `:${img.newTag ?? tag ?? 'latest'}`}`;
    }
    if (!used) throw new Error(`${file}: image ${img.name} is used by no container`);
  }

  if (k.namespace) {
    for (const o of result.objects) if (o.kind !== 'Namespace') o.metadata.namespace = k.namespace;
  }
  return result;
}

function readYamlFromString(text: string): unknown {
  const docs = parseAllDocuments(text);
  const d = docs[0];
  if (!d || d.errors.length > 0) throw new Error(`patch: ${d?.errors.map((e) => e.message).join('; ') ?? 'empty'}`);
  return d.toJS();
}

function targetMatches(o: K8sObject, t: { kind?: string; name?: string }): boolean {
  if (t.kind !== undefined && !new RegExp(`^(?:${t.kind})$`).test(o.kind)) return false;
  if (t.name !== undefined && !new RegExp(`^(?:${t.name})$`).test(o.metadata.name)) return false;
  return true;
}

/** One RFC 6902 operation (the ones the overlays use). */
export interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

/** Applies add/replace/remove operations in place; a path that does not resolve is an error, as in kustomize. */
export function applyJsonPatch(target: unknown, ops: JsonPatchOp[]): void {
  for (const op of ops) {
    const parts = op.path
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop();
    if (last === undefined) throw new Error(`patch path ${op.path} is the whole document`);
    let node = target as Record<string, unknown> | unknown[];
    for (const p of parts) {
      const next = Array.isArray(node) ? node[Number(p)] : node[p];
      if (next === null || typeof next !== 'object') throw new Error(`patch path ${op.path} does not exist`);
      node = next as Record<string, unknown> | unknown[];
    }
    if (Array.isArray(node)) {
      const i = last === '-' ? node.length : Number(last);
      if (op.op === 'add') node.splice(i, 0, op.value);
      else if (i >= node.length) throw new Error(`patch path ${op.path} does not exist`);
      else if (op.op === 'replace') node[i] = op.value;
      else node.splice(i, 1);
    } else {
      if (op.op !== 'add' && !(last in node)) throw new Error(`patch path ${op.path} does not exist`);
      if (op.op === 'remove') delete node[last];
      else node[last] = op.value;
    }
  }
}

/** A container of a Deployment's or StatefulSet's pod template, with where it sits. */
export interface ContainerRef {
  owner: K8sObject;
  image: string;
  container: Record<string, unknown>;
}

/** Pod template spec of a workload, if it is one. */
export function podSpec(o: K8sObject): Record<string, unknown> | undefined {
  if (o.kind !== 'Deployment' && o.kind !== 'StatefulSet') return undefined;
  return ((o.spec as Record<string, unknown>).template as Record<string, unknown>).spec as Record<string, unknown>;
}

function allContainers(objects: K8sObject[]): Array<{ image: string } & Record<string, unknown>> {
  const out: Array<{ image: string } & Record<string, unknown>> = [];
  for (const o of objects) {
    const spec = podSpec(o);
    if (!spec) continue;
    for (const c of [...((spec.containers as unknown[]) ?? []), ...((spec.initContainers as unknown[]) ?? [])]) out.push(c as { image: string });
  }
  return out;
}

function splitImage(image: string): [string, string | undefined] {
  const at = image.indexOf('@');
  const ref = at >= 0 ? image.slice(0, at) : image;
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, undefined];
}
