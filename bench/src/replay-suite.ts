// Policy replay (issue 25): `npm run policy:replay` over every statement the audit store holds,
// against an unchanged copy of the stack's policy directory. Measures throughput (statements/s)
// and the tool's peak resident set: the claim is that memory stays flat however many it replays.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, stackEnv } from '@phigate/testkit';

export interface ReplayBench {
  statements: number;
  skipped: number;
  changed: number;
  seconds: number;
  perSecond: number;
  peakRssMiB: number;
}

export function replayBench(): ReplayBench {
  const live = join(REPO_ROOT, 'deploy/local/policies');
  const dir = mkdtempSync(join(tmpdir(), 'phigate-bench-replay-'));
  try {
    for (const f of readdirSync(live).filter((n) => /\.ya?ml$/.test(n))) copyFileSync(join(live, f), join(dir, f));
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'services/policy/dist/src/tools/policy-replay.js'), '--policies', dir, '--json'], {
      env: { ...process.env, ...stackEnv() },
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    });
    if (r.status !== 0) throw new Error(`policy:replay exited ${r.status}: ${r.stderr}`);
    const s = JSON.parse(r.stdout) as Omit<ReplayBench, 'skipped'> & { skipped: Record<string, number> };
    return {
      statements: s.statements,
      skipped: Object.values(s.skipped).reduce((a, b) => a + b, 0),
      changed: s.changed,
      seconds: s.seconds,
      perSecond: s.perSecond,
      peakRssMiB: s.peakRssMiB,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const printReplay = (b: ReplayBench) =>
  console.log(
    `\npolicy replay (every recorded statement, unchanged policy copy): ${b.statements} statements in ${b.seconds} s, ${b.perSecond}/s, peak RSS ${b.peakRssMiB} MiB (${b.skipped} records skipped, ${b.changed} outcomes differ from their recorded revision)`,
  );
