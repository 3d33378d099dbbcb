import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '@phigate/errors';
import type { Redis } from 'ioredis';
import { type ApprovalRequest, type ApprovalState, decide, openApproval } from '../../domain/approvals.js';
import type { ApprovalStore, VoteResult } from '../../domain/ports.js';

export interface RedisApprovalStoreOptions {
  /** Prefix of every key and of the decisions channel, e.g. `phigate:approval:`. */
  prefix: string;
  /** How long a decided or expired approval stays readable after its expiry. */
  retentionMs: number;
  /** How long a replay key is remembered; at least the signature window, both ways. */
  replayTtlMs: number;
}

/** The channel on which every final decision is published, for gateway replicas waiting to resume. */
export function decisionsChannel(prefix: string): string {
  return `${prefix}decisions`;
}

/** What is published on {@link decisionsChannel} when an approval reaches a final status. */
export interface DecisionSignal {
  approvalId: string;
  requestId: string;
  status: ApprovalState['status'];
}

// An approval is a hash {v: version, s: state JSON}. Votes are decided in JS by the pure `decide`,
// then written by a compare-and-set on the version, so the rules live in one place and the write
// is atomic without WATCH (which would need a connection per request). On a conflict the vote is
// decided again on the newer state.
const CAS = `
local withReplay = ARGV[1] == '1'
if withReplay and redis.call('EXISTS', KEYS[2]) == 1 then return 'replay' end
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return 'missing' end
if v ~= ARGV[2] then return 'conflict' end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'v', tostring(tonumber(v) + 1), 's', ARGV[3])
  redis.call('PEXPIREAT', KEYS[1], ARGV[4])
end
if withReplay then redis.call('SET', KEYS[2], '1', 'PX', ARGV[5]) end
if ARGV[6] ~= '' then
  redis.call('ZREM', KEYS[3], ARGV[8])
  redis.call('PUBLISH', ARGV[7], ARGV[6])
end
return 'ok'
`;

// One approval per held request: a retried create finds the first one.
const CREATE = `
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], 'v', '1', 's', ARGV[2])
redis.call('PEXPIREAT', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return ''
`;

const MAX_ATTEMPTS = 32;

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Approvals in Redis (a single node or Sentinel: the scripts touch keys that Redis Cluster would
 * place in different slots). Every failure to reach Redis is an error: callers fail closed.
 */
export function createRedisApprovalStore(redis: Redis, opts: RedisApprovalStoreOptions): ApprovalStore {
  const key = {
    approval: (id: string) => `${opts.prefix}approval:${id}`,
    request: (requestId: string) => `${opts.prefix}request:${requestId}`,
    replay: (k: string) => `${opts.prefix}replay:${k}`,
    /** Pending approvals by expiry, for the approvers' API. */
    pending: `${opts.prefix}pending`,
  };
  const channel = decisionsChannel(opts.prefix);
  // defineCommand runs EVALSHA and falls back to EVAL when the script is not cached.
  redis.defineCommand('phigateApprovalCas', { numberOfKeys: 3, lua: CAS });
  redis.defineCommand('phigateApprovalCreate', { numberOfKeys: 3, lua: CREATE });
  const commands = redis as unknown as { phigateApprovalCas: ScriptFn; phigateApprovalCreate: ScriptFn };
  const keepUntil = (request: ApprovalRequest) => Date.parse(request.expiresAt) + opts.retentionMs;

  async function read(id: string): Promise<{ version: string; state: ApprovalState } | undefined> {
    const h = await unavailable(() => redis.hgetall(key.approval(id)));
    if (!h.v || !h.s) return undefined;
    return { version: h.v, state: JSON.parse(h.s) as ApprovalState };
  }

  async function cas(id: string, version: string, next: ApprovalState | undefined, replayKey: string | undefined, signal: DecisionSignal | undefined) {
    const reply = await unavailable(() =>
      commands.phigateApprovalCas(
        key.approval(id),
        key.replay(replayKey ?? ''),
        key.pending,
        replayKey ? '1' : '0',
        version,
        next ? JSON.stringify(next) : '',
        next ? keepUntil(next.request) : 0,
        opts.replayTtlMs,
        signal ? JSON.stringify(signal) : '',
        channel,
        id,
      ),
    );
    return String(reply) as 'ok' | 'replay' | 'missing' | 'conflict';
  }

  return {
    async create(request) {
      const state = openApproval(request);
      const existing = String(
        await unavailable(() =>
          commands.phigateApprovalCreate(
            key.request(request.requestId),
            key.approval(request.approvalId),
            key.pending,
            request.approvalId,
            JSON.stringify(state),
            keepUntil(request),
            Date.parse(request.expiresAt),
          ),
        ),
      );
      if (existing === '') return { state, created: true };
      const found = await read(existing);
      if (!found) throw new AppError('COMMON_INTERNAL', { message: 'an approval index entry points at no approval', details: { approvalId: existing } });
      return { state: found.state, created: false };
    },

    async get(id) {
      return (await read(id))?.state;
    },

    async listPending(now, limit) {
      // Expired entries leave the index as they are met; their hashes expire on their own.
      await unavailable(() => redis.zremrangebyscore(key.pending, '-inf', `(${now.getTime()}`));
      const ids = await unavailable(() => redis.zrangebyscore(key.pending, now.getTime(), '+inf', 'LIMIT', 0, limit));
      const out: ApprovalState[] = [];
      for (const id of ids) {
        const found = await read(id);
        if (found?.state.status === 'pending') out.push(found.state);
      }
      return out;
    },

    async vote(id, vote, now, replayKey): Promise<VoteResult> {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const current = await read(id);
        if (!current) return { kind: 'not_found' };
        const result = decide(current.state, vote, now);
        const final = result.changed && result.state.status !== 'pending';
        const signal = final ? { approvalId: id, requestId: result.state.request.requestId, status: result.state.status } : undefined;
        const reply = await cas(id, current.version, result.changed ? result.state : undefined, replayKey, signal);
        if (reply === 'ok') return { kind: 'applied', ...result };
        if (reply === 'replay') return { kind: 'replay' };
        if (reply === 'missing') return { kind: 'not_found' };
        await sleep(Math.random() * 2 * (attempt + 1));
      }
      throw new AppError('APPROVAL_STORE_UNAVAILABLE', { message: 'the vote could not be recorded under contention; retry' });
    },

    async markNotified(id, at) {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const current = await read(id);
        if (!current || current.state.notifiedAt) return;
        const reply = await cas(id, current.version, { ...current.state, notifiedAt: at.toISOString() }, undefined, undefined);
        if (reply !== 'conflict') return;
        await sleep(Math.random() * 2 * (attempt + 1));
      }
    },

    async ping() {
      return redis.ping().then(
        () => true,
        () => false,
      );
    },
  };
}

async function unavailable<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (cause) {
    // Interim code: APPROVAL_STORE_UNAVAILABLE is proposed for this (UNAVAILABLE, retriable).
    throw new AppError('APPROVAL_STORE_UNAVAILABLE', { cause });
  }
}
