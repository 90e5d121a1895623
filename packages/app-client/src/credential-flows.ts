import { createPrivateKey, sign, webcrypto } from 'node:crypto';
import { createCsr, signData } from '@kfrm/pki';
import { DeviceChangeServiceClient } from '@kfrm/proto/gen/kfrm/api/auth/auth';
import {
  CredentialChangeServiceClient,
  SessionManagementServiceClient,
  SigningCertificateServiceClient,
  type SessionInfo,
} from '@kfrm/proto/gen/kfrm/api/auth/credential';
import { AuthenticationServiceClient } from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { AuthenticationProcess_ProcessStatus, EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';
import type { AppClient } from './app-client';
import { authenticatePin, withSession } from './identity-flows';
import { unary } from './unary';

const { AUTH } = EncryptedMessage_ProviderType;

/**
 * The device proof (kfrm/api/auth/credential.proto): the device key's signature over
 * `kfrm-device-proof-v1:<challenge>`, DER ECDSA-SHA256 or RSASSA-PKCS1-v1_5-SHA256, base64.
 */
export function deviceProof(app: AppClient, challenge: string): string {
  if (!app.device) throw new Error('no device identity: registerDevice first');
  const key = createPrivateKey(app.device.privateKeyPem);
  return sign('sha256', Buffer.from(`kfrm-device-proof-v1:${challenge}`, 'utf8'), key).toString('base64');
}

/**
 * PrepareDeviceChange → AuthenticatePinForLogin → ChangeDevice, on the new phone (its device
 * certificate already made): the customer moves here, the old phone's device certificate,
 * sessions and signing certificate are revoked.
 */
export async function changeDevice(app: AppClient, userToken: string, pin: string, deviceUuid: string): Promise<void> {
  const dc = app.client(DeviceChangeServiceClient);
  const authentication = app.client(AuthenticationServiceClient);
  const { process } = await unary(dc, dc.prepareDeviceChange, { userToken, deviceUuid: { id: deviceUuid } });
  if (!process) throw new Error('PrepareDeviceChange returned no process');
  const done = await app.withEncrypted(AUTH, pin, (encrypted) =>
    unary(authentication, authentication.authenticatePinForLogin, { userToken, processId: process.processId, pin: encrypted }),
  );
  if (done.process?.status !== AuthenticationProcess_ProcessStatus.DONE) throw new Error('device change process not DONE after the PIN');
  await unary(dc, dc.changeDevice, { userToken, processId: process.processId });
}

export interface SigningCredential {
  signingKey: webcrypto.CryptoKeyPair;
  signingCertificateDer: Uint8Array;
}

/**
 * PrepareReissueSigningCertificate → AuthenticatePin → ReissueSigningCertificate (a CSR of a new
 * key, the device proof over the process id) → VerifyReissuedSigningCertificate (a PKCS#7
 * signature over the verification token). The new certificate is then the only active one.
 */
export async function reissueSigningCertificate(app: AppClient, sessionToken: string, pin: string): Promise<SigningCredential> {
  const certificates = app.client(SigningCertificateServiceClient);
  const session = withSession(sessionToken);
  const { process } = await unary(certificates, certificates.prepareReissueSigningCertificate, {}, session);
  if (!process) throw new Error('PrepareReissueSigningCertificate returned no process');
  await authenticatePin(app, process.processId, pin, session);
  const signingKey = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const issued = await unary(
    certificates,
    certificates.reissueSigningCertificate,
    { processId: process.processId, csr: (await createCsr(signingKey)).pem, deviceSignature: deviceProof(app, process.processId) },
    session,
  );
  const signingCertificateDer = new Uint8Array(Buffer.from(issued.certificate, 'base64'));
  const activation = await signData({
    content: new TextEncoder().encode(issued.verificationToken),
    certificateDer: signingCertificateDer,
    privateKey: signingKey.privateKey,
    detached: false,
  });
  await unary(certificates, certificates.verifyReissuedSigningCertificate, { signedData: activation.base64 }, session);
  return { signingKey, signingCertificateDer };
}

/** ChangePin: the current and the new PIN, each E2E-encrypted; the other sessions end. */
export async function changePin(app: AppClient, sessionToken: string, oldPin: string, newPin: string): Promise<void> {
  const credentials = app.client(CredentialChangeServiceClient);
  const oldMessage = await app.encrypt(AUTH, oldPin);
  const newMessage = await app.encrypt(AUTH, newPin);
  await unary(credentials, credentials.changePin, { oldPin: oldMessage, newPin: newMessage }, withSession(sessionToken));
}

/** ChangePattern: as changePin, for the pattern. */
export async function changePattern(app: AppClient, sessionToken: string, oldPattern: string, newPattern: string): Promise<void> {
  const credentials = app.client(CredentialChangeServiceClient);
  const oldMessage = await app.encrypt(AUTH, oldPattern);
  const newMessage = await app.encrypt(AUTH, newPattern);
  await unary(credentials, credentials.changePattern, { oldPattern: oldMessage, newPattern: newMessage }, withSession(sessionToken));
}

/** The customer's live logins, newest first; `current` marks this one. */
export async function listSessions(app: AppClient, sessionToken: string): Promise<SessionInfo[]> {
  const sessions = app.client(SessionManagementServiceClient);
  return (await unary(sessions, sessions.listSessions, {}, withSession(sessionToken))).sessions;
}

/** Ends one login (a session id from listSessions) from this one. */
export async function revokeSession(app: AppClient, sessionToken: string, sessionId: string): Promise<void> {
  const sessions = app.client(SessionManagementServiceClient);
  await unary(sessions, sessions.revokeSession, { sessionId }, withSession(sessionToken));
}

/** Ends this login: its session and refresh tokens stop working. */
export async function logout(app: AppClient, sessionToken: string): Promise<void> {
  const sessions = app.client(SessionManagementServiceClient);
  await unary(sessions, sessions.logout, {}, withSession(sessionToken));
}

/** What the identity provider is asked again for a PIN reset, as at sign-up (CreateUser). */
export interface IdentityReverification {
  idpType: string;
  idpName: string;
  name: string;
  phoneNumber: string;
  verificationHint: string;
}

/**
 * PrepareResetPin → ResetPin (the device proof over the challenge, the identity again, the new
 * PIN E2E-encrypted). For a BLOCKED customer the app first makes a new device certificate on the
 * same phone (the old one was revoked with the block) and afterwards moves the customer to it
 * with `changeDevice` (REINSTALL_APP) and the new PIN.
 */
export async function resetForgottenPin(
  app: AppClient,
  userToken: string,
  identity: IdentityReverification,
  newPin: string,
): Promise<void> {
  const credentials = app.client(CredentialChangeServiceClient);
  const { challenge } = await unary(credentials, credentials.prepareResetPin, { userToken });
  await app.withEncrypted(AUTH, newPin, (encrypted) =>
    unary(credentials, credentials.resetPin, {
      userToken,
      challenge,
      deviceSignature: deviceProof(app, challenge),
      ...identity,
      newPin: encrypted,
    }),
  );
}
