import { createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError } from '@phigate/errors';
import type { RedisClient } from '@phigate/redis';
import type { Envelope } from '@phigate/snowflake-wire';
import type { ClientEndpoint } from '../../domain/ports.js';
import { type Keyring, type Sealed, seal, unseal } from '../../domain/sealing.js';
import type { Identity } from '../../domain/types.js';
import type { ResultFormat } from './result-format.js';

// Snowflake-door state in Redis, so any gateway replica serves any request of a session:
// sessions (keyed by the SHA-256 of their opaque tokens; the tokens themselves are never stored),
// query records and result chunks (sealed: they hold masked rows), and the per-session
// requestId → queryId map that makes a re-sent query-request attach to the statement it started.
// A session's record and its two token indexes are separate keys that Redis Cluster places on
// different slots (a token names its session only through its hash), so they are written one by one,
// in an order where a reader never finds a token that leads to the wrong session: the record first,
// then its indexes; on renewal the new index before the old one goes; on logout the record first.
// A lookup checks the token against the record's current hash, so a stale index leads nowhere.

export interface SfSession {
  /** Numeric (Go reads it as int64). */
  id: number;
  identity: Identity;
  connection: string;
  /** The upstream role the identity's binding gives it on this connection. */
  role: string;
  database: string;
  schema: string;
  warehouse: string;
  tokenHash: string;
  masterHash: string;
  tokenExpires: number;
  masterExpires: number;
  /** Parameters the client set with ALTER SESSION (session-statements.ts), normalised; absent: all defaults. */
  settings?: Record<string, string>;
  /** The gateway replica holding the session's open transaction (transactions.ts); absent: none. */
  transactionOn?: string;
  /** The driver the login named (`CLIENT_APP_ID`) and the result format it chose (result-format.ts); absent: JSON. */
  client?: string;
  resultFormat?: ResultFormat;
  /** The address and port of the HTTP request being served: set per request by the door, never stored. */
  peer?: ClientEndpoint;
}

export type QueryStatus = 'running' | 'held' | 'done' | 'failed' | 'aborted';

export interface ChunkMeta {
  rowCount: number;
  uncompressedSize: number;
  compressedSize: number;
}

/** One statement of a session, as every replica sees it. */
export interface QueryRecord {
  queryId: string;
  sessionId: number;
  subject: string;
  issuer: string;
  asyncExec: boolean;
  status: QueryStatus;
  startTime: number;
  endTime: number;
  /** The result's `data` (inline rows; chunk URLs are minted per answer from `chunks`). */
  data?: Record<string, unknown>;
  chunks?: ChunkMeta[];
  /** SHA-256 of the secret the driver sends back in the chunk header. */
  chunkKeyHash?: string;
  error?: Envelope;
}

const hash = (token: string) => createHash('sha256').update(token).digest('base64url');

