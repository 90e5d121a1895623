import { createHash } from 'node:crypto';
import type { RevocationFact } from '@kfrm/device-trust';
import type { DeviceIdentity, SessionIdentity } from '@kfrm/server-kit';

/** A live session as the user service answered it; `expiresAt` when it said when it ends. */
export interface ResolvedSession extends SessionIdentity {
  expiresAt?: Date;
}

export type SessionLookup = (token: string, device: DeviceIdentity) => Promise<ResolvedSession | undefined>;

export interface SessionCacheOptions {
  /**
   * How long a resolved session is used without asking the user service again, counted from
   * when the lookup started: the latest a revocation takes effect when its announcement (a
   * revocation fact) is lost. Announced revocations take effect as soon as the fact arrives.
   */
  maxStalenessMs: number;
  /** How many sessions to remember (the oldest is forgotten first). */
  maxEntries?: number;
  /** Milliseconds, monotonic enough for the bound (tests set it). */
  now?: () => number;
}

export interface CachedSessions {
  resolve(token: string, device: DeviceIdentity): Promise<SessionIdentity | undefined>;
  /** A revocation fact, or 'gap' when facts may have been lost: whatever it may name is asked again. */
  onRevocationFact(fact: RevocationFact | 'gap'): void;
  /** Sessions remembered now. */
  readonly size: number;
}

interface Entry {
  userId: string;
  deviceId: string;
  /** When the entry stops being used: the staleness bound or the session's end, whichever is first. */
  until: number;
}

/**
 * Every call on the session level used to resolve its token through the user service (two SQL
 * statements), the largest share of a read's cost (docs/performance.md). Resolved sessions are
 * remembered for at most `maxStalenessMs`; a revocation fact about the user or the device
 * forgets them at once. Refusals are never remembered (a new session is served at once), and
 * an answer that was in flight when a fact arrived is used for its own call only: it may have
 * been read before the revocation.
 *
 * Keyed by a hash of the token, so the cache holds no usable token.
 */
export function cacheSessions(lookup: SessionLookup, options: SessionCacheOptions): CachedSessions {
  const maxEntries = options.maxEntries ?? 100_000;
  const now = options.now ?? (() => performance.timeOrigin + performance.now());
  const entries = new Map<string, Entry>();
  /** Bumped by every fact: a lookup that started before one must not be remembered. */
  let epoch = 0;
  const keyOf = (token: string) => createHash('sha256').update(token).digest('base64');

  return {
    async resolve(token, device) {
      const key = keyOf(token);
      const started = now();
      const known = entries.get(key);
      if (known) {
        if (started < known.until) {
          return known.deviceId === device.deviceId ? { userId: known.userId, deviceId: known.deviceId, sessionToken: token } : undefined;
        }
        entries.delete(key);
      }
      const epochAtStart = epoch;
      const found = await lookup(token, device);
      if (!found) return undefined;
      const session: SessionIdentity = { userId: found.userId, deviceId: found.deviceId, sessionToken: token };
      const until = Math.min(started + options.maxStalenessMs, found.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY);
      if (epoch === epochAtStart && until > now()) {
        if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
        entries.set(key, { userId: found.userId, deviceId: found.deviceId, until });
      }
      return session;
    },
    onRevocationFact(fact) {
      epoch++;
      if (fact === 'gap') {
        entries.clear();
        return;
      }
      for (const [key, entry] of entries) {
        const named =
          fact.kind === 'device'
            ? entry.deviceId === fact.deviceId
            : entry.userId === fact.userId && (fact.deviceId === null || entry.deviceId === fact.deviceId);
        if (named) entries.delete(key);
      }
    },
    get size() {
      return entries.size;
    },
  };
}
