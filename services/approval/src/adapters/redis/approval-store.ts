import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '@phigate/errors';
import { hashTag, type RedisClient } from '@phigate/redis';
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

// An approval is a hash {v: version, s: state JSON} at `<prefix>approval:{<id>}`, and the replay
// keys of its votes carry the same hash tag, so the CAS script stays on one Redis Cluster slot.
// Two indexes live elsewhere and are never written inside a script: `<prefix>request:{<requestId>}`
// (one approval per held request, claimed with SET NX after the approval is written) and the
// pending set by expiry (added after create, removed after a final vote, best effort; `listPending`
// reads each entry's hash, which is the truth). Votes are decided in JS by the pure `decide`,
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
if ARGV[6] ~= '' then redis.call('PUBLISH', ARGV[7], ARGV[6]) end
return 'ok'
`;

const MAX_ATTEMPTS = 32;

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Approvals in Redis (a single node, Sentinel or Redis Cluster). Every failure to reach Redis is an
 * error: callers fail closed.
 */
export function createRedisApprovalStore(redis: RedisClient, opts: RedisApprovalStoreOptions): ApprovalStore {
  const key = {
    approval: (id: string) => `${opts.prefix}approval:${hashTag(id)}`,
    request: (requestId: string) => `${opts.prefix}request:${hashTag(requestId)}`,
    replay: (id: string, k: string) => `${opts.prefix}approval:${hashTag(id)}:replay:${k}`,
    /** Pending approvals by expiry, for the approvers' API. */
    pending: `${opts.prefix}pending`,
  };
  const channel = decisionsChannel(opts.prefix);
  // defineCommand runs EVALSHA and falls back to EVAL when the script is not cached.
  redis.defineCommand('phigateApprovalCas', { numberOfKeys: 2, lua: CAS });
  const commands = redis as unknown as { phigateApprovalCas: ScriptFn };
  const keepUntil = (request: ApprovalRequest) => Date.parse(request.expiresAt) + opts.retentionMs;

  // Before the hash tag, an approval was `<prefix>approval:<id>`. One open across the upgrade is
  // renamed to its new key when first read. The old layout ran on a single node or Sentinel only;
  // under Cluster the rename fails (CROSSSLOT) and the approval is not found.
  const adoptLegacy = (id: string): Promise<boolean> =>
    redis.renamenx(`${opts.prefix}approval:${id}`, key.approval(id)).then(
      (n) => n === 1,
      () => false,
    );

  async function read(id: string): Promise<{ version: string; state: ApprovalState } | undefined> {
    let h = await unavailable(() => redis.hgetall(key.approval(id)));
    if (!h.v && (await adoptLegacy(id))) h = await unavailable(() => redis.hgetall(key.approval(id)));
    if (!h.v || !h.s) return undefined;
    return { version: h.v, state: JSON.parse(h.s) as ApprovalState };
  }

  async function cas(id: string, version: string, next: ApprovalState | undefined, replayKey: string | undefined, signal: DecisionSignal | undefined) {
    const reply = await unavailable(() =>
      commands.phigateApprovalCas(
        key.approval(id),
        key.replay(id, replayKey ?? ''),
        replayKey ? '1' : '0',
        version,
        next ? JSON.stringify(next) : '',
        next ? keepUntil(next.request) : 0,
        opts.replayTtlMs,
        signal ? JSON.stringify(signal) : '',
        channel,
      ),
    );
    // Out of the script (another slot under Cluster); a stale entry is skipped by listPending.
    if (reply === 'ok' && signal) await redis.zrem(key.pending, id).catch(() => undefined);
    return String(reply) as 'ok' | 'replay' | 'missing' | 'conflict';
  }

  return {
    async create(request) {
      const state = openApproval(request);
      const until = keepUntil(request);
      const approvalKey = key.approval(request.approvalId);
      // The approval first (no one knows its id yet), then the claim of the request: a create that
      // loses the claim to a concurrent or earlier one deletes its own approval and returns theirs.
      await unavailable(() =>
        redis
          .multi()
          .hset(approvalKey, { v: '1', s: JSON.stringify(state) })
          .pexpireat(approvalKey, until)
          .exec()
          .then(check),
      );
      const claimed = await unavailable(() => redis.set(key.request(request.requestId), request.approvalId, 'PXAT', until, 'NX'));
      let result: { state: ApprovalState; created: boolean } = { state, created: true };
      if (claimed !== 'OK') {
        await unavailable(() => redis.del(approvalKey));
        const existing = await unavailable(() => redis.get(key.request(request.requestId)));
        const found = existing ? await read(existing) : undefined;
        if (!found) throw new AppError('COMMON_INTERNAL', { message: 'an approval index entry points at no approval', details: { approvalId: existing } });
        result = { state: found.state, created: false };
      }
      // Idempotent, so a retried create repairs an index entry a failed one did not add.
      if (result.state.status === 'pending')
        await unavailable(() => redis.zadd(key.pending, Date.parse(result.state.request.expiresAt), result.state.request.approvalId));
      return result;
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

function check(res: [Error | null, unknown][] | null): void {
  if (!res) throw new Error('the Redis transaction was discarded');
  for (const [err] of res) if (err) throw err;
}

async function unavailable<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (cause) {
    // Interim code: APPROVAL_STORE_UNAVAILABLE is proposed for this (UNAVAILABLE, retriable).
    throw new AppError('APPROVAL_STORE_UNAVAILABLE', { cause });
  }
}