/** An opaque token: 256 random bits. */
export function newToken(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

export function sameHash(token: string, expectedHash: string): boolean {
  const a = Buffer.from(hash(token));
  const b = Buffer.from(expectedHash);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface SfStoreOptions {
  prefix: string;
  keyring: () => Keyring;
  resultTtlMs: number;
}

export class SfStore {
  private readonly p: string;
  private derivedFrom: Keyring | undefined;
  private derived: Keyring | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly o: SfStoreOptions,
  ) {
    this.p = `${o.prefix}sf:`;
  }

  // ---- sessions ---------------------------------------------------------------------------

  /** Creates a session; returns its tokens (only their hashes are stored). */
  async createSession(s: Omit<SfSession, 'id' | 'tokenHash' | 'masterHash'>): Promise<{ session: SfSession; token: string; masterToken: string }> {
    const token = newToken('ST-');
    const masterToken = newToken('MT-');
    const session: SfSession = { ...s, id: randomBytes(6).readUIntBE(0, 6), tokenHash: hash(token), masterHash: hash(masterToken) };
    const ttl = Math.max(1, session.masterExpires - Date.now());
    await this.run(() => this.redis.set(`${this.p}s:${session.id}`, JSON.stringify(session), 'PX', ttl));
    await this.run(() =>
      Promise.all([
        this.redis.set(`${this.p}st:${session.tokenHash}`, String(session.id), 'PX', ttl),
        this.redis.set(`${this.p}mt:${session.masterHash}`, String(session.id), 'PX', ttl),
      ]),
    );
    return { session, token, masterToken };
  }

  /** The session a session token names (expired or not; the caller checks `tokenExpires`). */
  async sessionByToken(token: string): Promise<SfSession | undefined> {
    return this.lookup('st', token, (s) => s.tokenHash);
  }

  async sessionByMaster(masterToken: string): Promise<SfSession | undefined> {
    return this.lookup('mt', masterToken, (s) => s.masterHash);
  }

  private async lookup(kind: 'st' | 'mt', token: string, current: (s: SfSession) => string): Promise<SfSession | undefined> {
    const id = await this.run(() => this.redis.get(`${this.p}${kind}:${hash(token)}`));
    if (!id) return undefined;
    const raw = await this.run(() => this.redis.get(`${this.p}s:${id}`));
    const s = raw ? (JSON.parse(raw) as SfSession) : undefined;
    // A renewed-away session token still maps to the session until it is deleted: only the current one counts.
    return s && sameHash(token, current(s)) ? s : undefined;
  }

  /** A new session token for the session (the old one stops working). */
  async renew(s: SfSession, validityMs: number): Promise<{ session: SfSession; token: string }> {
    const token = newToken('ST-');
    const next: SfSession = { ...s, tokenHash: hash(token), tokenExpires: Math.min(Date.now() + validityMs, s.masterExpires) };
    const ttl = Math.max(1, s.masterExpires - Date.now());
    await this.run(() => this.redis.set(`${this.p}st:${next.tokenHash}`, String(s.id), 'PX', ttl));
    await this.run(() => this.redis.set(`${this.p}s:${s.id}`, JSON.stringify(next), 'PX', ttl));
    await this.run(() => this.redis.del(`${this.p}st:${s.tokenHash}`));
    return { session: next, token };
  }

  /** Stores the session's ALTER SESSION parameters (its tokens and expiry unchanged). */
  putSettings(s: SfSession, settings: Record<string, string>): Promise<SfSession> {
    return this.patch(s, { settings });
  }

  /** Records which replica holds the session's open transaction (undefined: none). */
  putTransaction(s: SfSession, replica: string | undefined): Promise<SfSession> {
    return this.patch(s, { transactionOn: replica });
  }

  private async patch(s: SfSession, fields: Pick<SfSession, 'settings'> | Pick<SfSession, 'transactionOn'>): Promise<SfSession> {
    const raw = await this.run(() => this.redis.get(`${this.p}s:${s.id}`));
    if (!raw) throw new AppError('GATEWAY_SF_SESSION_INVALID');
    // Re-read so a concurrent renewal's token is kept.
    const next: SfSession = { ...(JSON.parse(raw) as SfSession), ...fields };
    if (next.transactionOn === undefined) delete next.transactionOn;
    await this.run(() => this.redis.set(`${this.p}s:${s.id}`, JSON.stringify(next), 'PX', Math.max(1, s.masterExpires - Date.now())));
    return next;
  }

  /** Whether the session still exists (not logged out, not past its master token's expiry). */
  async sessionAlive(id: number): Promise<boolean> {
    return (await this.run(() => this.redis.exists(`${this.p}s:${id}`))) === 1;
  }

  async endSession(s: SfSession): Promise<void> {
    await this.run(() => this.redis.del(`${this.p}s:${s.id}`));
    await this.run(() => Promise.all([this.redis.del(`${this.p}st:${s.tokenHash}`), this.redis.del(`${this.p}mt:${s.masterHash}`)]));
  }

  // ---- queries ----------------------------------------------------------------------------

  /**
   * Claims `requestId` for a new query of the session, or returns the query it already started
   * (drivers re-send a timed-out query-request with the same requestId).
   */
  async claimRequest(sessionId: number, requestId: string, queryId: string): Promise<{ fresh: boolean; queryId: string }> {
    const key = `${this.p}rq:${sessionId}:${hash(requestId)}`;
    const set = await this.run(() => this.redis.set(key, queryId, 'PX', this.o.resultTtlMs, 'NX'));
    if (set === 'OK') return { fresh: true, queryId };
    const existing = await this.run(() => this.redis.get(key));
    return existing ? { fresh: false, queryId: existing } : { fresh: true, queryId };
  }

  async queryByRequest(sessionId: number, requestId: string): Promise<string | undefined> {
    return (await this.run(() => this.redis.get(`${this.p}rq:${sessionId}:${hash(requestId)}`))) ?? undefined;
  }

  async putQuery(q: QueryRecord, ttlMs = this.o.resultTtlMs): Promise<void> {
    const sealed = seal(JSON.stringify(q), this.keys(), `sf-query:${q.queryId}`);
    await this.run(() => this.redis.set(`${this.p}q:${q.queryId}`, JSON.stringify(sealed), 'PX', Math.max(1, ttlMs)));
  }

  async getQuery(queryId: string): Promise<QueryRecord | undefined> {
    const raw = await this.run(() => this.redis.get(`${this.p}q:${queryId}`));
    if (!raw) return undefined;
    return JSON.parse(unseal(JSON.parse(raw) as Sealed, this.keys(), `sf-query:${queryId}`)) as QueryRecord;
  }

  /** Stores one result chunk (already gzip'd), sealed. */
  async putChunk(queryId: string, index: number, gz: Buffer): Promise<void> {
    const sealed = seal(gz.toString('base64'), this.keys(), `sf-chunk:${queryId}:${index}`);
    await this.run(() => this.redis.set(`${this.p}c:${queryId}:${index}`, JSON.stringify(sealed), 'PX', this.o.resultTtlMs));
  }

  async getChunk(queryId: string, index: number): Promise<Buffer | undefined> {
    const raw = await this.run(() => this.redis.get(`${this.p}c:${queryId}:${index}`));
    if (!raw) return undefined;
    return Buffer.from(unseal(JSON.parse(raw) as Sealed, this.keys(), `sf-chunk:${queryId}:${index}`), 'base64');
  }

  /** A key derived from the credential keyring for signing chunk URLs (stable across replicas). */
  signingKey(): Buffer {
    const k = this.keys();
    return k.keys.get(k.activeKeyId)!;
  }

  /** Keys derived (HKDF) from the credential keyring: the raw credential keys are never used here. */
  private keys(): Keyring {
    const base = this.o.keyring();
    if (base !== this.derivedFrom || !this.derived) {
      const map = new Map<string, Buffer>();
      for (const [id, k] of base.keys) map.set(id, Buffer.from(hkdfSync('sha256', k, Buffer.alloc(0), 'phigate snowflake door v1', 32)));
      this.derived = { activeKeyId: base.activeKeyId, keys: map };
      this.derivedFrom = base;
    }
    return this.derived;
  }

  private async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (cause) {
      throw new AppError('GATEWAY_SF_SESSION_STORE_UNAVAILABLE', { cause });
    }
  }
}
