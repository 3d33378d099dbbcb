import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type KafkaSecuritySettings, kafkaClientSchema, kafkaSecurity, loadConfig } from '@phigate/config';
import { findDevIdentity, readDevIdentities } from './dev-identities.js';

/** Repository root (tests run from compiled dist folders, so walk up to the workspace root). */
export const REPO_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'turbo.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('testkit: cannot find the repository root (turbo.json)');
    dir = up;
  }
  return dir;
})();

/** The dev IdP's demo identities: env `DEV_IDP_CLIENTS_FILE`, else the checked-in deploy/local/dev-idp/clients.json. */
const DEV_IDENTITIES_FILE = (): string => process.env.DEV_IDP_CLIENTS_FILE || join(REPO_ROOT, 'deploy/local/dev-idp/clients.json');

const HOW_TO_START = 'start the local stack with `npm run stack:up` (or run the whole suite with `npm test`, which starts it)';

/** A unique, readable name for topics, groups, schemas and key prefixes: tests never share state. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/**
 * The first-line marker of a test file that needs the running stack (or the drivers `npm test`
 * installs); `npm run test:unit` runs every other test file, with `PHIGATE_TESTS=unit`.
 */
export const STACK_MARKER = '// phigate-test: stack';

let cachedEnv: Record<string, string> | undefined;

/**
 * The running stack's endpoints (`npm run -s stack:env`). Throws with instructions when the stack
 * is not running, so an integration test fails loudly instead of passing silently.
 */
export function stackEnv(): Record<string, string> {
  if (process.env.PHIGATE_TESTS === 'unit') {
    throw new Error(`this test reads the local stack, so it is not a unit test: mark its file \`${STACK_MARKER}\` (README.md, Unit tests and stack tests)`);
  }
  if (cachedEnv) return cachedEnv;
  let out: string;
  try {
    out = execFileSync('bash', [join(REPO_ROOT, 'deploy/local/bin/stack'), 'env', '--raw'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    throw new Error(`the local stack is not running: ${HOW_TO_START}`);
  }
  const env: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  cachedEnv = env;
  return env;
}

/** Reads one stack endpoint, failing with instructions when it is missing. */
export function need(key: string): string {
  const v = stackEnv()[key];
  if (!v) throw new Error(`${key} is not set by the local stack: ${HOW_TO_START}`);
  return v;
}

/**
 * How the stack's tools identity reaches Kafka: the brokers and their TLS/SASL settings, loaded
 * from `stack env` exactly as the services load theirs. Spread into @phigate/bus's options:
 * `createKafka({ ...kafkaConnection(), clientId, log })`.
 */
export function kafkaConnection(): { brokers: string[]; security: KafkaSecuritySettings } {
  need('KAFKA_BROKERS');
  const c = loadConfig(kafkaClientSchema(), stackEnv());
  return { brokers: [...c.KAFKA_BROKERS], security: kafkaSecurity(c) };
}

/** The stack's KAFKA_* client settings as environment variables, for a service a test starts itself. */
export function kafkaEnv(): Record<string, string> {
  need('KAFKA_BROKERS');
  return Object.fromEntries(Object.entries(stackEnv()).filter(([k]) => k.startsWith('KAFKA_') && k !== 'KAFKA_KCAT_CONFIG'));
}

/**
 * kcat's connection arguments for the stack's Kafka (`-b` and, on a SASL_SSL stack, `-F` with the
 * tools identity's settings): `execFileSync('kcat', ['-C', ...kcatArgs(), '-t', topic, ...])`.
 */
export function kcatArgs(): string[] {
  const conf = stackEnv().KAFKA_KCAT_CONFIG;
  return ['-b', need('KAFKA_BROKERS'), ...(conf ? ['-F', conf] : [])];
}

/** Throws a clear, actionable error when `url` does not answer 2xx within a short time. */
export async function requireHttp(name: string, url: string): Promise<void> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    if (res.ok) return;
    throw new Error(`HTTP ${res.status}`);
  } catch (err) {
    throw new Error(`${name} is not reachable at ${url} (${(err as Error).message}): ${HOW_TO_START}`);
  }
}

