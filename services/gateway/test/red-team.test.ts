// phigate-test: stack
// The red-team corpus (deploy/local/policies/tests/red-team-*.yaml; `npm run policy:test` checks
// the decisions alone) through the real doors on the running stack: every statement as the ETL
// pipeline (ssn masked) and as patient-matching (ssn in clear), through the HTTP API and the door
// its connection's users reach it by (PostgreSQL door with node-postgres for clinical-pg, Snowflake
// door with snowflake-sdk for clinical-sf).
//
// For the masked identity: `refused` and `blocked` statements are denied with a rule id (a
// masked-column rule for `refused`); nothing that comes back (rows, column names, error text)
// holds a real SSN, read from the upstream database itself. For the clear identity nothing but
// `blocked` is denied, and SSNs do come back. Refusals over HTTP are checked in the audit trail:
// policy.decided names the masked column and the channel. Needs the local stack (`npm run stack:up`).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import { demoToken, eventually, freePort, kafkaEventsSince, need, REPO_ROOT, requireHttp, type SpawnedApp, spawnApp } from '@phigate/testkit';
import pg from 'pg';
import { parse } from 'yaml';
import { sfConnect } from './fixtures/snowflake/connect.js';

interface Case {
  sql: string;
  expect: 'masked' | 'refused' | 'blocked' | 'allowed';
  rule?: string;
  why?: string;
}
interface Corpus {
  redTeam: { connection: string; masked: { subject: string }; clear: { subject: string }; statements: Case[] };
}
/** What a client saw: rows, a policy denial (with its rule), or another error. `text` is everything visible. */
type Outcome =
  | { kind: 'rows'; text: string }
  /** `rules`: every rule that denied (the HTTP API lists them all; the doors name the first). */
  | { kind: 'denied'; rules: string[]; text: string; requestId?: string }
  | { kind: 'error'; code: string; text: string };

/**
 * Errors that refuse a statement before anything runs: as the database would (a syntax error, an
 * unknown relation; for Snowflake the warehouse compiles what the analysis could not read, without
 * running it, and the local warehouse rejects some valid Snowflake syntax it does not translate), or
 * as the door itself refuses a role change (003013).
 */
const INVALID = new Set(['GATEWAY_SQL_INVALID', '42601', '42P01', '1003', '001003', '2003', '002003', '3013', '003013']);
/** The rules that refuse a masked column's flow (deploy/local/policies/00-guardrails.yaml). */
const MASKED_RULE = /^block-(masked-|predicates-on-masked-columns)/;
const corpus = (file: string) => parse(readFileSync(join(REPO_ROOT, 'deploy/local/policies/tests', file), 'utf8')) as Corpus;
/**
 * A gateway of its own on the stack, with its own rate-limit budget: the corpus sends about 1,000
 * statements per identity in seconds, more than the stack gateway's per-minute budget leaves the
 * other tests (and more than one fixed window holds when another test spent part of it).
 */
let gw: SpawnedApp | undefined;
let httpPort = 0;
let pgPort = 0;
const gateway = () => `http://127.0.0.1:${httpPort}`;

/** Every real SSN (as stored, and as bare digits), read from the upstream database. */
const ssns = new Set<string>();
const tokens: Record<string, string> = {};
const started = Date.now() - 1000;

/** The real SSNs in `text` (each form a statement could print it in). */
function ssnsIn(text: string): string[] {
  const found = text.match(/\d{3}-\d{2}-\d{4}|\d{9}/g) ?? [];
  return found.filter((s) => ssns.has(s));
}

before(async () => {
  await requireHttp('gateway', `${need('GATEWAY_URL')}/readyz`);
  httpPort = await freePort();
  pgPort = await freePort();
  gw = await spawnApp('gateway', 'services/gateway/dist/src/main.js', httpPort, {
    GATEWAY_HTTP_PORT: String(httpPort),
    GATEWAY_PG_PORT: String(pgPort),
    GATEWAY_RATE_LIMIT_PER_MINUTE: '1000000',
    GATEWAY_RATE_LIMIT_KEY_PREFIX: `phigate:rl:red-team-test-${process.pid}:`,
    GATEWAY_REPLICA_ID: `red-team-test-${httpPort}`,
  });
  const admin = new pg.Client({ connectionString: need('PG_ADMIN_URL').replace(/\/postgres$/, '/clinical') });
  await admin.connect();
  try {
    for (const r of (await admin.query<{ ssn: string }>('SELECT ssn FROM patients WHERE ssn IS NOT NULL')).rows) {
      ssns.add(r.ssn);
      ssns.add(r.ssn.replace(/-/g, ''));
    }
  } finally {
    await admin.end();
  }
  assert.ok(ssns.size > 100, 'the demo world has patients with SSNs');
  for (const who of ['etl-pipeline', 'patient-matching']) tokens[who] = await demoToken(who);
});

