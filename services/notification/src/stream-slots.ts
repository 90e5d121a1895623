import { randomInt, randomUUID } from 'node:crypto';
import type { Store } from '@kfrm/store';

export interface StreamSlot {
  release(): Promise<void>;
}

/**
 * At most `max` concurrent streams per user across all replicas: slot i of a user is the store
 * key `streams:{<user>}:<i>`, claimed with setFirstAbsent and a TTL renewed (by its holder only)
 * while the stream lives, and given back with compare-and-delete. A replica that crashes frees
 * its slots within the TTL.
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
    // All of a user's slots in one atomic claim (one round trip, not one per slot: a burst of
    // reconnects used to queue up probing 0, 1, 2, …), from a random slot on so that the user's
    // streams do not all rewrite slot 0's neighbours first. The hash tag keeps a user's slots
    // in one Redis Cluster slot, as a multi-key script needs.
    const first = randomInt(this.max);
    const keys = Array.from({ length: this.max }, (_, n) => `streams:{${userId}}:${(first + n) % this.max}`);
    const index = await this.store.setFirstAbsent(keys, token, this.ttlMs);
    if (index < 0) return undefined;
    const key = keys[index]!;
    const renew = setInterval(
      () => {
        // Best effort: if the store is down the slot may lapse and the user briefly get one more.
        void this.store.expireIfEquals(key, token, this.ttlMs).catch(() => undefined);
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
}
