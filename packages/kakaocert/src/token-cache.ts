/**
 * Linkhub session tokens, cached per ClientCode until shortly before they expire, with at most
 * one fetch in flight per ClientCode: a burst of calls after start-up or expiry shares one
 * token request instead of each signing its own (the public SDK fetches one per call in that
 * case, and its cache never notices a token the server has revoked).
 */
import type { LinkhubToken } from './types';

interface Cached {
  token: string;
  refreshAtMs: number;
}

export interface TokenCacheOptions {
  fetchToken: (clientCode: string) => Promise<LinkhubToken>;
  now: () => number;
  /** Refresh this long before `expiration` (capped at half the token's lifetime). */
  refreshMarginMs: number;
  /** Told when a token cannot be cached (unparseable expiration). */
  onUncacheable?: (clientCode: string) => void;
}

export class TokenCache {
  private readonly cached = new Map<string, Cached>();
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(private readonly options: TokenCacheOptions) {}

  get(clientCode: string): Promise<string> {
    const hit = this.cached.get(clientCode);
    if (hit && this.options.now() < hit.refreshAtMs) return Promise.resolve(hit.token);
    const pending = this.inFlight.get(clientCode);
    if (pending) return pending;
    const fetchedAtMs = this.options.now();
    const promise = this.options
      .fetchToken(clientCode)
      .then((token) => {
        const expiresAtMs = Date.parse(token.expiration);
        if (Number.isNaN(expiresAtMs)) {
          // Use it for the calls waiting now, but do not trust it later.
          this.cached.delete(clientCode);
          this.options.onUncacheable?.(clientCode);
        } else {
          const lifetimeMs = Math.max(0, expiresAtMs - fetchedAtMs);
          const marginMs = Math.min(this.options.refreshMarginMs, lifetimeMs / 2);
          this.cached.set(clientCode, { token: token.session_token, refreshAtMs: expiresAtMs - marginMs });
        }
        return token.session_token;
      })
      .finally(() => this.inFlight.delete(clientCode));
    this.inFlight.set(clientCode, promise);
    return promise;
  }

  /** Forget `token` if it is still the cached one (the server refused it). */
  invalidate(clientCode: string, token: string): void {
    if (this.cached.get(clientCode)?.token === token) this.cached.delete(clientCode);
  }
}
