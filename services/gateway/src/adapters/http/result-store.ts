/**
 * Recent request outcomes for `GET /v1/requests/:id`, bounded in size and age, readable only by the
 * identity that asked. Holds masked results only. In-process for now; approvals (held requests that
 * any replica may resume) move request state to Redis.
 */
export class ResultStore {
  private readonly entries = new Map<string, { owner: string; body: unknown; at: number }>();

  constructor(
    private readonly maxEntries = 1000,
    private readonly ttlMs = 10 * 60_000,
  ) {}

  put(id: string, owner: string, body: unknown): void {
    this.entries.set(id, { owner, body, at: Date.now() });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  get(id: string, owner: string): unknown {
    const e = this.entries.get(id);
    if (!e || e.owner !== owner) return undefined;
    if (Date.now() - e.at > this.ttlMs) {
      this.entries.delete(id);
      return undefined;
    }
    return e.body;
  }
}