/**
 * The first event the auditor search (`/v1/events` with `params`, oldest first) returns that
 * `match` accepts, reading every page (`next`); undefined when none does yet. Paging matters: in a
 * full test run one identity can have more records in a window than one page holds.
 */
// biome-ignore lint/suspicious/noExplicitAny: tests read audit events as the JSON the API returns, untyped
export async function findAuditEvent(auditorToken: string, params: Record<string, string>, match: (event: any) => boolean): Promise<any> {
  let after: string | undefined;
  for (;;) {
    const q = new URLSearchParams({ limit: '1000', ...params, ...(after ? { after } : {}) });
    const res = await fetch(`${need('AUDIT_URL')}/v1/events?${q}`, { headers: { authorization: `Bearer ${auditorToken}` } });
    if (res.status !== 200) throw new Error(`the auditor search answered ${res.status}: ${await res.text()}`);
    // biome-ignore lint/suspicious/noExplicitAny: as above
    const page = (await res.json()) as { events: any[]; next?: string };
    const found = page.events.find(match);
    if (found !== undefined) return found;
    if (!page.next) return undefined;
    after = page.next;
  }
}

/**
 * For a test that stopped and started the shared broker: waits until the stack's audit service is
 * ready again (its store consumer and SIEM relay back in their groups, its lag under the limit),
 * so the next test file finds the audit path as it was (11-14 s after the broker is back: a
 * consumer that crashed rejoins as a new member once its old 10 s session expired).
 */
export async function stackAuditRecovered(timeoutMs = 180_000): Promise<void> {
  const url = `${need('AUDIT_URL')}/readyz`;
  await eventually(
    `the stack's audit service to be ready again after the broker restart (${url})`,
    async () => {
      const res = await fetch(url, { signal: AbortSignal.timeout(3000) }).catch(() => undefined);
      return res?.ok ? true : undefined;
    },
    timeoutMs,
    500,
  );
}

/** A fresh access token for a demo identity from the dev IdP (client-credentials grant). */
export async function demoToken(identity: string): Promise<string> {
  const issuer = need('DEV_IDP_ISSUER');
  const client = findDevIdentity(readDevIdentities(DEV_IDENTITIES_FILE()), identity);
  if (!client) throw new Error(`unknown demo identity ${identity}`);
  const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
  const res = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.name, client_secret: client.clientSecret }),
  });
  if (!res.ok) throw new Error(`dev IdP refused a token for ${identity}: HTTP ${res.status} (${HOW_TO_START})`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Polls `check` until it returns a value, or fails after `timeoutMs` with `what` in the message. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** A small, fast, seeded PRNG (mulberry32) in [0, 1): fuzzers and generated corpora replay exactly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A second instance of a stack app, started by a test with the stack's own environment. */
export interface SpawnedApp {
  url: string;
  pid: number;
  /** Sends a signal (default SIGKILL: a crash) and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts another replica of a stack app (e.g. a second gateway) with the environment the stack
 * gives that app (`stack app-env <name>`) plus `overrides`, and waits until `healthPath` answers on
 * `port`. The test must kill it (the returned handle does; use t.after).
 */
export async function spawnApp(name: string, entry: string, port: number, overrides: Record<string, string>, healthPath = '/readyz'): Promise<SpawnedApp> {
  let envText: string;
  try {
    envText = execFileSync('bash', [join(REPO_ROOT, 'deploy/local/bin/stack'), 'app-env', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    throw new Error(`the local stack has no environment for ${name}: ${HOW_TO_START}`);
  }
  const env: Record<string, string> = {};
  for (const line of envText.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  Object.assign(env, { LOG_LEVEL: 'warn' }, overrides);
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', '--disable-warning=DEP0123', join(REPO_ROOT, entry)], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await eventually(
      `${name} replica on port ${port}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${stderr}`);
        const res = await fetch(`${url}${healthPath}`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
        return res?.ok ? true : undefined;
      },
      30_000,
      200,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    url,
    pid: child.pid ?? 0,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** A TCP port free on 127.0.0.1 right now (for a replica or a helper process a test starts). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const tryListen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(undefined));
      s.listen(port, '127.0.0.1', () => {
        const got = (s.address() as { port: number }).port;
        s.close(() => resolve(got));
      });
    });
  // A port from below the kernel's ephemeral range: a port that listen(0) hands out comes from that
  // range, which every outgoing connection draws its source port from too, so in a busy test run a
  // client connection could take it before the process it was meant for listens (EADDRINUSE).
  const [low, high] = ephemeralRange();
  const from = 20_000;
  if (low - from >= 1000) {
    for (let i = 0; i < 50; i++) {
      const candidate = from + Math.floor(Math.random() * (low - from));
      if (handedOut.has(candidate)) continue;
      const port = await tryListen(candidate);
      if (port !== undefined) {
        handedOut.add(port);
        return port;
      }
    }
  }
  const port = await tryListen(0);
  if (port === undefined) throw new Error(`no free port on 127.0.0.1 (ephemeral range ${low}-${high})`);
  return port;
}

/** Ports this process has handed out already (never twice). */
const handedOut = new Set<number>();

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return [low, high];
  } catch {
    // not Linux: listen(0) it is
  }
  return [0, 0];
}

