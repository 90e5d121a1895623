import { publishRevocationFact } from '@kfrm/device-trust';
import type { Logger } from '@kfrm/logging';
import type { Store } from '@kfrm/store';

/**
 * Announces that sessions of a user ended, so that calls authorised by them and still open
 * (notification streams, on any replica of any service) end within about a second.
 *
 * Every path of the user service that revokes sessions calls this after its transaction has
 * committed (never inside it: a listener that re-checks must already see the revocation). The
 * revocation is the committed row; the announcement only makes its effect prompt. If it is lost
 * (store down, a listener reconnecting), listeners still end the streams at their next re-check
 * of the session (after a subscription gap, and periodically), so a lost announcement delays,
 * never cancels, the end. Resolves also when the store is down (logged).
 */
export interface SessionRevocationNotice {
  /** Sessions of `userId` on `deviceId` ended, or on every device when `deviceId` is null. */
  sessionsRevoked(userId: bigint, deviceId: bigint | null): Promise<void>;
}

/** Announces on the store's revocation-facts channel (`revocation:facts`). */
export function storeSessionRevocationNotice(store: Store, logger: Logger): SessionRevocationNotice {
  return {
    sessionsRevoked: (userId, deviceId) =>
      publishRevocationFact(
        store,
        { kind: 'sessions', userId: userId.toString(), deviceId: deviceId === null ? null : deviceId.toString() },
        logger,
      ),
  };
}
