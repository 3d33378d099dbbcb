import { hkdfSync } from 'node:crypto';
import { AppError } from '@phigate/errors';
import { hashTag, type RedisClient } from '@phigate/redis';
import type { Continuation, HeldOutcome, HeldState, HeldStatus, HeldStorePort } from '../../domain/held-queries.js';
import { type Keyring, type Sealed, seal, unseal } from '../../domain/sealing.js';

export interface RedisHeldStoreOptions {
  /** Prefix of every key and of the outcomes channel, e.g. `phigate:gw:`. */
  prefix: string;
  /** The credential keyring; continuations are sealed under keys derived from it (HKDF). */
  keyring: () => Keyring;
}

/** The channel on which a finished held request's id is published, to wake waiting clients. */
export function outcomesChannel(prefix: string): string {
  return `${prefix}held-outcomes`;
}

// A held request is a hash, `<prefix>held:{<requestId>}`: st (status), c (sealed continuation),
// o (sealed outcome), aid (approval id), exp (expiry, ms), by/at (claimer, claim time). Each script
// and transaction touches that one key, so under Redis Cluster it stays on one slot (the hash tag).
// Open ones (pending or running) are also in one sorted set by expiry, `<prefix>held-open`, so any
// replica can find them again. That index lives on its own slot and is never written in the same
// script: `put` adds after the hash is written (a failure fails the hold), `finish` removes after
// the script (best effort), and `open` drops entries whose hash is finished or gone. The index is
// therefore a superset of the open requests, and the hash is the truth.
const CLAIM = `
if redis.call('HGET', KEYS[1], 'st') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'st', 'running', 'by', ARGV[1], 'at', ARGV[2])
return 1
`;

const FINISH = `
local st = redis.call('HGET', KEYS[1], 'st')
if st ~= 'pending' and st ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'st', ARGV[1], 'o', ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[3])
return 1
`;

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Continuations in Redis (a single node, Sentinel or Redis Cluster). They hold the statement and its parameters,
 * and outcomes hold result rows, so both are sealed (AES-256-GCM, the request id as associated
 * data) under a key derived from the gateway's credential keyring: Redis never holds them in clear.
 * Every Redis failure is an error: callers fail closed.
 */
export function createRedisHeldStore(redis: RedisClient, opts: RedisHeldStoreOptions): HeldStorePort {
  const key = (requestId: string) => `${opts.prefix}held:${hashTag(requestId)}`;
  const openSet = `${opts.prefix}held-open`;
  const channel = outcomesChannel(opts.prefix);
  redis.defineCommand('phigateHeldClaim', { numberOfKeys: 1, lua: CLAIM });
  redis.defineCommand('phigateHeldFinish', { numberOfKeys: 1, lua: FINISH });
  const commands = redis as unknown as { phigateHeldClaim: ScriptFn; phigateHeldFinish: ScriptFn };

  let derivedFrom: Keyring | undefined;
  let derived: Keyring | undefined;
  const keys = (): Keyring => {
    const base = opts.keyring();
    if (base !== derivedFrom) {
      const map = new Map<string, Buffer>();
      for (const [id, k] of base.keys) map.set(id, Buffer.from(hkdfSync('sha256', k, Buffer.alloc(0), 'phigate held requests v1', 32)));
      derived = { activeKeyId: base.activeKeyId, keys: map };
      derivedFrom = base;
    }
    return derived as Keyring;
  };
  // Before the hash tag, the key was `<prefix>held:<requestId>`. A request held across the upgrade
  // is renamed to its new key when the reconciler meets it in the index. The old layout ran on a
  // single node or Sentinel only, where RENAMENX across slots is not a question; under Cluster it
  // fails (CROSSSLOT), and the entry is dropped as gone.
  const adoptLegacy = (requestId: string): Promise<boolean> =>
    redis.renamenx(`${opts.prefix}held:${requestId}`, key(requestId)).then(
      (n) => n === 1,
      () => false,
    );
  const sealJson = (value: unknown, context: string) => JSON.stringify(seal(JSON.stringify(value), keys(), context));
  const openJson = <T>(text: string, context: string): T => JSON.parse(unseal(JSON.parse(text) as Sealed, keys(), context)) as T;

  return {
    async put(c: Continuation, retainUntil: number) {
      const k = key(c.ctx.requestId);
      await unavailable(() =>
        redis
          .multi()
          .hset(k, { st: 'pending', c: sealJson(c, `${c.ctx.requestId}:c`), aid: c.approvalId, exp: String(Date.parse(c.expiresAt)) })
          .pexpireat(k, retainUntil)
          .exec()
          .then(check),
      );
      await unavailable(() => redis.zadd(openSet, Date.parse(c.expiresAt), c.ctx.requestId));
    },

    async setApproval(requestId, approvalId) {
      const k = key(requestId);
      const state = await this.get(requestId);
      if (!state) throw new AppError('GATEWAY_APPROVAL_UNAVAILABLE', { message: 'the held request vanished from the store' });
      const c = { ...state.continuation, approvalId };
      await unavailable(() =>
        redis
          .multi()
          .hset(k, { c: sealJson(c, `${requestId}:c`), aid: approvalId })
          .exec()
          .then(check),
      );
    },

    async get(requestId): Promise<HeldState | undefined> {
      const h = await unavailable(() => redis.hgetall(key(requestId)));
      if (!h.st || !h.c) return undefined;
      const state: HeldState = { status: h.st as HeldStatus, continuation: openJson<Continuation>(h.c, `${requestId}:c`) };
      if (h.o) state.outcome = openJson<HeldOutcome>(h.o, `${requestId}:o`);
      if (h.by) state.claimedBy = h.by;
      if (h.at) state.claimedAt = Number(h.at);
      return state;
    },

    async claim(requestId, replica, now) {
      return Number(await unavailable(() => commands.phigateHeldClaim(key(requestId), replica, now))) === 1;
    },

    async finish(requestId, outcome) {
      const status: HeldStatus = outcome.kind === 'result' ? 'completed' : 'failed';
      await unavailable(() => commands.phigateHeldFinish(key(requestId), status, sealJson(outcome, `${requestId}:o`), requestId, channel));
      // Out of the script (another slot under Cluster); if this fails, `open` drops the entry later.
      await redis.zrem(openSet, requestId).catch(() => undefined);
    },

    async open(runningBefore) {
      const ids = (await unavailable(() => redis.zrange(openSet, 0, 999))) as string[];
      const out: Awaited<ReturnType<HeldStorePort['open']>> = [];
      for (const id of ids) {
        let [st, aid, exp, at] = await unavailable(() => redis.hmget(key(id), 'st', 'aid', 'exp', 'at'));
        if (!st && (await adoptLegacy(id))) [st, aid, exp, at] = await unavailable(() => redis.hmget(key(id), 'st', 'aid', 'exp', 'at'));
        if (!st || (st !== 'pending' && st !== 'running')) {
          // Finished (its removal after the script failed), or retention ended: nothing left to resume.
          await unavailable(() => redis.zrem(openSet, id));
          continue;
        }
        if (st === 'pending' || (st === 'running' && Number(at) < runningBefore))
          out.push({ requestId: id, status: st as HeldStatus, approvalId: aid ?? '', expiresAt: Number(exp) });
      }
      return out;
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
    if (cause instanceof AppError) throw cause;
    throw new AppError('GATEWAY_APPROVAL_UNAVAILABLE', { cause });
  }
}