/**
 * Every audit event on Kafka since `sinceMs` (epoch ms), read with kcat: a Kafka client that is not
 * part of phigate, so it sees what a SIEM would.
 */
// biome-ignore lint/suspicious/noExplicitAny: tests read audit events as the JSON a SIEM gets, untyped
export function kafkaEventsSince(sinceMs: number): Array<Record<string, any>> {
  const out = execFileSync('kcat', ['-C', ...kcatArgs(), '-t', 'phigate.audit.v1', '-o', `s@${sinceMs}`, '-e', '-q', '-f', '%s\n'], {
    encoding: 'utf8',
    timeout: 20_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  return (
    out
      .split('\n')
      .filter(Boolean)
      // biome-ignore lint/suspicious/noExplicitAny: as above
      .map((l) => JSON.parse(l) as Record<string, any>)
  );
}

export * from './redis-cluster.js';

/**
 * A CA of its own and a certificate it signed for localhost and 127.0.0.1 (client and server use):
 * what an intruder on the network could make. PEM file paths, in INTERNAL_TLS_* names.
 */
export function foreignCertificate(): { INTERNAL_TLS_CA_FILE: string; INTERNAL_TLS_CERT_FILE: string; INTERNAL_TLS_KEY_FILE: string } {
  const d = mkdtempSync(join(tmpdir(), 'other-ca-'));
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl('req', '-x509', ...ec, '-days', '1', '-subj', '/CN=other CA', '-keyout', join(d, 'ca.key'), '-out', join(d, 'ca.pem'));
  ossl('req', ...ec, '-subj', '/CN=gateway', '-keyout', join(d, 'c.key'), '-out', join(d, 'c.csr'));
  writeFileSync(join(d, 'ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  ossl(
    'x509',
    '-req',
    '-in',
    join(d, 'c.csr'),
    '-CA',
    join(d, 'ca.pem'),
    '-CAkey',
    join(d, 'ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-out',
    join(d, 'c.pem'),
    '-extfile',
    join(d, 'ext'),
  );
  return { INTERNAL_TLS_CA_FILE: join(d, 'ca.pem'), INTERNAL_TLS_CERT_FILE: join(d, 'c.pem'), INTERNAL_TLS_KEY_FILE: join(d, 'c.key') };
}

/** The status of a GET over HTTPS that trusts `caFile` but presents no client certificate (rejects when refused). */
export function httpsWithoutClientCert(url: string, caFile: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { ca: readFileSync(caFile) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
}
export * from './dev-identities.js';
