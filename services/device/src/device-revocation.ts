import { publishRevocationFact } from '@kfrm/device-trust';
import type { Logger } from '@kfrm/logging';
import type { Store } from '@kfrm/store';

/**
 * Announces that a device certificate was revoked, so that calls it authorised and that are still
 * open (notification streams) end within about a second. Called by the revoke path after the
 * row is committed and the store mark written. If the announcement is lost, the streams end at
 * their next session re-check instead (a revoked device's sessions are revoked or unusable too:
 * the device change, BLOCKED and withdrawal paths end them in the user service). Never rejects.
 */
export function announceDeviceRevoked(store: Store, logger: Logger, deviceId: bigint): Promise<void> {
  return publishRevocationFact(store, { kind: 'device', deviceId: deviceId.toString() }, logger);
}
