import { DomainError } from '@kfrm/errors';
import { AuthenticatedTransactionType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { authenticationFailed, deviceChangeKey } from './authentication';
import { throttle, type IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import { isDomainError } from './remote';

const notAllowed = () => new DomainError('DEVICE_CHANGE_NOT_ALLOWED', 'the device cannot be changed now');
const HOUR_MS = 60 * 60_000;
/** A device change has no transaction context; created and consumed with exactly this. */
const NO_CONTEXT = '{}';

/**
 * Moving an ACTIVATED user to the calling (new) device. The process is bound to the device that
 * prepared it; ChangeDevice consumes it, binds the user to the new device, and revokes the old
 * device's certificate and sessions.
 */
export function createDeviceChange(deps: IdentityDeps) {
  const { users, store } = deps;

  async function eligibleUser(userToken: string, deviceId: bigint) {
    const user = await users.findByUserToken(userToken);
    if (!user || user.userStatus !== UserStatus.ACTIVATED || user.deviceId === deviceId) throw notAllowed();
    return user;
  }

  return {
    async prepare(userToken: string, deviceUuid: string, deviceId: bigint) {
      if (!deviceUuid.trim()) throw notAllowed();
      await throttle(store, `device-change:device:${deviceId}`, deps.settings.registrationsPerDeviceHour, HOUR_MS);
      const user = await eligibleUser(userToken, deviceId);
      const process = await users.createProcess(user.userId, AuthenticatedTransactionType.CHANGE_DEVICE, NO_CONTEXT);
      await store.set(deviceChangeKey(process.processId), `${user.userId}:${deviceId}`, { ttlMs: deps.settings.deviceChangeTtlMs });
      return process;
    },

    async change(userToken: string, processId: string, deviceId: bigint) {
      const user = await eligibleUser(userToken, deviceId);
      if (!processId || (await store.get(deviceChangeKey(processId))) !== `${user.userId}:${deviceId}`) throw authenticationFailed();
      try {
        await users.consumeProcess(processId, user.userId, AuthenticatedTransactionType.CHANGE_DEVICE, NO_CONTEXT);
      } catch (err) {
        if (isDomainError(err, 'AUTHENTICATION_PROCESS_NOT_FOUND', 'AUTHENTICATION_FAILED')) throw authenticationFailed();
        throw err;
      }
      await store.del(deviceChangeKey(processId));
      const previous = await users.bindDevice(user.userId, deviceId);
      // The biometric key lives in the old device's hardware: it cannot follow the user.
      await repo.disableBiometricKey(deps.db, user.userId);
      if (previous !== 0n && previous !== deviceId) {
        await users.revokeDevice(previous);
        await users.revokeSessions(user.userId, previous, 'device changed');
      }
      deps.logger.info({ user_id: String(user.userId), device_id: String(deviceId), previous_device_id: String(previous) }, 'device changed');
    },
  };
}

export type DeviceChange = ReturnType<typeof createDeviceChange>;
