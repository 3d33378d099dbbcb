// The door's cancel keys: each authenticated connection gets a BackendKeyData (process id and secret
// key) and a CancelRequest, which arrives on a connection of its own, interrupts the statement of the
// connection whose key it quotes.
import { randomBytes, timingSafeEqual } from 'node:crypto';

/** BackendKeyData → the connection to interrupt. */
export class CancelRegistry {
  private readonly byPid = new Map<number, { key: Buffer; cancel: () => void }>();

  add(cancel: () => void): { processId: number; secretKey: number } {
    let processId = 0;
    do processId = randomBytes(4).readUInt32BE(0) & 0x7fffffff;
    while (processId === 0 || this.byPid.has(processId));
    const key = randomBytes(4);
    this.byPid.set(processId, { key, cancel });
    return { processId, secretKey: key.readInt32BE(0) };
  }

  remove(processId: number): void {
    this.byPid.delete(processId);
  }

  /** Cancels when the key matches (compared in constant time); says nothing either way, like PostgreSQL. */
  cancel(processId: number, key: Buffer): void {
    const e = this.byPid.get(processId);
    if (e && key.length === e.key.length && timingSafeEqual(key, e.key)) e.cancel();
  }
}
