// phigate-test: stack
// Issue 18, acceptance 1: a packet capture on the loopback interface during a masked query (and a
// held one, which opens an approval) shows no row value, token or statement in clear on the
// internal links. The client → gateway link is the client's choice and is not asserted; it serves
// as the positive control that the capture and the search see clear text where there is some.
//
// Links asserted: gRPC to policy and masking, HTTPS to approval's internal API, Kafka, Redis, and
// the three PostgreSQL links (the gateway to the upstream clinical database, the gateway to its
// control database, the audit service to the audit store), all encrypted by the stack's defaults; a
// stack started with PHIGATE_KAFKA_SECURE=0, PHIGATE_REDIS_TLS=0 or PHIGATE_PG_TLS=0 fails here, by
// design. The PostgreSQL links share one server port, so each of their connections is told apart by
// the process holding it and the database PostgreSQL says it serves; besides the search for the
// secrets, each link is searched for the statement phigate sends on it (in clear on a plaintext
// link), and PostgreSQL is asked whether each of those connections uses TLS.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { demoToken, eventually, freePort, need, REPO_ROOT, spawnApp, stackEnv } from '@phigate/testkit';
import pg from 'pg';

/** One TCP segment's ports and payload. */
interface Segment {
  src: number;
  dst: number;
  payload: Buffer;
}

/** The TCP segments of a classic pcap file (tcpdump -w): Ethernet (lo), Linux cooked v1/v2 or BSD loopback framing, IPv4 or IPv6. */
function segments(pcap: Buffer): Segment[] {
  const magic = pcap.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const u32 = (o: number) => (le ? pcap.readUInt32LE(o) : pcap.readUInt32BE(o));
  const linkType = u32(20);
  const out: Segment[] = [];
  for (let o = 24; o + 16 <= pcap.length; ) {
    const length = u32(o + 8);
    const p = pcap.subarray(o + 16, o + 16 + length);
    o += 16 + length;
    let ip: number;
    if (linkType === 1) ip = 14;
    else if (linkType === 113) ip = 16;
    else if (linkType === 276) ip = 20;
    else if (linkType === 0) ip = 4;
    else throw new Error(`pcap link type ${linkType} is not one this test reads`);
    if (p.length < ip + 20) continue;
    let tcp: number;
    let end: number;
    if (p[ip]! >> 4 === 4) {
      if (p[ip + 9] !== 6) continue;
      tcp = ip + (p[ip]! & 0xf) * 4;
      end = ip + p.readUInt16BE(ip + 2);
    } else if (p[ip]! >> 4 === 6) {
      if (p[ip + 6] !== 6) continue;
      tcp = ip + 40;
      end = tcp + p.readUInt16BE(ip + 4);
    } else continue;
    const payload = p.subarray(tcp + (p[tcp + 12]! >> 4) * 4, Math.min(end, p.length));
    out.push({ src: p.readUInt16BE(tcp), dst: p.readUInt16BE(tcp + 2), payload });
  }
  return out;
}

