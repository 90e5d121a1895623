import { failWith, PermissionDeniedError } from '@kfrm/errors';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import type { IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import type { DirectoryCode, User } from './user-directory';

/** What every sign-up step needs to find the caller's open registration. */
export type RegistrationAccessDeps = Pick<IdentityDeps, 'db' | 'users' | 'now'>;

/** What finding an open registration raises (checkOpen's codes). */
type OpenCode = 'USER_REGISTRATION_NOT_FOUND' | 'ALREADY_REGISTERED_USER' | 'USER_REGISTRATION_EXPIRED';
/** openRegistration: by user token. */
export type RegistrationAccessCode = OpenCode | DirectoryCode['findByUserToken'];
/** openRegistrationOnDevice: the device's newest registration. */
export type RegistrationOnDeviceCode = OpenCode | DirectoryCode['findByUserId'];

const fail = failWith<OpenCode>();
const notFound = () => fail('USER_REGISTRATION_NOT_FOUND', 'no registration in progress for this user token');
const alreadyRegistered = () => fail('ALREADY_REGISTERED_USER', 'the user is already registered');

/** The registration named by the user token, honoured only from the device that started it. */
export async function openRegistration(
  deps: RegistrationAccessDeps,
  userToken: string,
  deviceId: bigint,
): Promise<{ user: User; userId: bigint }> {
  const { users } = deps;
  const user = await users.findByUserToken(userToken);
  // Another device's token is treated exactly like an unknown one.
  if (!user || user.deviceId !== deviceId) throw notFound();
  return { user, userId: user.userId, ...(await checkOpen(deps, user)) };
}

/** The newest registration of the calling device, for the steps that carry no user token. */
export async function openRegistrationOnDevice(deps: RegistrationAccessDeps, deviceId: bigint): Promise<{ user: User; userId: bigint }> {
  const { db, users } = deps;
  const registration = await repo.findLatestRegistrationOfDevice(db, deviceId);
  if (!registration) throw notFound();
  const user = await users.findByUserId(BigInt(registration.user_id));
  if (!user || user.deviceId !== deviceId) throw notFound();
  return { user, userId: user.userId, ...(await checkOpen(deps, user)) };
}

async function checkOpen(deps: RegistrationAccessDeps, user: User): Promise<object> {
  const { db } = deps;
  if (user.userStatus === UserStatus.ACTIVATED || user.userStatus === UserStatus.BLOCKED) throw alreadyRegistered();
  // A sign-up replaced by a newer one of the same identity.
  if (user.userStatus === UserStatus.DEACTIVATED) throw notFound();
  const registration = await repo.findRegistration(db, user.userId);
  if (!registration) throw notFound();
  if (registration.completed_at) throw alreadyRegistered();
  if (registration.expires_at.getTime() <= deps.now().getTime()) {
    throw fail('USER_REGISTRATION_EXPIRED', 'the registration has expired: start again');
  }
  return {};
}

export function requireAgreed(user: User): void {
  if (user.userStatus !== UserStatus.AGREED) throw new PermissionDeniedError('the mandatory terms must be agreed first');
}
