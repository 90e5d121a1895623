import { openEncryptedText } from '@kfrm/e2e-crypto';
import type { EncryptedMessage } from '@kfrm/proto/gen/kfrm/api/common/common';
import { parseBiometricPublicKey } from './biometric-key';
import type { E2eCode, IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import { openRegistration, type RegistrationAccessCode, requireAgreed, type RegistrationAccessDeps } from './registration-access';

export type RegisterBiometricCode = RegistrationAccessCode | E2eCode;

export type RegistrationBiometricDeps = RegistrationAccessDeps & Pick<IdentityDeps, 'e2e'>;

export async function registerBiometric(
  deps: RegistrationBiometricDeps,
  userToken: string,
  deviceId: bigint,
  publicKey: EncryptedMessage | undefined,
) {
  const { db } = deps;
  const { user, userId } = await openRegistration(deps, userToken, deviceId);
  requireAgreed(user);
  const spki = parseBiometricPublicKey(await openEncryptedText(deps.e2e, publicKey, 'AUTH'));
  await repo.saveBiometricKey(db, userId, deviceId, spki);
}
