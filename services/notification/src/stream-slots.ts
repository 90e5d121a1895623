import { randomInt, randomUUID } from 'node:crypto';
import type { Store } from '@kfrm/store';

export interface StreamSlot {
  release(): Promise<void>;
}

/**
 * At most `max` concurrent streams per user across all replicas: slot i of a user is the store
 * key `streams:<user>:<i>`, taken with setIfAbsent and a TTL renewed while the stream lives, and
 * given back with compare-and-delete. A replica that crashes frees its slots within the TTL.
 */
export class StreamSlots {
  constructor(
    private readonly store: Store,
    private readonly max: number,
    private readonly ttlMs: number,
  ) {}

  /** A slot, or undefined when the user already has `max` streams. */
  async acquire(userId: string): Promise<StreamSlot | undefined> {
    const token = randomUUID();
    // From a random slot on: a user's streams opening together mostly find a free slot at the
    // first try instead of all probing 0, 1, 2, … one round trip after another.
    const first = randomInt(this.max);
    for (let n = 0; n < this.max; n++) {
      const key = `streams:${userId}:${(first + n) % this.max}`;
      if (!(await this.store.setIfAbsent(key, token, this.ttlMs))) continue;
      const renew = setInterval(
        () => {
          // Best effort: if the store is down the slot may lapse and the user briefly get one more.
          void this.store
            .get(key)
            .then((value) => (value === token ? this.store.expireMs(key, this.ttlMs) : false))
            .catch(() => undefined);
        },
        Math.max(1, Math.floor(this.ttlMs / 3)),
      );
      renew.unref();
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          clearInterval(renew);
          await this.store.compareAndDelete(key, token).catch(() => undefined);
        },
      };
    }
    return undefined;
  }
}