/** tcpdump from deploy/local/bin/capdeps (installed when missing); the test fails when it cannot capture. */
function tcpdumpPath(): string {
  try {
    return execFileSync('bash', [join(REPO_ROOT, 'deploy/local/bin/capdeps')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`tcpdump cannot run, so the internal links cannot be captured: ${stderr || (err as Error).message}`);
  }
}

/** A running capture on lo of TCP on `ports`; `stop()` ends it and returns what tcpdump wrote and said. */
async function capture(bin: string, ports: readonly number[]): Promise<{ sofar(): Segment[]; stop(): Promise<{ pcap: Buffer; summary: string }> }> {
  const file = join(mkdtempSync(join(tmpdir(), 'phigate-capture-')), 'lo.pcap');
  const filter = `tcp and (${ports.map((p) => `port ${p}`).join(' or ')})`;
  // A 64 MiB kernel buffer: loopback segments are up to 64 KiB, and a dropped packet could hide a leak.
  // Immediate mode and a flush per packet: without them, packets still in the kernel's capture
  // block when tcpdump is stopped (up to its one-second timeout) are never written, and the last
  // query's links can look silent.
  const child = spawn(bin, ['-i', 'lo', '-n', '--immediate-mode', '-U', '-B', '65536', '-s', '0', '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // tcpdump prints "listening on lo" once the capture is active: the signal to start the queries.
  await Promise.race([
    eventually('tcpdump listening on lo', async () => (stderr.includes('listening on') ? true : undefined), 10_000),
    exited.then((code) => {
      throw new Error(`tcpdump exited (${code}) before capturing: ${stderr.trim()}`);
    }),
  ]);
  return {
    /** The segments written so far (the file is flushed per packet). */
    sofar: () => {
      try {
        return segments(readFileSync(file));
      } catch {
        return [];
      }
    },
    async stop() {
      child.kill('SIGINT');
      const code = await exited;
      assert.equal(code, 0, `tcpdump ended with ${code}: ${stderr.trim()}`);
      return { pcap: readFileSync(file), summary: stderr };
    },
  };
}

/** The port of a `host:port` or URL. */
const portOf = (address: string) => Number(new URL(address.includes('://') ? address : `tcp://${address}`).port);

/** Local ports of the established TCP connections that process `pid` holds to `port`. */
function clientPortsOf(pid: number, port: number): number[] {
  const out: number[] = [];
  const lines = execFileSync('ss', ['-tnpH', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' }).split('\n');
  for (const line of lines) {
    if (!line.includes(`pid=${pid},`)) continue;
    const local = line.trim().split(/\s+/)[2];
    if (local) out.push(Number(local.slice(local.lastIndexOf(':') + 1)));
  }
  return out;
}

/** A PostgreSQL link of phigate's: the process that holds its connections and the database they serve. */
interface PgLink {
  pid: number;
  database: string;
}

/**
 * phigate's connections to PostgreSQL right now, by local port: which link each belongs to (its
 * process, and the database PostgreSQL says the backend serves) and whether PostgreSQL says it uses
 * TLS. Other local clients of the server (tools, tests) are not in it.
 */
async function pgConnections(admin: pg.Client, links: Record<string, PgLink>, port: number): Promise<Map<number, { link: string; ssl: boolean }>> {
  const byPid = new Map<number, number[]>();
  for (const { pid } of Object.values(links)) if (!byPid.has(pid)) byPid.set(pid, clientPortsOf(pid, port));
  const ports = [...byPid.values()].flat();
  const { rows } = await admin.query<{ client_port: number; datname: string; ssl: boolean }>(
    `SELECT a.client_port, a.datname, coalesce(s.ssl, false) AS ssl FROM pg_stat_activity a LEFT JOIN pg_stat_ssl s ON s.pid = a.pid
      WHERE a.client_addr IS NOT NULL AND a.client_port = ANY($1::int[])`,
    [ports],
  );
  const out = new Map<number, { link: string; ssl: boolean }>();
  for (const r of rows)
    for (const [name, l] of Object.entries(links))
      if (l.database === r.datname && byPid.get(l.pid)?.includes(r.client_port)) out.set(r.client_port, { link: name, ssl: r.ssl });
  return out;
}

/** The database a postgres:// URL names. */
const databaseOf = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));

test('no row value, token or statement crosses an internal link in clear during a masked and a held query', async (t) => {
  const env = stackEnv();
  const bin = tcpdumpPath();
  // A replica of the stack's gateway, configured as the stack configures it, except that it caches
  // no decisions: every statement then goes to the policy service, so that link carries it.
  const gatewayPort = await freePort();
  const gateway = await spawnApp('gateway', 'services/gateway/dist/src/main.js', gatewayPort, {
    GATEWAY_HTTP_PORT: String(gatewayPort),
    GATEWAY_PG_PORT: '0',
    GATEWAY_DECISION_CACHE_SIZE: '0',
    GATEWAY_REPLICA_ID: `capture-test-${gatewayPort}`,
    // Its registry is re-read from the control database several times during the queries, so
    // that link carries traffic while the capture runs.
    GATEWAY_REGISTRY_REFRESH_MS: '200',
  });
  t.after(() => gateway.kill('SIGTERM'));
  // A stack started with Kafka or Redis in plaintext fails below with their leaks; this says why.
  const hints: Record<string, string> = {};
  if (env.KAFKA_SECURITY_PROTOCOL !== 'SASL_SSL' && env.KAFKA_SECURITY_PROTOCOL !== 'SSL')
    hints.Kafka = ' (this stack runs Kafka without TLS: PHIGATE_KAFKA_SECURE=0 when it was started; restart it the default way)';
  if (!need('REDIS_URL').startsWith('rediss://'))
    hints.Redis = ' (this stack runs Redis without TLS: PHIGATE_REDIS_TLS=0 when it was started; restart it the default way)';
  const links: Record<string, number> = {
    'gRPC policy': portOf(need('POLICY_GRPC_ADDR')),
    'gRPC masking': portOf(need('MASKING_GRPC_ADDR')),
    'approval internal API': portOf(need('APPROVAL_INTERNAL_URL')),
    Kafka: portOf(need('KAFKA_BROKERS').split(',')[0]!),
    Redis: portOf(need('REDIS_URL')),
  };
  const pgPort = Number(env.PG_PORT ?? 5432);
  if (!env.PG_TLS_CA_FILE) hints.PostgreSQL = ' (this stack runs PostgreSQL without TLS: PHIGATE_PG_TLS=0 when it was started; restart it the default way)';
  const auditPid = Number(readFileSync(join(need('PHIGATE_HOME'), 'run/apps/audit.pid'), 'utf8').trim());
  const gatewayEnv = Object.fromEntries(
    execFileSync('bash', [join(REPO_ROOT, 'deploy/local/bin/stack'), 'app-env', 'gateway'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const pgLinks: Record<string, PgLink> = {
    'PostgreSQL upstream (gateway → clinical)': { pid: gateway.pid, database: 'clinical' },
    'PostgreSQL control database (gateway)': { pid: gateway.pid, database: databaseOf(gatewayEnv.GATEWAY_DATABASE_URL ?? '') },
    'PostgreSQL audit store (audit service)': { pid: auditPid, database: databaseOf(need('AUDIT_DATABASE_URL')) },
  };
  // What each PostgreSQL link carries in clear when it is not encrypted, besides the secrets: the
  // statement phigate sends on it (the upstream's is the masked statement, a secret already).
  const clearOnPlaintext: Record<string, Record<string, string>> = {
    'PostgreSQL control database (gateway)': { "the registry's statement": 'FROM connections' },
    'PostgreSQL audit store (audit service)': { "the audit store's statement": 'INSERT INTO audit_events' },
  };

  // What must not appear: one patient's real identifiers (read as stored, from the admin login),
  // the callers' tokens, and two statements made unique by a marker (a literal and a column name).
  const admin = new pg.Client({ connectionString: need('PG_ADMIN_URL').replace(/\/postgres$/, '/clinical') });
  await admin.connect();
  t.after(() => admin.end());
  const patient = await admin.query<{ id: number; ssn: string; email: string; phone: string }>(
    'SELECT id, ssn, email, phone FROM patients WHERE ssn IS NOT NULL AND email IS NOT NULL AND phone IS NOT NULL ORDER BY id LIMIT 1',
  );
  const row = patient.rows[0]!;
  const etl = await demoToken('etl-pipeline');
  const agent = await demoToken('analytics-agent');
  const marker = `cap${randomBytes(8).toString('hex')}`;
  const heldMarker = `cap${randomBytes(8).toString('hex')}`;
  const masked = `SELECT id, ssn, email, phone, '${marker}' AS ${marker} FROM patients WHERE id = ${row.id}`;
  const held = `SELECT id, ssn, '${heldMarker}' AS ${heldMarker} FROM patients WHERE id = ${row.id}`;
  const secrets: Record<string, string> = {
    'the SSN': row.ssn,
    'the SSN digits': row.ssn.replace(/\D/g, ''),
    'the email': row.email,
    'the phone': row.phone,
    "etl-pipeline's token": etl.slice(-43),
    "analytics-agent's token": agent.slice(-43),
    'the masked statement': marker,
    'the held statement': heldMarker,
    // The upstream login's password (SCRAM never sends it; sealed in the control database).
    "the upstream login's password": readFileSync(join(gatewayEnv.GATEWAY_SECRETS_DIR ?? '', 'clinical_gateway_password'), 'utf8').trim(),
  };

  const cap = await capture(bin, [gatewayPort, ...Object.values(links), pgPort]);
  const ask = async (token: string, sql: string) => {
    const res = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      // A purpose of use, which the analytics agent's binding requires.
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-phigate-purpose': 'population-health' },
      body: JSON.stringify({ connection: 'clinical-pg', sql }),
    });
    return { status: res.status, text: await res.text() };
  };
  const maskedAnswer = await ask(etl, masked);
  const heldAnswer = await ask(agent, held);
  // Rows are released only once their audit events are durable on Kafka, and a 202 only once the
  // approval is opened: by these answers every link has carried this request's part.
  // The audit service stores the events after the answers; the registry is re-read meanwhile.
  // Those segments are on the wire; tcpdump writes them a moment later. Stop once every asserted
  // link shows up in the file (or after 10 s, and the assertion below says which stayed silent).
  // phigate's PostgreSQL connections are read on each pass: a pool may open one meanwhile.
  let pgClients = new Map<number, { link: string; ssl: boolean }>();
  await eventually(
    'the capture to hold traffic of every asserted link',
    async () => {
      for (const [p, c] of await pgConnections(admin, pgLinks, pgPort)) pgClients.set(p, c);
      const ports = new Set(cap.sofar().flatMap((x) => (x.payload.length ? [x.src, x.dst] : [])));
      const pgSeen = new Set([...pgClients].filter(([p]) => ports.has(p)).map(([, c]) => c.link));
      return Object.values(links).every((p) => ports.has(p)) && Object.keys(pgLinks).every((l) => pgSeen.has(l)) ? true : undefined;
    },
    10_000,
  ).catch(() => undefined);
  const { pcap, summary } = await cap.stop();
  pgClients = new Map([...pgClients, ...(await pgConnections(admin, pgLinks, pgPort))]);

  assert.equal(maskedAnswer.status, 200, maskedAnswer.text);
  assert.ok(!maskedAnswer.text.includes(row.ssn), 'the client gets the SSN masked');
  assert.equal(heldAnswer.status, 202, heldAnswer.text);
  assert.doesNotMatch(summary, /[1-9]\d* packets? dropped by kernel/, `the capture is complete: ${summary.trim()}`);

  // Each direction of each connection as one byte stream, so a value split across segments is found.
  const streams = new Map<string, { link: string; bytes: Buffer[] }>();
  const linkOf = (s: Segment): string | undefined => {
    for (const [name, port] of Object.entries(links)) if (s.src === port || s.dst === port) return name;
    // PostgreSQL also accepts other local clients (tools, tests): only phigate's own connections count.
    if (s.src === pgPort || s.dst === pgPort) return pgClients.get(s.src === pgPort ? s.dst : s.src)?.link;
    if (s.src === gatewayPort || s.dst === gatewayPort) return 'client → gateway (not asserted)';
    return undefined;
  };
  for (const s of segments(pcap)) {
    const link = linkOf(s);
    if (!link || s.payload.length === 0) continue;
    const key = `${s.src}>${s.dst}`;
    const stream = streams.get(key) ?? { link, bytes: [] };
    stream.bytes.push(s.payload);
    streams.set(key, stream);
  }
  const seen = new Map<string, { bytes: number; found: Set<string> }>();
  for (const { link, bytes } of streams.values()) {
    const text = Buffer.concat(bytes);
    const entry = seen.get(link) ?? { bytes: 0, found: new Set<string>() };
    entry.bytes += text.length;
    for (const [what, value] of Object.entries({ ...secrets, ...clearOnPlaintext[link] })) if (text.includes(value)) entry.found.add(what);
    seen.set(link, entry);
  }

  // The positive control: in clear on the client's own link, the search finds the statement and token.
  const control = seen.get('client → gateway (not asserted)');
  assert.ok(control?.found.has('the masked statement') && control.found.has("etl-pipeline's token"), 'the capture sees clear text where there is some');
  const leaks: string[] = [];
  const asserted: Array<[string, number, string]> = [
    ...Object.entries(links).map(([name, port]): [string, number, string] => [name, port, name]),
    ...Object.keys(pgLinks).map((name): [string, number, string] => [name, pgPort, 'PostgreSQL']),
  ];
  for (const [name, port, hint] of asserted) {
    const entry = seen.get(name);
    // Every asserted link carried traffic during the queries, so its absence of secrets means something.
    if (!entry?.bytes) leaks.push(`${name} (:${port}) carried nothing during the queries, so the capture proves nothing about it`);
    else if (entry.found.size) leaks.push(`${name} (:${port}): ${[...entry.found].join(', ')} in clear${hints[hint] ?? ''}`);
  }
  t.diagnostic(`bytes captured per asserted link: ${asserted.map(([name]) => `${name} ${seen.get(name)?.bytes ?? 0}`).join(', ')}`);
  // PostgreSQL's own view: every connection of phigate's on those links uses TLS.
  for (const [port, c] of pgClients)
    if (!c.ssl) leaks.push(`${c.link}: the connection from :${port} does not use TLS, says pg_stat_ssl${hints.PostgreSQL ?? ''}`);
  assert.deepEqual(leaks, [], `in clear on the internal links:\n${leaks.join('\n')}`);
});
