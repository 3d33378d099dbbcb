import { hkdfSync } from 'node:crypto';
import { AppError } from '@phigate/errors';
import { hashTag, type RedisClient } from '@phigate/redis';
import { Counter, Gauge, Histogram, type Registry } from '@phigate/telemetry';
import { BUDGET_METRICS, type BudgetMetric, type BudgetPort, type BudgetState, patientHmac } from '../../domain/budgets.js';
import type { Keyring } from '../../domain/sealing.js';

/** Sub-buckets of a window for rows and bytes: the window counted is between 59/60 of its length and all of it. */
export const BUDGET_BUCKETS = 60;

// One identity's budgets live under one hash tag, `<prefix>{<subject>}:<counter>:…`, so the one
// script a statement runs touches one Cluster slot whatever the number of budgets. Per counter:
//   …:n  a hash of sub-bucket → rows (`r<bucket>`) and bytes (`b<bucket>`); buckets older than the
//        window are deleted as they are met;
//   …:p  a sorted set of patient hashes scored by when each was last released: the distinct
//        patients of the window, exactly (members older than the window are removed first).
// ARGV: now (ms), budget count, rows, bytes, patient hash count, the hashes; then per budget: window
// (ms), buckets, row / byte / patient limits (-1: none), refusing (1: deny, require_approval) or alert (0). KEYS: per budget, its
// hash and its sorted set. Nothing is written unless no deny budget would be exceeded: all or nothing.
// Returns [ok, then per budget: rows, bytes, patients used before, new patients, exceeded flags (r,b,p)].
const CONSUME = `
local now = tonumber(ARGV[1])
local nb = tonumber(ARGV[2])
local rows = tonumber(ARGV[3])
local bytes = tonumber(ARGV[4])
local np = tonumber(ARGV[5])
local base = 5 + np
local ok = 1
local out = {}
local plan = {}
for b = 0, nb - 1 do
  local o = base + b * 6
  local win = tonumber(ARGV[o + 1])
  local nbk = tonumber(ARGV[o + 2])
  local lr = tonumber(ARGV[o + 3])
  local lb = tonumber(ARGV[o + 4])
  local lp = tonumber(ARGV[o + 5])
  local deny = ARGV[o + 6] == '1'
  local ck = KEYS[b * 2 + 1]
  local pk = KEYS[b * 2 + 2]
  local size = math.floor(win / nbk)
  local cur = math.floor(now / size)
  local ur, ub = 0, 0
  local flat = redis.call('HGETALL', ck)
  local stale = {}
  for i = 1, #flat, 2 do
    local bk = tonumber(string.sub(flat[i], 2))
    if bk <= cur - nbk then
      stale[#stale + 1] = flat[i]
    elseif string.sub(flat[i], 1, 1) == 'r' then
      ur = ur + tonumber(flat[i + 1])
    else
      ub = ub + tonumber(flat[i + 1])
    end
  end
  if #stale > 0 then redis.call('HDEL', ck, unpack(stale)) end
  local up, newp = 0, 0
  if lp >= 0 then
    redis.call('ZREMRANGEBYSCORE', pk, '-inf', now - win)
    up = redis.call('ZCARD', pk)
    -- In chunks: Lua's unpack has a limit of a few thousand values.
    for i = 1, np, 1000 do
      local seen = redis.call('ZMSCORE', pk, unpack(ARGV, 5 + i, 5 + math.min(np, i + 999)))
      for k = 1, #seen do
        if not seen[k] then newp = newp + 1 end
      end
    end
  end
  local xr = (lr >= 0 and rows > 0 and ur + rows > lr) and 1 or 0
  local xb = (lb >= 0 and bytes > 0 and ub + bytes > lb) and 1 or 0
  local xp = (lp >= 0 and newp > 0 and up + newp > lp) and 1 or 0
  if deny and (xr + xb + xp) > 0 then ok = 0 end
  out[#out + 1] = ur
  out[#out + 1] = ub
  out[#out + 1] = up
  out[#out + 1] = newp
  out[#out + 1] = xr
  out[#out + 1] = xb
  out[#out + 1] = xp
  plan[#plan + 1] = {ck, pk, cur, win, size, lp}
end
if ok == 1 then
  for _, p in ipairs(plan) do
    if rows > 0 then redis.call('HINCRBY', p[1], 'r' .. p[3], rows) end
    if bytes > 0 then redis.call('HINCRBY', p[1], 'b' .. p[3], bytes) end
    redis.call('PEXPIRE', p[1], p[4] + p[5])
    if p[6] >= 0 and np > 0 then
      for i = 1, np, 500 do
        local args = {}
        for k = i, math.min(np, i + 499) do
          args[#args + 1] = now
          args[#args + 1] = ARGV[5 + k]
        end
        redis.call('ZADD', p[2], unpack(args))
      end
      redis.call('PEXPIRE', p[2], p[4])
    end
  end
end
table.insert(out, 1, ok)
return out
`;

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

export interface RedisBudgetOptions {
  prefix: string;
  /** The gateway's credential keyring: patient keys are hashed under a key derived from its active key (HKDF). */
  keyring: () => Keyring;
  now?: () => number;
}

