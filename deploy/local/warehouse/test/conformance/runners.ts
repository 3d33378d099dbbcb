/**
 * Runs the Python and JDBC conformance clients against a target and collects their JSON results.
 * Used by this package's tests and, by relative path, by the gateway's Snowflake door tests:
 *
 *   const run = await runJdbcConformance({ kind: 'gateway', host, port, protocol: 'http',
 *     account: 'clinical-sf', auth: { kind: 'oauth', token: () => demoToken('etl-pipeline') },
 *     database: 'CLINICAL', schema: 'PUBLIC' });
 *   assertConformance(run, 'JDBC', { pass: 6, skip: 2 });
 *
 * The clients run as child processes, asynchronously: the endpoint under test may live in the
 * calling process and must keep answering.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@phigate/testkit';
import { DRIVER_ENV } from './driver-env.js';
import { describeTarget, type Target } from './target.js';

/** One line of a client's output. */
export interface CaseResult {
  case: string;
  status: 'pass' | 'fail' | 'skip';
  detail?: string;
  trace?: string;
}

export interface ConformanceRun {
  results: CaseResult[];
  summary: { pass: number; fail: number; skip: number } | undefined;
  exitCode: number | null;
  /** The client's stderr (tail); the clients never print the token or password. */
  stderr: string;
}

const BIN = join(REPO_ROOT, 'deploy/local/bin');
const CLIENT_TIMEOUT_MS = 240_000;

/** snowflake-connector-python, in the venv made by `deploy/local/bin/pydeps`. */
export async function runPythonConformance(target: Target): Promise<ConformanceRun> {
  const python = execFileSync('bash', [join(BIN, 'pydeps'), '--print'], { encoding: 'utf8' }).trim();
  assert.ok(existsSync(python), `the Python conformance venv is missing (${python}): run deploy/local/bin/pydeps (needs python3 and python3-venv)`);
  return runClient(target, python, [join(REPO_ROOT, 'deploy/local/warehouse/conformance/python/conformance.py')]);
}

/** net.snowflake:snowflake-jdbc, with the jar and classes made by `deploy/local/bin/jdeps`. */
export async function runJdbcConformance(target: Target): Promise<ConformanceRun> {
  let classpath: string;
  try {
    // --check compiles Conformance.java when it changed and never downloads.
    execFileSync('bash', [join(BIN, 'jdeps'), '--check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    classpath = execFileSync('bash', [join(BIN, 'jdeps'), '--print'], { encoding: 'utf8' }).trim();
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? (err as Error).message).trim();
    assert.fail(`the JDBC conformance program is not ready: ${stderr || 'run deploy/local/bin/jdeps (needs Java 17 and Maven)'}`);
  }
  // One small heap and the serial collector: the program is short-lived and CI has two cores.
  return runClient(target, 'java', ['-XX:+UseSerialGC', '-Xmx512m', '-cp', classpath, 'Conformance']);
}

async function runClient(target: Target, command: string, args: string[]): Promise<ConformanceRun> {
  const dir = mkdtempSync(join(tmpdir(), 'conformance-'));
  try {
    const file = join(dir, 'target.json');
    // The target holds the token: a private file, removed afterwards, never on a command line.
    writeFileSync(file, JSON.stringify(await describeTarget(target)), { mode: 0o600 });
    let child: ReturnType<typeof execFile> | undefined;
    const client = new Promise<{ stdout: string; stderr: string; exitCode: number | null }>((resolve) => {
      child = execFile(
        command,
        [...args, file],
        { encoding: 'utf8', timeout: CLIENT_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, ...DRIVER_ENV } },
        (err, stdout, stderr) => {
          const code = err ? (err as { code?: unknown }).code : 0;
          if (typeof code === 'string') assert.fail(`cannot run ${command} (${code}): install it (Java 17 for JDBC, python3 for Python)`);
          resolve({ stdout, stderr, exitCode: typeof code === 'number' ? code : null });
        },
      );
    });
    // The held case: the client waits on its statement while the caller approves it. If that
    // fails, the client would wait out the approval's expiry: stop it instead.
    const approval = target.gateway?.held?.approve().then(
      () => undefined,
      (err: unknown) => {
        child?.kill();
        return `approving the held statement failed: ${(err as Error).message}`;
      },
    );
    const r = await client;
    const approvalError = await approval;
    const lines = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as CaseResult | { summary: ConformanceRun['summary'] });
    return {
      results: lines.filter((l): l is CaseResult => 'case' in l),
      summary: lines.find((l): l is { summary: ConformanceRun['summary'] } => 'summary' in l)?.summary,
      exitCode: r.exitCode,
      stderr: `${approvalError ? `${approvalError}\n` : ''}${r.stderr.slice(-3000)}`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Fails with every failed case's detail unless the run passed `pass` cases and skipped `skip`. */
export function assertConformance(run: ConformanceRun, client: string, expected: { pass: number; skip: number }): void {
  const failed = run.results.filter((x) => x.status === 'fail');
  assert.deepEqual(failed, [], `${client} cases failed:\n${JSON.stringify(failed, null, 2)}\n${run.stderr}`);
  assert.deepEqual(run.summary, { ...expected, fail: 0 }, `${client} summary\n${run.stderr}`);
  assert.equal(run.exitCode, 0, `${client} exit code\n${run.stderr}`);
}
