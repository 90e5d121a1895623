import { InvalidArgumentError, PermissionDeniedError } from '@kfrm/errors';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { KycStatus } from '@kfrm/proto/gen/kfrm/api/user/user';
import type { IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import { openRegistrationOnDevice, type RegistrationOnDeviceCode, requireAgreed, type RegistrationAccessDeps } from './registration-access';
import type { DirectoryCode } from './user-directory';

export type SubmitCustomerInfoCode = RegistrationOnDeviceCode | DirectoryCode['updateCustomerInfo'];
export type RegisterKycCode = RegistrationOnDeviceCode | DirectoryCode['updateKyc'] | DirectoryCode['updateUserStatus'];

export type RegistrationCustomerDeps = RegistrationAccessDeps & Pick<IdentityDeps, 'logger'>;

/** SubmitCustomerInfo: no user token in the seed, so the calling device's newest registration. */
export async function submitCustomerInfo(deps: RegistrationCustomerDeps, deviceId: bigint, residentId: string, name: string) {
  const { users } = deps;
  const { userId } = await openRegistrationOnDevice(deps, deviceId);
  if (!residentId.trim() || !name.trim()) throw new InvalidArgumentError('resident_id and name are required');
  return users.updateCustomerInfo(userId, residentId, name);
}

/** RegisterKyc: the last step; with PIN, pattern and an active certificate the user becomes ACTIVATED. */
export async function registerKyc(deps: RegistrationCustomerDeps, deviceId: bigint, kycData: string) {
  const { db, users } = deps;
  const { user, userId } = await openRegistrationOnDevice(deps, deviceId);
  requireAgreed(user);
  if (!kycData.trim()) throw new InvalidArgumentError('kyc_data is required');
  const [pin, pattern, certificate] = await Promise.all([
    repo.findSecret(db, userId, 'pin'),
    repo.findSecret(db, userId, 'pattern'),
    repo.findActiveCertificate(db, userId, deps.now()),
  ]);
  if (!pin || !pattern || !certificate) {
    throw new PermissionDeniedError('PIN, pattern and signing certificate must be registered before KYC');
  }
  // The data goes to the user service, sealed there with the status in one write, for the reviewer.
  await users.updateKyc(userId, KycStatus.REGISTERED, 'KYC data submitted at sign-up', kycData);
  await users.updateUserStatus(userId, UserStatus.AGREED, UserStatus.ACTIVATED, 'registration completed');
  await repo.completeRegistration(db, userId);
  deps.logger.info({ user_id: String(userId) }, 'registration completed');
}
