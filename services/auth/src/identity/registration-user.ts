import { failWith } from '@kfrm/errors';
import { throttle, type IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import type { DirectoryCode } from './user-directory';

const HOUR_MS = 60 * 60_000;

export interface CreateUserInput {
  idpType: string;
  idpName: string;
  name: string;
  phoneNumber: string;
  verificationHint: string;
  deviceUuid: string;
}

export type CreateUserCode =
  | 'USER_VERIFICATION_HINT_REQUIRED'
  | 'USER_DEVICE_UUID_REQUIRED'
  | 'USER_VERIFICATION_FAILED'
  | DirectoryCode['registerUser'];

const fail = failWith<CreateUserCode>();

export type CreateUserDeps = Pick<IdentityDeps, 'db' | 'store' | 'users' | 'verifier' | 'logger' | 'settings' | 'now'>;

/** CreateUser: identity verification, then the user (user service) and its registration row. */
export async function createUser(deps: CreateUserDeps, input: CreateUserInput, deviceId: bigint) {
  const { db, users, settings } = deps;
  if (!input.verificationHint.trim()) throw fail('USER_VERIFICATION_HINT_REQUIRED', 'the identity verification hint is missing');
  if (!input.deviceUuid.trim()) throw fail('USER_DEVICE_UUID_REQUIRED', 'the device uuid is missing');
  await throttle(deps.store, `register:device:${deviceId}`, settings.registrationsPerDeviceHour, HOUR_MS);
  const verification = await deps.verifier.verify(input);
  if (!verification.verified) {
    deps.logger.info({ reason: verification.reason }, 'identity verification refused');
    throw fail('USER_VERIFICATION_FAILED', 'identity verification failed');
  }
  const created = await users.registerUser({
    idpType: input.idpType,
    idpName: input.idpName,
    userName: input.name,
    phoneNumber: input.phoneNumber,
    userCi: verification.userCi,
    deviceId,
    deviceUuid: input.deviceUuid,
  });
  await repo.startRegistration(db, created.userId, deviceId, new Date(deps.now().getTime() + settings.registrationTtlMs));
  deps.logger.info({ user_id: String(created.userId) }, 'registration started');
  return created;
}
