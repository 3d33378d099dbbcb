import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { assertSameConnections, type ConnectionsFile, envProblems, KUBERNETES_VERSION, kubernetesValidator, ROOT, serviceConfigs } from './checks.js';
import { applyJsonPatch, type K8sObject, podSpec, render } from './kustomize.js';

const K8S = join(ROOT, 'deploy/k8s');
const OVERLAYS = ['local', 'production'] as const;
const PHIGATE = ['gateway', 'policy', 'masking', 'approval', 'audit'];

type Obj = Record<string, unknown>;
type Container = {
  name: string;
  image: string;
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: Array<{ name: string; value?: string }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  readinessProbe?: Obj;
  livenessProbe?: Obj;
  resources?: { requests?: Obj; limits?: Obj };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } };
};
type Volume = { name: string; secret?: { secretName: string }; configMap?: { name: string } };

const containers = (o: K8sObject) => (podSpec(o)!.containers as Container[]) ?? [];
const volumes = (o: K8sObject) => (podSpec(o)!.volumes as Volume[] | undefined) ?? [];
const podLabels = (o: K8sObject) => ((((o.spec as Obj).template as Obj).metadata as Obj).labels as Record<string, string>) ?? {};
const workloads = (objs: K8sObject[]) => objs.filter((o) => podSpec(o) !== undefined);
const find = (objs: K8sObject[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name);
const selects = (sel: Record<string, string>, labels: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);

test('the vendored Kubernetes schemas refuse what the API server would', () => {
  const validate = kubernetesValidator();
  const sa: Obj = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'x' }, automountServiceAccountToken: false };
  assert.deepEqual(validate(sa), []);
  const unknownField: Obj = { ...sa, automountToken: false };
  assert.ok(validate(unknownField).length > 0, 'unknown field (strict)');
  const pdb: Obj = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'x' }, spec: { minAvailable: [1] } };
  assert.ok(validate(pdb).length > 0, 'wrong type');
  assert.ok(validate({ apiVersion: 'extensions/v1beta1', kind: 'Deployment' })[0]!.includes('no vendored schema'));
});

test('the renderer applies JSON 6902 patches as kustomize does, and refuses a path that does not exist', () => {
  const doc = { spec: { minAvailable: 1, list: [1, 2] } };
  applyJsonPatch(doc, [
    { op: 'remove', path: '/spec/minAvailable' },
    { op: 'add', path: '/spec/maxUnavailable', value: 1 },
    { op: 'add', path: '/spec/list/-', value: 3 },
  ]);
  assert.deepEqual(doc, { spec: { maxUnavailable: 1, list: [1, 2, 3] } });
  assert.throws(() => applyJsonPatch(doc, [{ op: 'replace', path: '/spec/nothing', value: 1 }]), /does not exist/);
});

