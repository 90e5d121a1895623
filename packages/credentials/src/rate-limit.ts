import type { Store } from '@kfrm/store';

export interface RateLimitResult {
  allowed: boolean;
  /** Calls counted in the current window, this one included. */
  count: number;
  limit: number;
  /** When refused: milliseconds until the window ends (for a retry hint). */
  retryAfterMs?: number;
}

/**
 * Fixed-window throttle: allows `limit` calls per `windowMs` for `key` across all instances
 * (one atomic INCR per call; the window starts with the first call). Build the key from what
 * is being throttled and who, e.g. `register:device:<uuid>`, `register:user:<id>`,
 * `cert-issue:user:<id>`, `pin:device:<uuid>`; check each key that applies and refuse when any
 * refuses. Refused calls count too, so hammering does not reopen the window early.
 *
 * Rejects with StoreUnavailableError when the store cannot answer: refuse the call then.
 */
export async function rateLimit(store: Store, key: string, limit: number, windowMs: number): Promise<RateLimitResult> {
  assertPositiveInteger(limit, 'limit');
  assertPositiveInteger(windowMs, 'windowMs');
  if (typeof key !== 'string' || key.length === 0) throw new TypeError('key must be a non-empty string');
  const count = await store.incrWithTtl(`ratelimit:${key}`, windowMs);
  if (count <= limit) return { allowed: true, count, limit };
  const ttl = await store.ttlMs(`ratelimit:${key}`);
  // The key can expire between the two calls; then the window is over and a retry may go now.
  const retryAfterMs = ttl === null || !Number.isFinite(ttl) ? 0 : Math.max(0, ttl);
  return { allowed: false, count, limit, retryAfterMs };
}

function assertPositiveInteger(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${what} must be a positive integer, got ${String(value)}`);
}
