import type { Logger } from '@kfrm/logging';
import type { Store } from '@kfrm/store';

/**
 * Revocation facts: a small message on one store channel whenever access ends for sessions or a
 * device, so that what was authorised once and stays open (notification streams) ends too.
 * Published by the service that revoked, after its transaction committed; heard by every replica
 * that holds such long-lived calls (one subscription per replica, not per call).
 *
 * Pub/sub is at-most-once: a fact can be lost (store down, subscriber reconnecting). Listeners
 * therefore never rely on facts alone: they re-check what they hold after a subscription gap and
 * periodically (the notification service every KFRM_NOTIFICATION_RECHECK_SECONDS). A fact only
 * makes the end prompt; the database stays the source of truth.
 */
export const REVOCATION_FACTS_CHANNEL = 'revocation:facts';

export type RevocationFact =
  /**
   * Sessions of the user ended: on one device (`deviceId`), or on all (`null`): logout, revoke,
   * refresh-token reuse, device change, BLOCKED/DEACTIVATED, withdrawal. A listener re-checks the
   * sessions it holds for the user (and device) rather than guessing which ones ended.
   */
  | { kind: 'sessions'; userId: string; deviceId: string | null }
  /** A device certificate was revoked (final): everything authorised by that device ends. */
  | { kind: 'device'; deviceId: string };

/** Ids as the services print them (decimal today); bounded, so a stray message cannot be huge. */
const ID = /^[0-9A-Za-z_-]{1,64}$/;

export function encodeRevocationFact(fact: RevocationFact): string {
  return JSON.stringify(fact);
}

/** The fact, or undefined for a message that is not one (never throws: the channel is shared). */
export function decodeRevocationFact(message: string): RevocationFact | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (v.kind === 'sessions' && typeof v.userId === 'string' && ID.test(v.userId)) {
    if (v.deviceId === null) return { kind: 'sessions', userId: v.userId, deviceId: null };
    if (typeof v.deviceId === 'string' && ID.test(v.deviceId)) return { kind: 'sessions', userId: v.userId, deviceId: v.deviceId };
    return undefined;
  }
  if (v.kind === 'device' && typeof v.deviceId === 'string' && ID.test(v.deviceId)) return { kind: 'device', deviceId: v.deviceId };
  return undefined;
}

/**
 * Publishes a fact. Never rejects: the revocation itself is committed and stands; a lost fact
 * only delays the end of open streams until their next re-check (logged as a warning).
 */
export async function publishRevocationFact(store: Store, fact: RevocationFact, logger: Logger): Promise<void> {
  try {
    await store.publish(REVOCATION_FACTS_CHANNEL, encodeRevocationFact(fact));
  } catch (err) {
    logger.warn({ err, fact_kind: fact.kind }, 'revocation fact not published; open streams end at their next re-check');
  }
}

export type RevocationFactHandler = (fact: RevocationFact | 'gap') => void;

/**
 * Hands every revocation fact to `onFact`, and `'gap'` whenever facts may have been lost (the
 * subscription came back after a loss of the connection). When the subscription cannot be made
 * (store down at start) it is tried again every `retryMs` in the background, with a gap once it
 * works: whoever caches on the strength of facts must bound its staleness anyway.
 */
export function listenToRevocationFacts(
  store: Store,
  onFact: RevocationFactHandler,
  logger: Logger,
  retryMs = 1_000,
): { ready: Promise<void>; stop(): Promise<void> } {
  let unsubscribe: (() => Promise<void>) | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let failedBefore = false;
  const attempt = async (): Promise<void> => {
    try {
      const subscription = await store.subscribe(
        REVOCATION_FACTS_CHANNEL,
        (message) => {
          const fact = decodeRevocationFact(message);
          if (fact) onFact(fact);
        },
        { onGap: () => onFact('gap') },
      );
      if (stopped) return void (await subscription());
      unsubscribe = subscription;
      if (failedBefore) onFact('gap');
    } catch (err) {
      if (stopped) return;
      if (!failedBefore)
        logger.warn({ err }, 'revocation facts not subscribed; retrying (cached access state ends at its bound meanwhile)');
      failedBefore = true;
      timer = setTimeout(() => void attempt(), retryMs);
      timer.unref();
    }
  };
  const ready = attempt();
  return {
    ready,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await unsubscribe?.();
    },
  };
}

/**
 * The store as this process's services use it, with one addition: a revocation fact this
 * process publishes is handed to `onFact` here first, synchronously, before it goes out. The
 * revoking call then returns only once this process's own caches have forgotten what it ended,
 * so the phone's next call to the same process is refused whatever pub/sub's delivery delay.
 */
export function withLocalRevocationFacts(store: Store, onFact: RevocationFactHandler): Store {
  // Every method delegates (a class instance's methods are not own properties: no spread).
  return {
    get: (key) => store.get(key),
    set: (key, value, options) => store.set(key, value, options),
    setIfAbsent: (key, value, ttlMs) => store.setIfAbsent(key, value, ttlMs),
    setIfAbsentThenSet: (key, value, ttlMs, then) => store.setIfAbsentThenSet(key, value, ttlMs, then),
    setFirstAbsent: (keys, value, ttlMs) => store.setFirstAbsent(keys, value, ttlMs),
    expireIfEquals: (key, expected, ttlMs) => store.expireIfEquals(key, expected, ttlMs),
    getDel: (key) => store.getDel(key),
    del: (key) => store.del(key),
    expireMs: (key, ttlMs) => store.expireMs(key, ttlMs),
    ttlMs: (key) => store.ttlMs(key),
    incrWithTtl: (key, ttlMs) => store.incrWithTtl(key, ttlMs),
    incrWithTtlUnlessExists: (key, guardKey, ttlMs) => store.incrWithTtlUnlessExists(key, guardKey, ttlMs),
    compareAndDelete: (key, expected) => store.compareAndDelete(key, expected),
    subscribe: (channel, onMessage, options) => store.subscribe(channel, onMessage, options),
    ping: () => store.ping(),
    close: () => store.close(),
    publish(channel, message) {
      if (channel === REVOCATION_FACTS_CHANNEL) {
        const fact = decodeRevocationFact(message);
        if (fact) onFact(fact);
      }
      return store.publish(channel, message);
    },
  };
}
