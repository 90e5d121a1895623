import { failWith, isDomainError } from '@kfrm/errors';
import { AuthenticatedTransactionType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { authenticationFailed, deviceChangeKey, deviceChangeOwner } from './authentication';
import { throttle, type IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import type { DirectoryCode } from './user-directory';

export type PrepareDeviceChangeCode =
  | 'DEVICE_CHANGE_NOT_ALLOWED'
  | DirectoryCode['findByUserToken']
  | DirectoryCode['createProcess']
  | DirectoryCode['findUsersOnDevice'];
/** ConsumeProcess's refusals become AUTHENTICATION_FAILED. */
export type ChangeDeviceCode =
  | 'DEVICE_CHANGE_NOT_ALLOWED'
  | 'AUTHENTICATION_FAILED'
  | DirectoryCode['findByUserToken']
  | DirectoryCode['findUsersOnDevice']
  | DirectoryCode['bindDevice']
  | DirectoryCode['revokeDevice']
  | DirectoryCode['revokeSessions'];

const notAllowed = () => failWith<'DEVICE_CHANGE_NOT_ALLOWED'>()('DEVICE_CHANGE_NOT_ALLOWED', 'the device cannot be changed now');
const HOUR_MS = 60 * 60_000;
/** The user service keeps at most this many characters of a DeviceUUID: refused here, before a process is spent. */
const MAX_DEVICE_UUID_CHARS = 256;
/** A device change has no transaction context; created and consumed with exactly this. */
const NO_CONTEXT = '{}';
/** The process types this flow runs, by the name kept in the store value. */
const TYPES = {
  CHANGE_DEVICE: AuthenticatedTransactionType.CHANGE_DEVICE,
  REINSTALL_APP: AuthenticatedTransactionType.REINSTALL_APP,
} as const;
type FlowType = keyof typeof TYPES;
const isFlowType = (name: string): name is FlowType => Object.hasOwn(TYPES, name);

/**
 * What follows the owner in the store value: `<flow>:<DeviceUUID>`. The flow name has no ':',
 * so the UUID is everything after the first one (it may contain ':' itself). A value written
 * before the UUID was kept is just `<flow>`: its UUID reads as '' and BindDevice keeps the one
 * on record.
 */
function heldFlow(rest: string): { flow: string; deviceUuid: string } {
  const colon = rest.indexOf(':');
  return colon < 0 ? { flow: rest, deviceUuid: '' } : { flow: rest.slice(0, colon), deviceUuid: rest.slice(colon + 1) };
}

/**
 * Moving an ACTIVATED user to the calling (new) device. The process is bound to the device that
 * prepared it; ChangeDevice consumes it, binds the user to the new device, and revokes the old
 * device's certificate and sessions.
 *
 * An app reinstall is the same move with another process type: the reinstalled app has a new key
 * and device certificate (a new device id) but sends the DeviceUUID the user registered with, so
 * a matching UUID prepares a REINSTALL_APP process and any other a CHANGE_DEVICE one.
 */
export function createDeviceChange(deps: IdentityDeps) {
  const { users, store } = deps;

  /**
   * The user token's ACTIVATED user, moving to the calling device, which must be a fresh phone:
   * a phone bound to another customer is that customer's, and a user token sent from it (found,
   * copied, shoulder-surfed) must not start anything on this customer's credentials.
   */
  async function eligibleUser(userToken: string, deviceId: bigint) {
    const user = await users.findByUserToken(userToken);
    if (!user || user.userStatus !== UserStatus.ACTIVATED || user.deviceId === deviceId) throw notAllowed();
    const owners = await users.findUsersOnDevice(deviceId);
    if (owners.some((owner) => owner !== user.userId)) throw notAllowed();
    return user;
  }

  return {
    async prepare(userToken: string, deviceUuid: string, deviceId: bigint) {
      if (!deviceUuid.trim() || deviceUuid.length > MAX_DEVICE_UUID_CHARS) throw notAllowed();
      await throttle(store, `device-change:device:${deviceId}`, deps.settings.registrationsPerDeviceHour, HOUR_MS);
      const user = await eligibleUser(userToken, deviceId);
      const flow: FlowType = user.deviceUuid !== '' && user.deviceUuid === deviceUuid ? 'REINSTALL_APP' : 'CHANGE_DEVICE';
      const process = await users.createProcess(user.userId, TYPES[flow], NO_CONTEXT);
      // The UUID the process was prepared with becomes the user's registered one on ChangeDevice.
      await store.set(deviceChangeKey(process.processId), `${deviceChangeOwner(user.userId, deviceId)}${flow}:${deviceUuid}`, {
        ttlMs: deps.settings.deviceChangeTtlMs,
      });
      return process;
    },

    async change(userToken: string, processId: string, deviceId: bigint) {
      const user = await eligibleUser(userToken, deviceId);
      const held = processId ? await store.get(deviceChangeKey(processId)) : undefined;
      const owner = deviceChangeOwner(user.userId, deviceId);
      const { flow, deviceUuid } = heldFlow(held?.startsWith(owner) ? held.slice(owner.length) : '');
      if (!isFlowType(flow)) throw authenticationFailed();
      try {
        // The type prepared is the type consumed: a REINSTALL_APP process cannot pass as a
        // CHANGE_DEVICE one (their policies may differ).
        await users.consumeProcess(processId, user.userId, TYPES[flow], NO_CONTEXT);
      } catch (err) {
        if (isDomainError(err, 'AUTHENTICATION_PROCESS_NOT_FOUND', 'AUTHENTICATION_FAILED')) throw authenticationFailed();
        throw err;
      }
      await store.del(deviceChangeKey(processId));
      const previous = await users.bindDevice(user.userId, deviceId, deviceUuid);
      // The biometric key and the signing key live in the old device's hardware: they cannot
      // follow the user. The new phone gets a signing certificate with ReissueSigningCertificate.
      await repo.disableBiometricKey(deps.db, user.userId);
      await deps.signingCertificates.whileChanging(user.userId, () => repo.revokeActiveCertificates(deps.db, user.userId, deps.now()));
      if (previous !== 0n && previous !== deviceId) {
        await users.revokeDevice(previous);
        await users.revokeSessions(user.userId, previous, 'device changed');
      }
      deps.logger.info(
        { user_id: String(user.userId), device_id: String(deviceId), previous_device_id: String(previous), flow },
        flow === 'REINSTALL_APP' ? 'app reinstalled' : 'device changed',
      );
    },
  };
}

export type DeviceChange = ReturnType<typeof createDeviceChange>;
