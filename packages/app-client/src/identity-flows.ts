import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { createCsr, signData } from '@kfrm/pki';
import { LoginServiceClient, RegistrationServiceClient, type LoginResponse } from '@kfrm/proto/gen/kfrm/api/auth/auth';
import { AuthenticationServiceClient } from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { AuthenticationProcess_ProcessStatus, EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';
import type { AppClient } from './app-client';
import { unary } from './unary';

const { AUTH } = EncryptedMessage_ProviderType;

export interface UserProfile {
  name: string;
  phoneNumber: string;
  /** The sandbox IdP accepts any 6 digits except 000000 (services/auth README). */
  verificationHint?: string;
  deviceUuid: string;
  pin: string;
  /** 3×3 grid nodes 0–8, e.g. "14763" (packages/credentials README). */
  pattern: string;
  residentId: string;
  biometric?: boolean;
  /** What RegisterKyc sends (the seed's free-form string); a document reference by default. */
  kycData?: string;
}

export interface RegisteredUser {
  userId: bigint;
  userToken: string;
  customerId: string;
  signingKey: webcrypto.CryptoKeyPair;
  signingCertificateDer: Uint8Array;
  biometricKey?: ReturnType<typeof generateKeyPairSync>;
}

/** The whole sign-up, in the order the app drives it, on a device that has its certificate. */
export async function registerUser(app: AppClient, profile: UserProfile): Promise<RegisteredUser> {
  const r = app.client(RegistrationServiceClient);
  const created = await unary(r, r.createUser, {
    idpType: 'mobile',
    idpName: 'sandbox',
    name: profile.name,
    phoneNumber: profile.phoneNumber,
    verificationHint: profile.verificationHint ?? '123456',
    deviceUuid: { id: profile.deviceUuid },
  });
  const userToken = created.userToken;
  const { terms } = await unary(r, r.listTerms, { userToken });
  await unary(r, r.agreeTerms, { userToken, agreements: terms.map((t) => ({ termId: t.id, agreed: true })) });
  await app.withEncrypted(AUTH, profile.pin, (pin) => unary(r, r.registerPin, { userToken, pin }));
  await app.withEncrypted(AUTH, profile.pin, (pin) => unary(r, r.confirmPin, { userToken, pin }));
  await app.withEncrypted(AUTH, profile.pattern, (pattern) => unary(r, r.registerPattern, { userToken, pattern }));
  await app.withEncrypted(AUTH, profile.pattern, (pattern) => unary(r, r.confirmPattern, { userToken, pattern }));
  let biometricKey: RegisteredUser['biometricKey'];
  if (profile.biometric !== false) {
    biometricKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const spki = (biometricKey.publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64');
    await app.withEncrypted(AUTH, spki, (publicKey) => unary(r, r.registerBiometric, { userToken, publicKey }));
  }
  const signingKey = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const issued = await unary(r, r.issueSigningCertificate, { userToken, csr: (await createCsr(signingKey)).pem });
  const signingCertificateDer = new Uint8Array(Buffer.from(issued.certificate, 'base64'));
  const activation = await signData({
    content: new TextEncoder().encode(issued.verificationToken),
    certificateDer: signingCertificateDer,
    privateKey: signingKey.privateKey,
    detached: false,
  });
  await unary(r, r.verifySigningCertificate, { userToken, signedData: activation.base64 });
  const { customerId } = await unary(r, r.submitCustomerInfo, { residentId: profile.residentId, name: profile.name });
  await unary(r, r.registerKyc, { kycData: profile.kycData ?? '{"document":"id-card"}' });
  return { userId: created.userId, userToken, customerId, signingKey, signingCertificateDer, biometricKey };
}

/** PrepareLogin → AuthenticatePinForLogin → Login: a session for this device. */
export async function loginWithPin(app: AppClient, userToken: string, pin: string): Promise<LoginResponse> {
  const login = app.client(LoginServiceClient);
  const authentication = app.client(AuthenticationServiceClient);
  const { process } = await unary(login, login.prepareLogin, { userToken });
  if (!process) throw new Error('PrepareLogin returned no process');
  const done = await app.withEncrypted(AUTH, pin, (encrypted) =>
    unary(authentication, authentication.authenticatePinForLogin, { userToken, processId: process.processId, pin: encrypted }),
  );
  if (done.process?.status !== AuthenticationProcess_ProcessStatus.DONE) throw new Error('login process not DONE after the PIN');
  return unary(login, login.login, { userToken, processId: process.processId });
}

/** AuthenticatePin on a session-level process (a transfer's, say); DONE or an error. */
export async function authenticatePin(app: AppClient, processId: string, pin: string, session: ReturnType<typeof withSession>) {
  const authentication = app.client(AuthenticationServiceClient);
  const done = await app.withEncrypted(AUTH, pin, (encrypted) =>
    unary(authentication, authentication.authenticatePin, { processId, pin: encrypted }, session),
  );
  if (done.process?.status !== AuthenticationProcess_ProcessStatus.DONE) throw new Error('process not DONE after the PIN');
  return done;
}

/** Call options carrying a session token, for session-level methods. */
export const withSession = (sessionToken: string) => ({ metadata: { authorization: `Bearer ${sessionToken}` } });
