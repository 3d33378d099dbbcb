import { createHash } from 'node:crypto';
import { Lru } from './lru.js';
import type { PolicyPort } from './ports.js';
import type { Decision } from './types.js';

type Request = Parameters<PolicyPort['evaluate']>[0];

/**
 * Caches decisions, while the policy service stays the only place decisions are made. A decision
 * is a pure function of the policy revision and its input (identity, connection, role, door and
 * the full analysis: tables, columns, predicates, WHERE facts), so the key is exactly that input;
 * literal values that change a decision (WHERE 1=1) change the analysis and so the key. Entries
 * are only served while the revision watch is healthy and only for the revision in force, and
 * the whole cache is dropped the moment a new revision is announced.
 */
export class CachingPolicy implements PolicyPort {
  private readonly cache: Lru<string, Decision>;
  private revision: string | undefined;
  hits = 0;
  misses = 0;

  constructor(
    private readonly inner: PolicyPort,
    capacity: number,
  ) {
    this.cache = new Lru(capacity);
  }

  /** The revision watch reported `revision` (undefined: the watch is down, so stop caching). */
  revisionChanged(revision: string | undefined): void {
    if (revision !== this.revision) this.cache.clear();
    this.revision = revision;
  }

  get currentRevision(): string | undefined {
    return this.revision;
  }

  async evaluate(req: Request): Promise<Decision> {
    if (!this.revision || this.cache.capacity <= 0) return this.inner.evaluate(req);
    const key = cacheKey(req);
    const hit = this.cache.get(key);
    if (hit && hit.policyRevision === this.revision) {
      this.hits++;
      return hit;
    }
    this.misses++;
    const decision = await this.inner.evaluate(req);
    // Only a decision made under the revision in force may be kept.
    if (decision.policyRevision === this.revision) this.cache.set(key, decision);
    return decision;
  }
}

// Analyses are themselves cached by statement text, so the same object comes back for a repeated
// statement: its serialised form is computed once per object, not once per request.
const analysisJson = new WeakMap<Request['analysis'], string>();

function cacheKey(req: Request): string {
  const { identity, connection, role, frontDoor, purpose, analysis } = req;
  let a = analysisJson.get(analysis);
  if (a === undefined) {
    a = JSON.stringify({ d: analysis.dialect, u: analysis.understood, s: analysis.statements });
    analysisJson.set(analysis, a);
  }
  const input = JSON.stringify({
    s: identity.subject,
    c: identity.clientId,
    i: identity.issuer,
    g: [...identity.groups].sort(),
    connection,
    role,
    frontDoor,
    // Rules can match the purpose of use: a decision holds only for the purpose it was made for.
    p: purpose ?? '',
  });
  return createHash('sha256').update(input).update('\0').update(a).digest('base64');
}
