import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { assertSameConnections, type ConnectionsFile, composeValidator, envProblems, ROOT, serviceConfigs } from './checks.js';

const DIR = join(ROOT, 'deploy/compose');
const FILE = join(DIR, 'docker-compose.yml');

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string; target?: string; args?: Record<string, string> };
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
  secrets?: string[];
  volumes?: string[];
  read_only?: boolean;
  cap_drop?: string[];
}
interface Compose {
  services: Record<string, ComposeService>;
  secrets: Record<string, { file: string }>;
}

const compose = parse(readFileSync(FILE, 'utf8'), { merge: true }) as Compose;
const phigateServices = ['gateway', 'policy', 'masking', 'approval', 'audit'];

test('the compose file is valid against the official Compose Specification schema', () => {
  assert.deepEqual(composeValidator()(compose), []);
});

test('the schema check has teeth: an unknown service key and a mistyped field are refused', () => {
  const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
  broken.services.gateway!.helthcheck = { test: ['CMD', 'true'] };
  broken.services.redis!.depends_on = 'kafka';
  const problems = composeValidator()(broken);
  assert.ok(problems.some((p) => p.includes('helthcheck')));
  assert.ok(problems.some((p) => p.startsWith('/services/redis/depends_on')));
});

test('the whole stack is there, each piece built from the repository Dockerfile or an upstream image', () => {
  for (const s of [...phigateServices, 'dev-idp', 'slack-sink', 'warehouse', 'kafka', 'redis', 'postgres']) assert.ok(compose.services[s], `service ${s}`);
  assert.match(compose.services.kafka!.image!, /^apache\/kafka:/);
  for (const [name, s] of Object.entries(compose.services)) {
    if (!s.build) continue;
    assert.equal(resolve(DIR, s.build.context), ROOT.replace(/\/$/, ''), `${name} builds from the repository root`);
    assert.equal(s.build.target, 'runtime', name);
    const ws = s.build.args?.WORKSPACE;
    assert.ok(ws && existsSync(join(ROOT, ws, 'package.json')), `${name}: WORKSPACE ${ws} is a workspace`);
    const port = s.build.args?.HEALTH_PORT;
    assert.ok(port && s.healthcheck?.test.join(' ').includes(`127.0.0.1:${port}/`), `${name}: healthcheck on HEALTH_PORT ${port}`);
    assert.equal(s.read_only, true, `${name} runs with a read-only root filesystem`);
    assert.deepEqual(s.cap_drop, ['ALL'], `${name} drops every capability`);
  }
  assert.equal(compose.services.warehouse!.build?.args?.WORKSPACE, 'deploy/local/warehouse');
});

test('every long-running service has a healthcheck; one-shot jobs are awaited to completion', () => {
  for (const [name, s] of Object.entries(compose.services)) {
    if (s.restart === 'no') {
      const waiters = Object.values(compose.services).filter((o) => o.depends_on?.[name]?.condition === 'service_completed_successfully');
      assert.ok(waiters.length > 0, `one-shot ${name} is awaited by someone`);
      continue;
    }
    assert.ok(s.healthcheck?.test.length, `${name} has a healthcheck`);
  }
  for (const [name, s] of Object.entries(compose.services)) {
    for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
      assert.ok(compose.services[dep], `${name} depends on missing ${dep}`);
      if (condition === 'service_healthy') assert.ok(compose.services[dep]!.healthcheck, `${name} waits for ${dep} to be healthy, which has no healthcheck`);
    }
  }
  // The gateway starts last: everything on its request path is healthy first.
  for (const dep of ['policy', 'masking', 'redis', 'postgres', 'kafka-init', 'dev-idp'])
    assert.ok(compose.services.gateway!.depends_on?.[dep], `gateway waits for ${dep}`);
});

test("every variable a service's config requires is set (or its *_FILE), secrets only as files", async () => {
  const problems: string[] = [];
  for (const cfg of await serviceConfigs()) {
    const s = compose.services[cfg.service]!;
    const env = s.environment ?? {};
    problems.push(
      ...envProblems(cfg, env, (path) => {
        const m = /^\/run\/secrets\/([^/]+)$/.exec(path);
        if (!m) {
          // Otherwise a read-only bind mount of a repository file (e.g. the PHI catalog).
          const mount = s.volumes?.map((v) => v.split(':')).find(([, target]) => path.startsWith(`${target}/`));
          if (!mount) return 'neither a Compose secret (/run/secrets/<name>) nor under a bind mount';
          return existsSync(join(resolve(DIR, mount[0]!), path.slice(mount[1]!.length + 1))) ? undefined : 'no such file in the mounted directory';
        }
        if (!s.secrets?.includes(m[1]!)) return `secret ${m[1]} is not granted to the service`;
        if (!compose.secrets[m[1]!]) return `secret ${m[1]} is not declared`;
        return undefined;
      }),
    );
  }
  // Nothing secret inline in any service.
  for (const [name, s] of Object.entries(compose.services)) {
    for (const k of Object.keys(s.environment ?? {})) {
      if (/PASSWORD|SECRET|TOKEN|_KEY$|DATABASE_URL/.test(k) && !/_(FILE|DIR)$/.test(k)) problems.push(`${name}: ${k} is set inline; use ${k}_FILE`);
    }
  }
  assert.deepEqual(problems, []);
});

