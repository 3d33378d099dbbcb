/**
 * Tiny in-memory storage adapter for oidc-provider. Functionally like the bundled quick-start
 * MemoryAdapter (state is lost on restart, which is fine for a dev IdP whose tokens are
 * self-contained JWTs), but explicit so the provider does not print its development warning
 * and each IdP instance gets its own store.
 */
import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';

interface Entry {
  payload: AdapterPayload;
  expiresAt: number; // epoch ms, Infinity when no expiry
}

const MAX_ENTRIES = 10_000;

export function createMemoryAdapterFactory(): AdapterFactory {
  const store = new Map<string, Entry>();
  const index = new Map<string, string>(); // "uid:<uid>" / "userCode:<code>" -> model key
  const grants = new Map<string, Set<string>>(); // grantId -> model keys

  const live = (key: string): Entry | undefined => {
    const e = store.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return e;
  };

  const prune = (): void => {
    if (store.size < MAX_ENTRIES) return;
    const now = Date.now();
    for (const [k, e] of store) if (e.expiresAt <= now) store.delete(k);
    // Still full: drop oldest insertions (Map iterates in insertion order).
    for (const k of store.keys()) {
      if (store.size < MAX_ENTRIES) break;
      store.delete(k);
    }
  };

  return (model: string): Adapter => {
    const key = (id: string): string => `${model}:${id}`;
    return {
      async upsert(id, payload, expiresIn) {
        prune();
        const k = key(id);
        store.set(k, { payload, expiresAt: typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity });
        if (payload.uid) index.set(`uid:${payload.uid}`, k);
        if (payload.userCode) index.set(`userCode:${payload.userCode}`, k);
        if (payload.grantId) {
          const members = grants.get(payload.grantId) ?? new Set<string>();
          members.add(k);
          grants.set(payload.grantId, members);
        }
      },
      async find(id) {
        return live(key(id))?.payload;
      },
      async findByUid(uid) {
        const k = index.get(`uid:${uid}`);
        return k ? live(k)?.payload : undefined;
      },
      async findByUserCode(userCode) {
        const k = index.get(`userCode:${userCode}`);
        return k ? live(k)?.payload : undefined;
      },
      async consume(id) {
        const e = live(key(id));
        if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        store.delete(key(id));
      },
      async revokeByGrantId(grantId) {
        for (const k of grants.get(grantId) ?? []) store.delete(k);
        grants.delete(grantId);
      },
    };
  };
}