after(async () => {
  await gw?.kill('SIGTERM');
});

async function viaHttp(who: string, connection: string, sql: string): Promise<Outcome> {
  const res = await fetch(`${gateway()}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[who]}` },
    body: JSON.stringify({ connection, sql }),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  const body = JSON.parse(text) as Record<string, any>;
  if (res.status === 200) return { kind: 'rows', text };
  if (body.code === 'GATEWAY_POLICY_DENIED')
    return { kind: 'denied', rules: (body.ruleIds as string[] | undefined) ?? [String(body.ruleId)], text, requestId: body.requestId };
  // The warehouse's own compilation error (a statement the analysis could not read, compiled without running): its code.
  if (body.code === 'GATEWAY_UPSTREAM_ERROR' && typeof body.sfCode === 'string') return { kind: 'error', code: body.sfCode, text };
  return { kind: 'error', code: String(body.code), text };
}

async function pgDoor(who: string): Promise<(sql: string) => Promise<Outcome>> {
  const connect = async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: pgPort, user: who, database: 'clinical-pg', password: tokens[who] });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  };
  let c = await connect();
  return async (sql: string) => {
    if (sql === '') {
      await c.end();
      return { kind: 'rows', text: '' };
    }
    try {
      const r = await c.query({ text: sql, rowMode: 'array' });
      const results = Array.isArray(r) ? r : [r];
      return { kind: 'rows', text: JSON.stringify(results.map((x) => [x.fields?.map((f: { name: string }) => f.name), x.rows])) };
    } catch (err) {
      const e = err as { code?: string; message?: string; detail?: string; hint?: string };
      const text = JSON.stringify({ code: e.code, message: e.message, detail: e.detail, hint: e.hint });
      // A FATAL error ends the session: the next statement gets a fresh one.
      if (!(c as unknown as { _connected?: boolean })._connected || (c as unknown as { _ending?: boolean })._ending) c = await connect();
      const rule = /(?:^|; )rule: ([\w-]+)/.exec(e.detail ?? '')?.[1];
      if (e.code === '42501' && rule) return { kind: 'denied', rules: [rule], text };
      return { kind: 'error', code: String(e.code), text };
    }
  };
}

async function sfDoor(who: string): Promise<(sql: string) => Promise<Outcome>> {
  const conn = await sfConnect({ gatewayUrl: gateway(), token: tokens[who]! });
  return (sql: string) =>
    new Promise<Outcome>((resolve) => {
      if (sql === '') {
        conn.destroy(() => resolve({ kind: 'rows', text: '' }));
        return;
      }
      conn.execute({
        sqlText: sql,
        complete: (err, stmt, rows) => {
          if (!err) {
            const names = (stmt.getColumns() ?? []).map((c) => c.getName());
            resolve({ kind: 'rows', text: JSON.stringify([names, rows ?? []]) });
            return;
          }
          const e = err as { code?: unknown; sqlState?: string; message?: string };
          const text = JSON.stringify({ code: e.code, sqlState: e.sqlState, message: e.message });
          const rule = /Denied by phigate policy rule '([\w-]+)'/.exec(e.message ?? '')?.[1];
          if (String(e.code) === '3001' || String(e.code) === '003001') {
            if (rule) {
              resolve({ kind: 'denied', rules: [rule], text });
              return;
            }
          }
          resolve({ kind: 'error', code: String(e.code), text });
        },
      });
    });
}

/** Judges one outcome against the case; returns the problems found (empty: as expected). */
function judge(c: Case, masked: boolean, o: Outcome): string[] {
  const problems: string[] = [];
  const leaked = ssnsIn(o.text);
  if (masked && leaked.length) problems.push(`returned ${leaked.length} real SSN(s)`);
  const deniedExpected = c.expect === 'blocked' || (masked && c.expect === 'refused');
  if (deniedExpected) {
    if (o.kind === 'error' && INVALID.has(o.code) && c.expect === 'blocked') return problems;
    if (o.kind !== 'denied') problems.push(`expected a policy denial, got ${o.kind}${o.kind === 'error' ? ` ${o.code}` : ''}`);
    else if (masked && c.expect === 'refused' && !o.rules.some((r) => (c.rule && o.rules.length > 1 ? r === c.rule : MASKED_RULE.test(r))))
      problems.push(`denied by ${o.rules.join(', ')}, expected ${c.rule ?? 'a masked-column rule'}`);
  } else if (o.kind === 'denied') problems.push(`denied by ${o.rules.join(', ')} (over-blocking)`);
  return problems;
}

