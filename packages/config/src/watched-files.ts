// Secret and certificate files that are re-read on an interval, so that a rotated file (renewed by
// cert-manager, synced by a secrets operator, written by a sidecar) takes effect without a restart.
// One mechanism for every such file: the internal mutual TLS files (internal-https.ts and, through
// grpc-js's own provider, @phigate/proto's tls.ts) and the Kafka link's CA, client certificate, key
// and SASL password (@phigate/bus's kafka.ts).
import { readFileSync } from 'node:fs';

/** A set of files, re-read on an interval; `onChange` hears of new contents that were accepted. */
export interface WatchedFiles<K extends string> {
  current(): Readonly<Record<K, Buffer>>;
  onChange(listener: (m: Readonly<Record<K, Buffer>>) => void): void;
  close(): void;
}

/**
 * Reads `paths` now (throws when one is missing) and again every `refreshMs`. New contents are
 * taken only when every file is readable and `accept` does not throw on them (a certificate that
 * does not match its key, a rotation caught half-way): otherwise the material in use stays.
 */
export function watchFiles<K extends string>(
  paths: Readonly<Record<K, string>>,
  refreshMs: number,
  accept?: (m: Readonly<Record<K, Buffer>>) => void,
): WatchedFiles<K> {
  const keys = Object.keys(paths) as K[];
  const read = () => Object.fromEntries(keys.map((k) => [k, readFileSync(paths[k])])) as Record<K, Buffer>;
  let material = read();
  const listeners: Array<(m: Readonly<Record<K, Buffer>>) => void> = [];
  const timer = setInterval(() => {
    let next: Record<K, Buffer>;
    try {
      next = read();
      if (keys.every((k) => next[k].equals(material[k]))) return;
      accept?.(next);
    } catch {
      return;
    }
    material = next;
    for (const l of listeners) l(material);
  }, refreshMs);
  timer.unref();
  return {
    current: () => material,
    onChange: (l) => void listeners.push(l),
    close: () => clearInterval(timer),
  };
}