/** The budget store of every gateway replica: one round trip, one atomic script per statement. */
export function createRedisBudgets(redis: RedisClient, opts: RedisBudgetOptions): BudgetPort {
  redis.defineCommand('phigateBudgetConsume', { lua: CONSUME });
  const consume = (redis as unknown as { phigateBudgetConsume: ScriptFn }).phigateBudgetConsume.bind(redis);
  const now = opts.now ?? Date.now;
  let derivedFrom: Keyring | undefined;
  let hmacKey = Buffer.alloc(0);
  return {
    patientHash(connection, value) {
      const base = opts.keyring();
      if (base !== derivedFrom) {
        const k = base.keys.get(base.activeKeyId);
        if (!k) throw new AppError('GATEWAY_BUDGET_UNAVAILABLE', { message: 'no key to hash patient keys with' });
        hmacKey = Buffer.from(hkdfSync('sha256', k, Buffer.alloc(0), 'phigate budget patients v1', 32));
        derivedFrom = base;
      }
      return patientHmac(hmacKey, connection, value);
    },
    async consume(subject, scopes, use) {
      const tag = hashTag(encodeURIComponent(subject));
      const keys: string[] = [];
      const args: (string | number)[] = [now(), scopes.length, use.rows, use.bytes, use.patients.length, ...use.patients];
      for (const { budget, counter } of scopes) {
        keys.push(`${opts.prefix}${tag}:${counter}:n`, `${opts.prefix}${tag}:${counter}:p`);
        const l = budget.limits;
        args.push(budget.windowSec * 1000, BUDGET_BUCKETS, l.rows ?? -1, l.bytes ?? -1, l.patients ?? -1, budget.onExceed === 'alert' ? 0 : 1);
      }
      let reply: number[];
      try {
        reply = (await consume(keys.length, ...keys, ...args)) as number[];
        if (!Array.isArray(reply) || reply.length !== 1 + scopes.length * 7) throw new Error('unexpected reply');
      } catch (cause) {
        throw new AppError('GATEWAY_BUDGET_UNAVAILABLE', { cause });
      }
      const allowed = reply[0] === 1;
      const states: BudgetState[] = scopes.map(({ budget, counter }, i) => {
        const [ur, ub, up, newp, xr, xb, xp] = reply.slice(1 + i * 7, 8 + i * 7) as number[];
        const before = { rows: ur as number, bytes: ub as number, patients: up as number };
        const after = { rows: before.rows + use.rows, bytes: before.bytes + use.bytes, patients: before.patients + (newp as number) };
        const flags: Record<BudgetMetric, number> = { rows: xr as number, bytes: xb as number, patients: xp as number };
        const exceeded = BUDGET_METRICS.filter((m) => flags[m] === 1);
        const consumed = allowed;
        const thresholds = BUDGET_METRICS.filter((m) => {
          const limit = budget.limits[m];
          if (limit === undefined || !consumed || flags[m] === 1) return false;
          const mark = limit * budget.alertAt;
          return before[m] < mark && after[m] >= mark;
        });
        return { budget, counter, before, after, exceeded, thresholds };
      });
      return { allowed, states };
    },
  };
}

/**
 * Per-identity budget metrics around a budget store: each check's outcome (`allowed`, `refused`,
 * `alerted`: served past an alert budget; `unavailable`), its latency, each signal, and the use
 * each budget reached as of this replica's latest check. Labels are identities and budget ids:
 * bounded by the bindings file (machine identities), never by what a client states.
 */
export function withBudgetMetrics(port: BudgetPort, registry: Registry): BudgetPort {
  const checks = new Counter({
    name: 'phigate_gateway_budget_checks_total',
    help: 'PHI budget checks by identity and outcome (allowed, refused, alerted, unavailable)',
    labelNames: ['identity', 'outcome'] as const,
    registers: [registry],
  });
  const signals = new Counter({
    name: 'phigate_gateway_budget_signals_total',
    help: 'PHI budget signals (budget.threshold_reached, budget.exceeded) by identity and budget',
    labelNames: ['identity', 'budget', 'signal'] as const,
    registers: [registry],
  });
  const used = new Gauge({
    name: 'phigate_gateway_budget_used',
    help: "A PHI budget's use in its window as of this replica's latest check (of the counter that check used), by identity, budget and metric",
    // The budget, not its counter: a counter kept per purpose would make a series per purpose a client states.
    labelNames: ['identity', 'budget', 'metric'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'phigate_gateway_budget_check_seconds',
    help: 'PHI budget check latency (one Redis script)',
    buckets: [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
    registers: [registry],
  });
  return {
    patientHash: (connection, value) => port.patientHash(connection, value),
    async consume(subject, scopes, use) {
      const end = latency.startTimer();
      try {
        const check = await port.consume(subject, scopes, use);
        const alerted = check.allowed && check.states.some((s) => s.exceeded.length > 0);
        checks.inc({ identity: subject, outcome: check.allowed ? (alerted ? 'alerted' : 'allowed') : 'refused' });
        for (const s of check.states) {
          const seen = check.allowed ? s.after : s.before;
          for (const m of BUDGET_METRICS) if (s.budget.limits[m] !== undefined) used.set({ identity: subject, budget: s.budget.id, metric: m }, seen[m]);
          if (s.thresholds.length) signals.inc({ identity: subject, budget: s.budget.id, signal: 'budget.threshold_reached' });
          if (s.exceeded.length) signals.inc({ identity: subject, budget: s.budget.id, signal: 'budget.exceeded' });
        }
        return check;
      } catch (err) {
        checks.inc({ identity: subject, outcome: 'unavailable' });
        throw err;
      } finally {
        end();
      }
    },
  };
}