interface Run {
  statements: number;
  failures: string[];
  /** Statements for which the clear identity got real SSNs back. */
  clearSsnStatements: number;
  /** HTTP refusals of the masked identity: request id → the case. */
  refusals: Map<string, Case>;
}

async function runCorpus(file: string, door: (who: string) => Promise<(sql: string) => Promise<Outcome>>, doorName: string): Promise<Run> {
  const { redTeam } = corpus(file);
  const run: Run = { statements: redTeam.statements.length, failures: [], clearSsnStatements: 0, refusals: new Map() };
  const masked = redTeam.masked.subject;
  const clear = redTeam.clear.subject;
  const doors = { [masked]: await door(masked), [clear]: await door(clear) };
  try {
    for (const [i, c] of redTeam.statements.entries()) {
      for (const who of [masked, clear]) {
        const isMasked = who === masked;
        const http = await viaHttp(who, redTeam.connection, c.sql);
        const direct = await doors[who]!(c.sql);
        for (const [name, o] of [
          ['HTTP', http],
          [doorName, direct],
        ] as const) {
          for (const p of judge(c, isMasked, o))
            run.failures.push(`${file} #${i + 1} (${c.expect}) as ${who} via ${name}: ${p}\n    ${c.sql}\n    ${o.text.slice(0, 300)}`);
        }
        if (!isMasked && ssnsIn(http.text).length) run.clearSsnStatements++;
        if (isMasked && http.kind === 'denied' && c.expect === 'refused' && http.requestId) run.refusals.set(http.requestId, c);
      }
    }
  } finally {
    for (const d of Object.values(doors)) await d('');
  }
  return run;
}

/** policy.decided of each HTTP refusal names the masked column and the channel it would have reached. */
async function assertAudited(refusals: Map<string, Case>): Promise<void> {
  assert.ok(refusals.size >= 50, `the corpus refused enough statements over HTTP (${refusals.size})`);
  const decided = await eventually(
    'policy.decided of every refusal on Kafka',
    async () => {
      const evs = kafkaEventsSince(started).filter((e) => e.type === 'policy.decided' && refusals.has(e.requestId));
      return evs.length >= refusals.size ? evs : undefined;
    },
    60_000,
    500,
  );
  const unnamed = decided
    .filter((e) => {
      const reasons = (e.policyDecided?.reasons ?? []).join('\n');
      return !/\b\w+\.(\w+|\*)[^→;]* → (the number of rows|the order of rows|whether the statement fails|how long the statement takes|a value that is not masked with it|which rows are returned)/i.test(
        reasons,
      );
    })
    .map((e) => `${refusals.get(e.requestId)?.sql}: ${(e.policyDecided?.reasons ?? []).join(' | ')}`);
  assert.deepEqual(unnamed, [], 'every refusal names the masked column and the channel');
}

/** Runs a corpus through HTTP and `door`, then checks the audit trail of its refusals. */
async function redTeam(t: TestContext, file: string, door: (who: string) => Promise<(sql: string) => Promise<Outcome>>, doorName: string): Promise<void> {
  const run = await runCorpus(file, door, doorName);
  t.diagnostic(
    `${run.statements} statements × 2 identities × 2 doors; ${run.refusals.size} refusals audited; SSNs returned in clear for ${run.clearSsnStatements}`,
  );
  assert.deepEqual(run.failures, []);
  assert.ok(run.clearSsnStatements >= 30, `the clear identity gets SSNs back (${run.clearSsnStatements} statements)`);
  await assertAudited(run.refusals);
}

test('PostgreSQL corpus through the HTTP API and the PostgreSQL door (node-postgres)', { timeout: 900_000 }, (t) =>
  redTeam(t, 'red-team-pg.yaml', pgDoor, 'PostgreSQL door'),
);

test('Snowflake corpus through the HTTP API and the Snowflake door (snowflake-sdk)', { timeout: 900_000 }, (t) =>
  redTeam(t, 'red-team-sf.yaml', sfDoor, 'Snowflake door'),
);
