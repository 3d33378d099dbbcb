import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { watchDebounced } from '@phigate/config';
import { AppError } from '@phigate/errors';
import type { Logger } from '@phigate/telemetry';
import { parse } from 'yaml';
import { lintDocument, mergeDocuments, type PolicyDocument, validateDocument } from '../../domain/document.js';

/** The policy in force: a merged document and the revision (content hash) that produced it. */
export interface LoadedPolicy {
  doc: PolicyDocument;
  revision: string;
  files: string[];
}

/** Reads every *.yaml / *.yml file of `dir` (sorted), validates all of them, merges them. */
export function loadPolicyDir(dir: string): LoadedPolicy {
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  if (!files.length) throw new AppError('POLICY_FILE_INVALID', { message: `no policy files (*.yaml) in ${dir}` });
  const hash = createHash('sha256');
  const docs: PolicyDocument[] = [];
  const problems: string[] = [];
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    hash.update(f).update('\0').update(text).update('\0');
    let raw: unknown;
    try {
      raw = parse(text);
    } catch (err) {
      problems.push(`${f}: not valid YAML (${(err as Error).message.split('\n')[0]})`);
      continue;
    }
    const v = validateDocument(raw);
    if (v.ok) docs.push(v.doc);
    else problems.push(...v.problems.map((p) => `${f}: ${p}`));
  }
  if (problems.length) throw new AppError('POLICY_FILE_INVALID', { message: `policy is invalid:\n  - ${problems.join('\n  - ')}`, details: { problems } });
  const merged = mergeDocuments(docs);
  const all = validateDocument(merged);
  if (!all.ok)
    throw new AppError('POLICY_FILE_INVALID', { message: `policy is invalid:\n  - ${all.problems.join('\n  - ')}`, details: { problems: all.problems } });
  return { doc: merged, revision: hash.digest('hex').slice(0, 16), files };
}

/**
 * Holds the current policy and reloads it when files change. A broken edit keeps the previous
 * revision in force and logs why (never a half-loaded policy).
 */
export class PolicyStore {
  private current: LoadedPolicy;
  private watcher: { close(): void } | undefined;
  private readonly listeners = new Set<(revision: string) => void>();

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {
    this.current = loadPolicyDir(dir);
    log.info({ revision: this.current.revision, files: this.current.files }, 'policy loaded');
    this.lint();
  }

  get policy(): LoadedPolicy {
    return this.current;
  }

  /** Re-reads the directory now; returns whether a new revision is in force. */
  reload(): boolean {
    try {
      const next = loadPolicyDir(this.dir);
      if (next.revision === this.current.revision) return false;
      this.current = next;
      this.log.info({ revision: next.revision, files: next.files }, 'policy reloaded');
      this.lint();
      for (const l of this.listeners) l(next.revision);
      return true;
    } catch (err) {
      this.log.error(
        { problems: (err as AppError).details?.problems, keptRevision: this.current.revision },
        'policy reload rejected; previous revision stays in force',
      );
      return false;
    }
  }

  private lint(): void {
    const warnings = lintDocument(this.current.doc);
    if (warnings.length) this.log.warn({ revision: this.current.revision, warnings }, 'policy loaded with warnings');
  }

  /** Calls `listener` with each new revision; returns the unsubscribe function. */
  onRevision(listener: (revision: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  watch(): void {
    this.watcher = watchDebounced(this.dir, () => this.reload());
  }

  close(): void {
    this.watcher?.close();
  }
}