test('the secrets are git-ignored files that init-secrets.sh creates', () => {
  const init = readFileSync(join(DIR, 'init-secrets.sh'), 'utf8');
  assert.match(readFileSync(join(DIR, '.gitignore'), 'utf8'), /^secrets\/$/m);
  for (const [name, { file }] of Object.entries(compose.secrets)) {
    assert.equal(file, `./secrets/${name}`);
    assert.ok(init.includes(`put ${name} `), `init-secrets.sh creates ${name}`);
  }
  const used = new Set(Object.values(compose.services).flatMap((s) => s.secrets ?? []));
  assert.deepEqual([...used].sort(), Object.keys(compose.secrets).sort(), 'every declared secret is used, every used one declared');
});

test('mounted repository paths exist, so the SQL and policies are reused, not copied', () => {
  for (const [name, s] of Object.entries(compose.services)) {
    for (const v of s.volumes ?? []) {
      const src = v.split(':')[0]!;
      if (!src.startsWith('.')) continue;
      assert.ok(existsSync(resolve(DIR, src)), `${name}: ${src} exists`);
    }
  }
  const pgMounts = compose.services.postgres!.volumes!.join('\n');
  for (const p of ['../local/demo:', '../../services/audit/migrations:', '../../services/gateway/migrations:']) assert.ok(pgMounts.includes(p), p);
});

test('the compose connections file is the local one with container host names', () => {
  const local = parse(readFileSync(join(ROOT, 'deploy/local/gateway/connections.yaml'), 'utf8')) as ConnectionsFile;
  const here = parse(readFileSync(join(DIR, 'gateway/connections.yaml'), 'utf8')) as ConnectionsFile;
  assertSameConnections(local, here, 'compose');
  for (const c of here.connections)
    assert.ok(compose.services.gateway!.secrets?.includes(c.passwordFile), `${c.name}: password file ${c.passwordFile} is a gateway secret`);
});

test("APPROVAL_SLACK_USERS is the dev IdP's approvers", () => {
  const clients = JSON.parse(readFileSync(join(ROOT, 'deploy/local/dev-idp/clients.json'), 'utf8')) as {
    identities: Array<{ name: string; groups: string[]; slackUserId?: string }>;
  };
  const want = Object.fromEntries(clients.identities.filter((i) => i.slackUserId).map((i) => [i.slackUserId, { subject: i.name, groups: i.groups }]));
  assert.deepEqual(JSON.parse(compose.services.approval!.environment!.APPROVAL_SLACK_USERS!), want);
});

