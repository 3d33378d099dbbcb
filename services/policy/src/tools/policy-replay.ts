// `npm run policy:replay -- --policies DIR [--since ISO] [--until ISO] [--identity S] [--connection C]
// [--json] [--examples N] [--fail-on-changes N]`: what a candidate policy directory would have
// decided for the statements the audit store recorded, compared with what was decided. An entry
// point: the only file of the tool that reads process.env.
//   exit 0: replayed (whatever changed); 1: more than --fail-on-changes N outcomes changed;
//   2: cannot run (arguments, configuration, policy files, database)
import { parseArgs } from 'node:util';
import { fields, loadConfig, pgUrlProblems, z } from '@phigate/config';
import { redactSqlLiterals } from '@phigate/sql';
import pg from 'pg';
import { recordedStatements } from '../adapters/audit/recorded-statements.js';
import { loadPolicyDir } from '../adapters/files/policy-store.js';
import { exceedsChangeLimit, type ReplaySummary, ReplayTally, replay } from '../domain/replay.js';

const configSchema = z
  .object({
    /** The audit store, as `npm run audit:verify` reads it; replay only reads (a read-only transaction). */
    AUDIT_DATABASE_URL: z.string().min(1),
    AUDIT_DATABASE_PLAINTEXT: fields.bool(false),
  })
  .superRefine((c, ctx) => {
    for (const message of pgUrlProblems('AUDIT_DATABASE_URL', c.AUDIT_DATABASE_URL, c.AUDIT_DATABASE_PLAINTEXT, 'AUDIT_DATABASE_PLAINTEXT'))
      ctx.addIssue({ code: 'custom', message });
  });

const USAGE =
  'usage: policy:replay -- --policies DIR [--since ISO] [--until ISO] [--identity SUBJECT] [--connection NAME] [--json] [--examples N] [--fail-on-changes N]';

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

function date(name: string, v: string | undefined): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) fail(`--${name} ${v}: not a date (use ISO 8601, e.g. 2026-03-02T09:30:00Z)`);
  return d;
}

function count(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) fail(`--${name} ${v}: not a non-negative integer`);
  return Number(v);
}

const table = (title: string, m: Record<string, number>): string[] => {
  const rows = Object.entries(m).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (!rows.length) return [];
  const w = Math.max(title.length, ...rows.map(([k]) => k.length));
  return [`${title.padEnd(w)}  count`, ...rows.map(([k, n]) => `${k.padEnd(w)}  ${n}`), ''];
};

function human(s: ReplaySummary, run: { seconds: number; perSecond: number; peakRssMiB: number }): string {
  const lines = [
    `candidate revision ${s.candidateRevision}: ${s.statements} recorded statements replayed in ${run.seconds} s (${run.perSecond}/s, peak RSS ${run.peakRssMiB} MiB), ${s.changed} outcomes changed`,
    '',
    ...table('transition', s.transitions),
    ...table('rule (candidate)', s.rules),
    ...table('column strategy change', s.columns),
    ...table('recorded revision', s.recordedRevisions),
    ...table('changed, by recorded revision', s.changedByRecordedRevision),
    ...table('skipped', s.skipped),
  ];
  if (s.examples.length) lines.push('examples (literals redacted):');
  for (const x of s.examples) {
    const c = x.change;
    const what = [
      `${c.from}→${c.to}`,
      ...c.masking.map((m) => `${m.column} ${m.from}→${m.to}`),
      ...(c.rowLimit ? [`row limit ${c.rowLimit.from}→${c.rowLimit.to}`] : []),
    ].join('; ');
    lines.push(`  [${c.transition}] ${x.time} ${x.subject}@${x.connection} request ${x.requestId}`);
    lines.push(`    ${x.statement}`);
    lines.push(`    ${what} (rules ${c.recordedRules.join(',') || '-'} → ${c.candidateRules.join(',') || '-'})`);
  }
  return lines.join('\n');
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        policies: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        identity: { type: 'string' },
        connection: { type: 'string' },
        json: { type: 'boolean', default: false },
        examples: { type: 'string' },
        'fail-on-changes': { type: 'string' },
      },
    });
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
})();
if (!values.policies) fail(USAGE);
const filter = {
  since: date('since', values.since),
  until: date('until', values.until),
  ...(values.identity ? { identity: values.identity } : {}),
  ...(values.connection ? { connection: values.connection } : {}),
};
const examples = count('examples', values.examples) ?? 3;
const limit = count('fail-on-changes', values['fail-on-changes']);

let code = 2;
try {
  const config = loadConfig(configSchema, process.env);
  const policy = loadPolicyDir(values.policies);
  // Belt and braces: every transaction of this pool is read-only, whatever the role may do.
  const pool = new pg.Pool({
    connectionString: config.AUDIT_DATABASE_URL,
    max: 1,
    connectionTimeoutMillis: 5000,
    options: '-c default_transaction_read_only=on',
  });
  try {
    const started = performance.now();
    const tally = new ReplayTally(
      policy.revision,
      (sql, dialect) => (dialect === 'postgresql' || dialect === 'snowflake' ? redactSqlLiterals(sql) : '?'),
      examples,
    );
    const summary = await replay(policy.doc, policy.revision, recordedStatements(pool, filter), tally);
    const seconds = (performance.now() - started) / 1000;
    const failed = exceedsChangeLimit(summary, limit);
    // What the run cost: statements per second, and the process's peak resident set (flat memory is the claim).
    const run = {
      seconds: Math.round(seconds * 10) / 10,
      perSecond: Math.round(summary.statements / seconds),
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    };
    process.stdout.write(`${values.json ? JSON.stringify({ ...summary, ...run, failOnChanges: limit ?? null, failed }) : human(summary, run)}\n`);
    if (failed && !values.json) process.stdout.write(`FAIL: ${summary.changed} outcomes changed, more than --fail-on-changes ${limit}\n`);
    code = failed ? 1 : 0;
  } finally {
    await pool.end();
  }
} catch (err) {
  const e = err as { code?: string; message: string; details?: { problems?: string[] } };
  process.stderr.write(`${JSON.stringify({ level: 'fatal', code: e.code, msg: e.message, problems: e.details?.problems })}\n`);
}
process.exit(code);
