import { randomInt, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { isStoreUnavailableError, type Store } from '@kfrm/store';

/** Claims tried per open when the store does not answer; spread out so a burst does not retry in step. */
const CLAIM_ATTEMPTS = 3;
const CLAIM_RETRY_BASE_MS = 100;

export interface StreamSlot {
  release(): Promise<void>;
}

/** The store key of a user's slot `index`. */
const slotKey = (userId: string, index: number) => `streams:{${userId}}:${index}`;

/**
 * One held slot: its user and index (its key is made when needed: a template string is a rope
 * of concatenations, kept as such for the stream's life), its holder's token, and when its
 * lease was last renewed.
 */
class HeldSlot implements StreamSlot {
  constructor(
    private readonly slots: StreamSlots,
    readonly userId: string,
    readonly index: number,
    readonly token: string,
    public renewedAt: number,
  ) {}

  get key(): string {
    return slotKey(this.userId, this.index);
  }

  release(): Promise<void> {
    return this.slots.release(this);
  }
}

/**
 * At most `max` concurrent streams per user across all replicas: slot i of a user is the store
 * key `streams:{<user>}:<i>`, claimed with setFirstAbsent and a TTL renewed (by its holder only)
 * while the stream lives, and given back with compare-and-delete. A replica that crashes frees
 * its slots within the TTL.
 *
 * One timer renews every lease this replica holds (a timer and its closure per stream were a
 * good part of an idle stream's memory): it ticks every tenth of the TTL and renews the leases
 * last renewed a third of the TTL ago or more, so the renewals of 10,000 streams are spread over
 * time as the streams' openings were, not sent in one burst.
 */
export class StreamSlots {
  /** Held slots by token, least recently renewed first (a renewal moves a slot to the end). */
  private readonly held = new Map<string, HeldSlot>();
  private timer: NodeJS.Timeout | undefined;

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
    const keys = Array.from({ length: this.max }, (_, n) => slotKey(userId, (first + n) % this.max));
    const index = await this.claim(keys, token);
    if (index < 0) return undefined;
    const slot = new HeldSlot(this, userId, (first + index) % this.max, token, Date.now());
    this.held.set(token, slot);
    if (!this.timer) {
      this.timer = setInterval(() => this.renewDue(), Math.max(1, Math.floor(this.ttlMs / 10)));
      this.timer.unref();
    }
    return slot;
  }

  /**
   * The claim, repeated with the same token when the store did not answer (a command timeout:
   * under a burst of opens, a saturated event loop let ioredis's timers fire before the replies
   * were read; 661 of 10,000 opens were refused so). A repeat is safe: a key that already holds
   * the token counts as the claim (Store.setFirstAbsent), so at most one slot is taken.
   */
  private async claim(keys: string[], token: string): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.store.setFirstAbsent(keys, token, this.ttlMs);
      } catch (err) {
        if (attempt >= CLAIM_ATTEMPTS || !isStoreUnavailableError(err)) throw err;
        await sleep(CLAIM_RETRY_BASE_MS * attempt + randomInt(CLAIM_RETRY_BASE_MS));
      }
    }
  }

  /** Gives a slot back (idempotent): no more renewals, and the key is deleted if still ours. */
  async release(slot: HeldSlot): Promise<void> {
    if (this.held.get(slot.token) !== slot) return;
    this.held.delete(slot.token);
    if (this.held.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    await this.store.compareAndDelete(slot.key, slot.token).catch(() => undefined);
  }

  private renewDue(): void {
    const now = Date.now();
    const due = Math.floor(this.ttlMs / 3);
    // Oldest renewal first: stop at the first that is not due. A renewed slot goes to the end,
    // where the loop meets it again and stops.
    for (const [token, slot] of this.held) {
      if (now - slot.renewedAt < due) break;
      this.held.delete(token);
      slot.renewedAt = now;
      this.held.set(token, slot);
      // Best effort: if the store is down the slot may lapse and the user briefly get one more.
      this.store.expireIfEquals(slot.key, slot.token, this.ttlMs).catch(() => undefined);
    }
  }
}