test('every link is secured as in the local stack and production: Kafka SASL_SSL, Redis TLS with an ACL user, PostgreSQL verify-full, internal mutual TLS, no plaintext allowance', () => {
  const problems: string[] = [];
  const env = (s: string) => compose.services[s]!.environment ?? {};
  const granted = (s: string, path: string | undefined) => {
    const m = /^\/run\/secrets\/([^/]+)$/.exec(path ?? '');
    return Boolean(m && compose.services[s]!.secrets?.includes(m[1]!) && compose.secrets[m[1]!]);
  };
  for (const [name, s] of Object.entries(compose.services))
    for (const k of Object.keys(s.environment ?? {})) if (/PLAINTEXT$/.test(k)) problems.push(`${name}: ${k} allows a plaintext link`);
  // Every file a service is told about is a secret granted to it.
  for (const name of phigateServices)
    for (const [k, v] of Object.entries(env(name)))
      if (k.endsWith('_FILE') && v.startsWith('/run/secrets/') && !granted(name, v)) problems.push(`${name}: ${k}=${v} is not a granted secret`);
  const users = new Set<string>();
  for (const name of ['gateway', 'audit']) {
    const e = env(name);
    if (e.KAFKA_SECURITY_PROTOCOL !== 'SASL_SSL') problems.push(`${name}: KAFKA_SECURITY_PROTOCOL is ${e.KAFKA_SECURITY_PROTOCOL}`);
    if (e.KAFKA_SASL_MECHANISM !== 'scram-sha-512') problems.push(`${name}: KAFKA_SASL_MECHANISM is ${e.KAFKA_SASL_MECHANISM}`);
    if (!granted(name, e.KAFKA_SSL_CA_FILE) || !granted(name, e.KAFKA_SASL_PASSWORD_FILE)) problems.push(`${name}: Kafka CA or password file not granted`);
    users.add(e.KAFKA_SASL_USERNAME ?? '');
  }
  assert.deepEqual([...users].sort(), ['audit', 'gateway'], 'each service logs in to Kafka as its own user');
  for (const name of ['gateway', 'approval']) {
    const e = env(name);
    if (!e.REDIS_URL?.startsWith('rediss://')) problems.push(`${name}: REDIS_URL is not rediss://`);
    if (!e.REDIS_USERNAME || !granted(name, e.REDIS_PASSWORD_FILE) || !granted(name, e.REDIS_TLS_CA_FILE))
      problems.push(`${name}: Redis ACL user, password or CA missing`);
  }
  for (const name of ['gateway', 'policy', 'masking', 'approval'])
    for (const k of ['INTERNAL_TLS_CA_FILE', 'INTERNAL_TLS_CERT_FILE', 'INTERNAL_TLS_KEY_FILE'])
      if (!granted(name, env(name)[k])) problems.push(`${name}: ${k} is not a granted secret`);
  // The database URLs init-secrets.sh writes verify the server against a CA the service is granted.
  const init = readFileSync(join(DIR, 'init-secrets.sh'), 'utf8');
  const verify = /^verify='sslmode=verify-full&sslrootcert=(\/run\/secrets\/[^']+)'$/m.exec(init);
  if (!verify) problems.push('init-secrets.sh: the database URLs do not say sslmode=verify-full with a CA');
  for (const [name, secret] of [
    ['gateway', 'gateway_database_url'],
    ['audit', 'audit_database_url'],
  ] as const) {
    if (!new RegExp(`^put ${secret} "postgres://.+\\?\\$verify"$`, 'm').test(init)) problems.push(`init-secrets.sh: ${secret} does not carry ?$verify`);
    if (verify && !granted(name, verify[1])) problems.push(`${name}: the database CA ${verify[1]} is not granted`);
  }
  const connections = parse(readFileSync(join(DIR, 'gateway/connections.yaml'), 'utf8')) as {
    connections: Array<{ name: string; sslMode?: string; sslRootCertFile?: string; plaintext?: boolean }>;
  };
  for (const c of connections.connections) {
    if ((c.sslMode ?? 'verify-full') !== 'verify-full' || c.plaintext) problems.push(`connection ${c.name}: not verify-full`);
    if (c.sslRootCertFile && !granted('gateway', `/run/secrets/${c.sslRootCertFile}`)) problems.push(`connection ${c.name}: CA file not granted`);
  }
  // ($$ is Compose's escape for a literal $.) The servers: only SASL_SSL listeners but the broker's own controller listener on its loopback,
  // ACLs enforced, no password in the broker's environment; Redis TLS-only with an ACL file;
  // PostgreSQL with TLS on.
  const k = env('kafka');
  const map = Object.fromEntries((k.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP ?? '').split(',').map((x) => x.split(':') as [string, string]));
  for (const [listener, protocol] of Object.entries(map)) {
    if (listener === k.KAFKA_CONTROLLER_LISTENER_NAMES) {
      if (!k.KAFKA_LISTENERS?.includes(`${listener}://localhost:`)) problems.push(`kafka: ${listener} listens beyond the container's loopback`);
    } else if (protocol !== 'SASL_SSL') problems.push(`kafka: listener ${listener} is ${protocol}`);
  }
  if (!k.KAFKA_AUTHORIZER_CLASS_NAME || k.KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND !== 'false') problems.push('kafka: ACLs are not enforced');
  for (const [key, v] of Object.entries(k)) if (/JAAS/.test(key) && /password="(?!\$?\$\{file:)/.test(v)) problems.push(`kafka: ${key} holds a password`);
  const redis = ((compose.services.redis as { command?: string[] }).command ?? []).join(' ');
  for (const want of ['--port 0', '--tls-port 6379', '--aclfile /run/secrets/']) if (!redis.includes(want)) problems.push(`redis: ${want} missing`);
  const pg = ((compose.services.postgres as { command?: string[] }).command ?? []).join(' ');
  if (!pg.includes('ssl=on')) problems.push('postgres: ssl is off');
  assert.deepEqual(problems, []);
});
