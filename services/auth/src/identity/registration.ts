import type { EncryptedMessage } from '@kfrm/proto/gen/kfrm/api/common/common';
import type { IdentityDeps } from './identity-deps';
import { registerBiometric } from './registration-biometric';
import { registerKyc, submitCustomerInfo } from './registration-customer';
import { confirmSecret, registerSecret } from './registration-secrets';
import { issueUserSigningCertificate, verifyUserSigningCertificate } from './registration-signing';
import { agreeTerms, listTerms } from './registration-terms';
import { type CreateUserInput, createUser } from './registration-user';

export type { CreateUserInput } from './registration-user';

/**
 * Sign-up, in the order the app drives it. Every step after CreateUser names the user by the user
 * token, which is honoured only from the device that started the registration; the last two
 * steps carry no token and use the newest registration of the calling device.
 */
export function createRegistration(deps: IdentityDeps) {
  return {
    createUser: (input: CreateUserInput, deviceId: bigint) => createUser(deps, input, deviceId),
    listTerms: (userToken: string, deviceId: bigint) => listTerms(deps, userToken, deviceId),
    agreeTerms: (userToken: string, deviceId: bigint, agreements: { termId: bigint; agreed: boolean }[]) =>
      agreeTerms(deps, userToken, deviceId, agreements),

    registerPin: (userToken: string, deviceId: bigint, pin: EncryptedMessage | undefined) =>
      registerSecret(deps, 'pin', userToken, deviceId, pin),
    confirmPin: (userToken: string, deviceId: bigint, pin: EncryptedMessage | undefined) =>
      confirmSecret(deps, 'pin', userToken, deviceId, pin),
    registerPattern: (userToken: string, deviceId: bigint, p: EncryptedMessage | undefined) =>
      registerSecret(deps, 'pattern', userToken, deviceId, p),
    confirmPattern: (userToken: string, deviceId: bigint, p: EncryptedMessage | undefined) =>
      confirmSecret(deps, 'pattern', userToken, deviceId, p),

    registerBiometric: (userToken: string, deviceId: bigint, publicKey: EncryptedMessage | undefined) =>
      registerBiometric(deps, userToken, deviceId, publicKey),

    issueSigningCertificate: (userToken: string, deviceId: bigint, csrText: string) =>
      issueUserSigningCertificate(deps, userToken, deviceId, csrText),
    verifySigningCertificate: (userToken: string, deviceId: bigint, signedData: string) =>
      verifyUserSigningCertificate(deps, userToken, deviceId, signedData),

    submitCustomerInfo: (deviceId: bigint, residentId: string, name: string) => submitCustomerInfo(deps, deviceId, residentId, name),
    registerKyc: (deviceId: bigint, kycData: string) => registerKyc(deps, deviceId, kycData),
  };
}

export type Registration = ReturnType<typeof createRegistration>;