for (const overlay of OVERLAYS) {
  describe(`overlay ${overlay} (Kubernetes ${KUBERNETES_VERSION})`, () => {
    const dir = join(K8S, 'overlays', overlay);
    const r = render(dir);
    const objs = r.objects;

    test('renders from the base, and every object is valid against the strict Kubernetes schema', () => {
      assert.ok(r.kustomizations.some((k) => k.endsWith('deploy/k8s/base/kustomization.yaml')));
      const validate = kubernetesValidator();
      const problems = objs.flatMap((o) => validate(o).map((p) => `${o.kind}/${o.metadata.name}: ${p}`));
      assert.deepEqual(problems, []);
      const names = objs.map((o) => `${o.kind}/${o.metadata.name}`);
      assert.equal(new Set(names).size, names.length, 'no duplicate objects');
      for (const o of objs) if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'phigate', `${o.kind}/${o.metadata.name}`);
    });

    test('every Deployment has probes, requests and limits, a locked-down security context and its own service account', () => {
      for (const d of objs.filter((o) => o.kind === 'Deployment')) {
        const spec = podSpec(d)!;
        const where = `Deployment/${d.metadata.name}`;
        const psc = spec.securityContext as Obj;
        assert.equal(psc.runAsNonRoot, true, where);
        assert.deepEqual(psc.seccompProfile, { type: 'RuntimeDefault' }, where);
        assert.equal(spec.automountServiceAccountToken, false, where);
        const sa = find(objs, 'ServiceAccount', spec.serviceAccountName as string);
        assert.ok(sa, `${where}: service account ${String(spec.serviceAccountName)} exists`);
        assert.equal(sa.automountServiceAccountToken, false, `${where}: service account does not mount a token`);
        for (const c of containers(d)) {
          assert.ok(c.readinessProbe && c.livenessProbe, `${where}: probes`);
          assert.deepEqual((c.readinessProbe.httpGet as Obj).path, '/readyz', `${where}: readiness on /readyz`);
          assert.deepEqual((c.livenessProbe.httpGet as Obj).path, '/healthz', `${where}: liveness on /healthz`);
          assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.cpu && c.resources.limits.memory, `${where}: resources`);
          assert.equal(c.securityContext?.allowPrivilegeEscalation, false, where);
          assert.equal(c.securityContext?.readOnlyRootFilesystem, true, where);
          assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], where);
          assert.ok(
            c.volumeMounts?.some((m) => m.mountPath === '/tmp'),
            `${where}: a writable /tmp`,
          );
          assert.match(c.image, /:[\w.-]+$|@sha256:/, `${where}: image has a tag or digest`);
        }
      }
      for (const s of objs.filter((o) => o.kind === 'StatefulSet')) {
        assert.equal((podSpec(s)!.securityContext as Obj).runAsNonRoot, true, `StatefulSet/${s.metadata.name}`);
        for (const c of containers(s)) {
          assert.ok(c.readinessProbe && c.livenessProbe && c.resources?.limits, `StatefulSet/${s.metadata.name}: probes and resources`);
          assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL']);
        }
      }
    });

    test('the five services are there; the gateway runs at least two replicas', () => {
      for (const s of PHIGATE) assert.ok(find(objs, 'Deployment', s), s);
      assert.ok(((find(objs, 'Deployment', 'gateway')!.spec as Obj).replicas as number) >= 2);
    });

    test('every disruption budget, network policy and service selects pods that exist', () => {
      const pods = workloads(objs).map(podLabels);
      const some = (sel: Record<string, string>) => pods.some((l) => selects(sel, l));
      for (const p of objs.filter((o) => o.kind === 'PodDisruptionBudget')) {
        const sel = ((p.spec as Obj).selector as Obj).matchLabels as Record<string, string>;
        assert.ok(some(sel), `PodDisruptionBudget/${p.metadata.name} selects ${JSON.stringify(sel)}`);
      }
      for (const s of PHIGATE) assert.ok(find(objs, 'PodDisruptionBudget', s), `${s} has a disruption budget`);
      for (const n of objs.filter((o) => o.kind === 'NetworkPolicy')) {
        const spec = n.spec as Obj;
        const sel = ((spec.podSelector as Obj).matchLabels as Record<string, string>) ?? {};
        if (Object.keys(sel).length > 0) assert.ok(some(sel), `NetworkPolicy/${n.metadata.name} selects ${JSON.stringify(sel)}`);
        const peers = [
          ...((spec.ingress as Obj[]) ?? []).flatMap((x) => (x.from as Obj[]) ?? []),
          ...((spec.egress as Obj[]) ?? []).flatMap((x) => (x.to as Obj[]) ?? []),
        ];
        for (const peer of peers) {
          if (peer.namespaceSelector || !peer.podSelector) continue;
          const ps = (peer.podSelector as Obj).matchLabels as Record<string, string>;
          assert.ok(some(ps), `NetworkPolicy/${n.metadata.name}: peer ${JSON.stringify(ps)} selects pods`);
        }
      }
      const deny = find(objs, 'NetworkPolicy', 'default-deny-all')!;
      assert.deepEqual(deny.spec, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
      for (const svc of objs.filter((o) => o.kind === 'Service')) {
        const spec = svc.spec as { selector: Record<string, string>; ports: Array<{ targetPort: string | number }> };
        const backing = workloads(objs).filter((w) => selects(spec.selector, podLabels(w)));
        assert.ok(backing.length > 0, `Service/${svc.metadata.name} selects pods`);
        for (const p of spec.ports) {
          if (typeof p.targetPort !== 'string') continue;
          assert.ok(
            backing.some((w) => containers(w).some((c) => c.ports?.some((cp) => cp.name === p.targetPort))),
            `Service/${svc.metadata.name}: targetPort ${p.targetPort} is a named container port`,
          );
        }
      }
    });

    test('the policies allow exactly the documented flows of the phigate services', () => {
      const egressTo = (from: string) =>
        objs
          .filter(
            (o) =>
              o.kind === 'NetworkPolicy' &&
              selects((((o.spec as Obj).podSelector as Obj).matchLabels as Record<string, string>) ?? {}, { 'app.kubernetes.io/name': from }),
          )
          .flatMap((o) => ((o.spec as Obj).egress as Obj[] | undefined) ?? [])
          .flatMap((e) =>
            ((e.to as Obj[]) ?? []).map(
              (t) => ((t.podSelector as Obj | undefined)?.matchLabels as Record<string, string> | undefined)?.['app.kubernetes.io/name'],
            ),
          )
          .filter((x): x is string => x !== undefined);
      assert.deepEqual(new Set(egressTo('gateway').filter((n) => PHIGATE.includes(n))), new Set(['policy', 'masking', 'approval']));
      for (const s of ['policy', 'masking', 'approval', 'audit']) {
        assert.ok(!egressTo(s).some((n) => PHIGATE.includes(n)), `${s} calls no other phigate service`);
      }
      const ingressFrom = (to: string) =>
        objs
          .filter((o) => o.kind === 'NetworkPolicy' && (o.metadata.name === to || o.metadata.name === `local-${to}`))
          .flatMap((o) => ((o.spec as Obj).ingress as Obj[]) ?? [])
          .flatMap((i) =>
            ((i.from as Obj[]) ?? []).map((f) => ((f.podSelector as Obj | undefined)?.matchLabels as Record<string, string>)?.['app.kubernetes.io/name']),
          );
      assert.deepEqual(ingressFrom('policy'), ['gateway']);
      assert.deepEqual(ingressFrom('masking'), ['gateway']);
    });

    test("every variable a service's config requires is set (or its *_FILE), and each file is a key of a mounted Secret", async () => {
      const problems: string[] = [];
      for (const cfg of await serviceConfigs()) {
        const d = find(objs, 'Deployment', cfg.service)!;
        const c = containers(d)[0]!;
        const env: Record<string, string> = {};
        for (const ef of c.envFrom ?? []) {
          const ref = ef.configMapRef?.name ?? ef.secretRef?.name;
          const cm = find(objs, ef.configMapRef ? 'ConfigMap' : 'Secret', ref!);
          if (!cm) problems.push(`${cfg.service}: envFrom ${ref} does not exist`);
          else Object.assign(env, cm.data as Record<string, string>);
        }
        for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
        problems.push(
          ...envProblems(cfg, env, (path) => {
            const m = c.volumeMounts?.find((vm) => path.startsWith(`${vm.mountPath}/`));
            if (!m) return 'not under any volume mount';
            const v = volumes(d).find((x) => x.name === m.name);
            const key = path.slice(m.mountPath.length + 1);
            const [kind, name] = v?.secret ? ['Secret', v.secret.secretName] : v?.configMap ? ['ConfigMap', v.configMap.name] : [];
            if (!kind || !name) return `mounted from ${m.name}, which is neither a Secret nor a ConfigMap`;
            if (kind === 'ConfigMap' && /KEY|SECRET|TOKEN|PASSWORD|URL/.test(path)) return 'a secret must come from a Secret, not a ConfigMap';
            const source = find(objs, kind, name);
            if (!source) return `${kind} ${name} does not exist`;
            return key in (source.data as Obj) ? undefined : `${kind} ${name} has no key ${key}`;
          }),
        );
        for (const k of Object.keys(env)) {
          if (/PASSWORD|SECRET|TOKEN|_KEY$|DATABASE_URL|REDIS_URL|WEBHOOK_URL/.test(k) && !/_(FILE|DIR)$/.test(k))
            problems.push(`${cfg.service}: ${k} is a plain value; use ${k}_FILE`);
        }
      }
      assert.deepEqual(problems, []);
    });

    test('every ConfigMap and Secret a pod mounts exists', () => {
      for (const w of workloads(objs)) {
        for (const v of volumes(w)) {
          if (v.secret) assert.ok(find(objs, 'Secret', v.secret.secretName), `${w.metadata.name}: Secret ${v.secret.secretName}`);
          if (v.configMap) assert.ok(find(objs, 'ConfigMap', v.configMap.name), `${w.metadata.name}: ConfigMap ${v.configMap.name}`);
        }
      }
    });

    test('secrets come from git-ignored files, never from inline values', () => {
      const secretSources = r.sources.filter((s) => s.generator === 'secretGenerator');
      assert.ok(secretSources.length > 0);
      for (const s of secretSources) {
        assert.equal(s.kind, 'file', `${s.name}/${s.key} is from a file`);
        assert.ok(relative(s.dir, s.path!).startsWith('secrets/'), `${s.name}/${s.key} lives under ${overlay}/secrets/`);
      }
      assert.match(readFileSync(join(dir, '.gitignore'), 'utf8'), /^secrets\/$/m);
      assert.ok(
        !objs.some((o) => o.kind === 'Secret' && !r.sources.some((s) => s.generator === 'secretGenerator' && s.name === o.metadata.name)),
        'no Secret object written by hand',
      );
    });

    test('the gateway connections file is the local one with cluster host names, its password a Secret key', () => {
      const local = parse(readFileSync(join(ROOT, 'deploy/local/gateway/connections.yaml'), 'utf8')) as ConnectionsFile;
      const here = parse(readFileSync(join(dir, 'connections.yaml'), 'utf8')) as ConnectionsFile;
      assertSameConnections(local, here, overlay);
      const secret = find(objs, 'Secret', 'phigate-gateway-secrets')!;
      for (const c of here.connections) assert.ok(c.passwordFile in (secret.data as Obj), `${c.name}: ${c.passwordFile} is a key of phigate-gateway-secrets`);
    });
  });
}

describe('every link is secured in Kubernetes as in the local stack', () => {
  for (const overlay of OVERLAYS) {
    test(`${overlay}: Kafka SASL_SSL as one user per service, no plaintext allowance, internal mutual TLS from cert-manager-shaped Secrets`, () => {
      const objs = render(join(K8S, 'overlays', overlay)).objects;
      const problems: string[] = [];
      const envOf = (name: string) => {
        const d = find(objs, 'Deployment', name)!;
        const c = containers(d)[0]!;
        const env: Record<string, string> = {};
        for (const ef of c.envFrom ?? [])
          if (ef.configMapRef) Object.assign(env, find(objs, 'ConfigMap', ef.configMapRef.name)?.data as Record<string, string>);
        for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
        return { d, c, env };
      };
      const users = new Set<string>();
      for (const name of PHIGATE) {
        const { d, c, env } = envOf(name);
        for (const k of Object.keys(env)) if (/PLAINTEXT$/.test(k)) problems.push(`${name}: ${k} allows a plaintext link`);
        if (name === 'gateway' || name === 'audit') {
          if (env.KAFKA_SECURITY_PROTOCOL !== 'SASL_SSL') problems.push(`${name}: KAFKA_SECURITY_PROTOCOL is ${env.KAFKA_SECURITY_PROTOCOL}`);
          if (!env.KAFKA_SASL_PASSWORD_FILE) problems.push(`${name}: no KAFKA_SASL_PASSWORD_FILE`);
          users.add(env.KAFKA_SASL_USERNAME ?? '');
        }
        if (name !== 'audit') {
          // Internal mutual TLS: cert-manager's key names, from a mounted Secret.
          const m = c.volumeMounts?.find((vm) => env.INTERNAL_TLS_CA_FILE?.startsWith(`${vm.mountPath}/`));
          const secret = m && volumes(d).find((v) => v.name === m.name)?.secret?.secretName;
          const data = (secret && (find(objs, 'Secret', secret)?.data as Obj)) || {};
          for (const key of ['ca.crt', 'tls.crt', 'tls.key']) if (!(key in data)) problems.push(`${name}: internal TLS Secret ${secret} has no ${key}`);
          assert.deepEqual(
            [env.INTERNAL_TLS_CA_FILE, env.INTERNAL_TLS_CERT_FILE, env.INTERNAL_TLS_KEY_FILE].map((f) => f?.slice(f.lastIndexOf('/') + 1)),
            ['ca.crt', 'tls.crt', 'tls.key'],
            name,
          );
        }
      }
      assert.equal(users.size, 2, 'the gateway and the audit service log in to Kafka as two different users');
      assert.deepEqual(problems, []);
    });
  }

  test('local: the in-cluster Kafka, Redis and PostgreSQL run TLS with cert-manager-shaped Secrets, and the services verify them', () => {
    const rendered = render(join(K8S, 'overlays', 'local'));
    const objs = rendered.objects;
    const problems: string[] = [];
    // A Secret key's value: its file under secrets/ when `prepare.sh local` has run, otherwise (a
    // fresh clone, where git-ignored files render empty) what prepare.sh would write into that file.
    const prepare = readFileSync(join(K8S, 'prepare.sh'), 'utf8');
    const verify = /^\s*verify='([^']*)'/m.exec(prepare)?.[1] ?? '';
    const secretText = (name: string, key: string) => {
      const text = Buffer.from(String((find(objs, 'Secret', name)?.data as Obj | undefined)?.[key] ?? ''), 'base64').toString('utf8');
      if (text) return text;
      const file = rendered.sources.find((x) => x.generator === 'secretGenerator' && x.name === name && x.key === key)?.path;
      const put = file && new RegExp(`^\\s*put ${basename(file).replace(/[.]/g, '\\.')} "(.*)"$`, 'm').exec(prepare)?.[1];
      return (put ?? '').replaceAll('$verify', verify);
    };
    const infra = (name: string) => {
      const s = find(objs, 'StatefulSet', name)!;
      const c = containers(s)[0]! as Container & { args?: string[] };
      const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? '']));
      return { s, c, env, args: (c.args ?? []).join(' ') };
    };
    for (const name of ['kafka', 'redis', 'postgres']) {
      const { s } = infra(name);
      const tls = volumes(s).find((v) => v.secret?.secretName === `${name}-tls`);
      if (!tls) problems.push(`${name}: Secret ${name}-tls is not mounted`);
      const secret = find(objs, 'Secret', `${name}-tls`);
      if (secret?.type !== 'kubernetes.io/tls') problems.push(`${name}-tls: type ${String(secret?.type)}, not kubernetes.io/tls`);
      for (const key of ['ca.crt', 'tls.crt', 'tls.key']) if (!(key in ((secret?.data as Obj) ?? {}))) problems.push(`${name}-tls: no ${key}`);
    }
    const k = infra('kafka').env;
    const map = Object.fromEntries(k.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP!.split(',').map((x) => x.split(':') as [string, string]));
    for (const [listener, protocol] of Object.entries(map)) {
      if (listener === k.KAFKA_CONTROLLER_LISTENER_NAMES) {
        if (!k.KAFKA_LISTENERS?.includes(`${listener}://localhost:`)) problems.push(`kafka: ${listener} listens beyond the pod's loopback`);
      } else if (protocol !== 'SASL_SSL') problems.push(`kafka: listener ${listener} is ${protocol}`);
    }
    if (k.KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND !== 'false' || !k.KAFKA_AUTHORIZER_CLASS_NAME) problems.push('kafka: ACLs are not enforced');
    for (const [key, v] of Object.entries(k)) if (/JAAS/.test(key) && /password="(?!\$\{file:)/.test(v)) problems.push(`kafka: ${key} holds a password`);
    for (const want of ['--port 0', '--tls-port 6379', '--aclfile']) if (!infra('redis').args.includes(want)) problems.push(`redis: ${want} missing`);
    if (!infra('postgres').args.includes('ssl=on')) problems.push('postgres: ssl is off');
    // The services' side: rediss://, verify-full URLs, and every CA or password file a key of a mounted Secret.
    if (!secretText('phigate-gateway-secrets', 'redis-url').startsWith('rediss://')) problems.push('redis-url is not rediss://');
    for (const s of ['phigate-gateway-secrets', 'phigate-audit-secrets'])
      if (!/[?&]sslmode=verify-full(&|$)/.test(secretText(s, 'database-url'))) problems.push(`${s}: database-url is not verify-full`);
    for (const name of ['gateway', 'audit', 'approval']) {
      const d = find(objs, 'Deployment', name)!;
      const c = containers(d)[0]!;
      const env: Record<string, string> = {};
      for (const ef of c.envFrom ?? []) if (ef.configMapRef) Object.assign(env, find(objs, 'ConfigMap', ef.configMapRef.name)?.data as Record<string, string>);
      for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
      const uses =
        name === 'audit'
          ? ['KAFKA_SSL_CA_FILE', 'KAFKA_SASL_PASSWORD_FILE']
          : name === 'approval'
            ? ['REDIS_TLS_CA_FILE', 'REDIS_PASSWORD_FILE']
            : ['KAFKA_SSL_CA_FILE', 'KAFKA_SASL_PASSWORD_FILE', 'REDIS_TLS_CA_FILE', 'REDIS_PASSWORD_FILE'];
      const urls = [...(name === 'approval' ? [] : ['database-url'])].map((key) => secretText(`phigate-${name}-secrets`, key));
      const paths = [...uses.map((u) => env[u] ?? `${u} unset`), ...urls.map((u) => /sslrootcert=([^&]+)/.exec(u)?.[1] ?? 'no sslrootcert')];
      for (const path of paths) {
        const m = c.volumeMounts?.find((vm) => path.startsWith(`${vm.mountPath}/`));
        const secret = m && volumes(d).find((v) => v.name === m.name)?.secret?.secretName;
        const data = (secret && (find(objs, 'Secret', secret)?.data as Obj)) || {};
        if (!m || !(path.slice(m.mountPath.length + 1) in data)) problems.push(`${name}: ${path} is not a key of a mounted Secret`);
      }
    }
    const conns = parse(readFileSync(join(K8S, 'overlays/local/connections.yaml'), 'utf8')) as {
      connections: Array<{ name: string; sslMode?: string; plaintext?: boolean }>;
    };
    for (const c of conns.connections)
      if ((c.sslMode ?? 'verify-full') !== 'verify-full' || c.plaintext) problems.push(`connection ${c.name}: not verify-full`);
    assert.deepEqual(problems, []);
  });
});
