// The identity flows as the phone drives them: over TLS, with real device certificates from the
// device service, E2E-encrypted secrets, and the user service's internal API (an in-memory stand-in
// until services/user lands, see testing/fake-user-module.ts).
import { generateKeyPairSync, sign, webcrypto } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppClient, unary } from '@kfrm/app-client';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { createCapturingDestination } from '@kfrm/logging';
import { createCsr, signData } from '@kfrm/pki';
import {
  ChangeDeviceApiError,
  ConfirmPatternApiError,
  ConfirmPatternApiError_ErrorCode,
  ConfirmPinApiError,
  ConfirmPinApiError_ErrorCode,
  CreateUserApiError,
  CreateUserApiError_ErrorCode,
  BiometricServiceClient,
  DeviceChangeServiceClient,
  IssueSigningCertificateApiError,
  IssueSigningCertificateApiError_ErrorCode,
  LoginApiError,
  LoginApiError_ErrorCode,
  LoginServiceClient,
  PrepareDeviceChangeApiError,
  PrepareDeviceChangeApiError_ErrorCode,
  RefreshSessionApiError,
  RefreshSessionApiError_ErrorCode,
  RegisterPatternApiError,
  RegisterPatternApiError_ErrorCode,
  RegisterPinApiError,
  RegisterPinApiError_ErrorCode,
  RegistrationServiceClient,
  VerifySigningCertificateApiError,
  VerifySigningCertificateApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/auth/auth';
import { CredentialServiceClient, GetActiveSigningCertificateApiError, GetActiveSigningCertificateApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/auth/auth_internal';
import {
  AuthenticateBiometricForLoginApiError,
  AuthenticateBiometricForLoginApiError_ErrorCode,
  AuthenticatePinForLoginApiError,
  AuthenticatePinForLoginApiError_ErrorCode,
  AuthenticationServiceClient,
} from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { AuthenticationProcess_ProcessStatus, AuthenticationType, EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { startServices, type RunningServices } from '@kfrm/runtime';
import { apiErrorCode } from '@kfrm/server-kit';
import { deviceModule } from '@kfrm/service-device';
import { e2eKeyModule } from '@kfrm/service-e2e-key';
import { createStore, type Store } from '@kfrm/store';
import { createAuthModule } from './auth.module';
import { biometricChallenge } from './identity/biometric-key';
import { createFakeUserModule, type FakeUserState } from './testing/fake-user-module';

const { AUTH } = EncryptedMessage_ProviderType;
const PHONE = '010-2468-1357';
const PIN = '582916';
const PATTERN = '14763';
const MAX_ATTEMPTS = 5;

const refusal = (promise: Promise<unknown>) => promise.then(() => expect.unreachable('call succeeded'), (e: grpc.ServiceError) => e);

describe('identity over gRPC', () => {
  let dataDir: string;
  let database: TestDatabase;
  let store: Store;
  let running: RunningServices;
  let users: FakeUserState;
  let serverCaPem: Buffer;
  let address: string;
  const logs = createCapturingDestination();
  const apps: AppClient[] = [];
  const secretsSeen: string[] = [];
  let phoneSeq = 0;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kfrm-auth-'));
    database = await openTestDatabase();
    store = await createStore({ redisUrl: process.env.REDIS_URL });
    const fake = createFakeUserModule();
    users = fake.state;
    running = await startServices(
      [deviceModule, e2eKeyModule, createAuthModule({ settings: { secretChecksPerDeviceWindow: 1_000, maxSecretAttempts: MAX_ATTEMPTS } }), fake.module],
      {
        name: 'auth-test',
        env: { KFRM_DATA_DIR: dataDir, KFRM_MOBILE_LISTEN: '127.0.0.1:0', KFRM_INTERNAL_LISTEN: '127.0.0.1:0', KFRM_MIGRATE_ON_START: 'true', LOG_LEVEL: 'debug' },
        db: database,
        store,
        logDestination: logs,
      },
    );
    serverCaPem = await readFile(running.serverCaCertFile);
    address = `127.0.0.1:${running.mobilePort}`;
  }, 60_000);

  afterAll(async () => {
    for (const app of apps) app.close();
    await running?.stop();
    await store?.close();
    await database?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function newPhone() {
    const app = new AppClient({ address, serverCaPem });
    apps.push(app);
    await app.registerDevice();
    return app;
  }

  const reg = (app: AppClient) => app.client(RegistrationServiceClient);
  const loginSvc = (app: AppClient) => app.client(LoginServiceClient);
  const authn = (app: AppClient) => app.client(AuthenticationServiceClient);
  const bearer = (sessionToken: string) => ({ metadata: { authorization: `Bearer ${sessionToken}` } });

  async function createUser(app: AppClient, name = `Kim ${++phoneSeq}`) {
    const r = reg(app);
    return unary(r, r.createUser, { idpType: 'mobile', idpName: 'sandbox', name, phoneNumber: PHONE, verificationHint: '123456', deviceUuid: { id: `uuid-${phoneSeq}` } });
  }

  async function agree(app: AppClient, userToken: string) {
    const r = reg(app);
    const { terms } = await unary(r, r.listTerms, { userToken });
    return unary(r, r.agreeTerms, { userToken, agreements: terms.map((t) => ({ termId: t.id, agreed: true })) });
  }

  /** A fresh P-256 key for signing, its CSR, and the CMS signature the app makes over a token. */
  async function signingKey() {
    const keyPair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const csr = await createCsr(keyPair);
    return { keyPair, csr: csr.pem };
  }

  async function issueAndVerify(app: AppClient, userToken: string) {
    const r = reg(app);
    const { keyPair, csr } = await signingKey();
    const issued = await unary(r, r.issueSigningCertificate, { userToken, csr });
    const signed = await signData({ content: Buffer.from(issued.verificationToken), certificateDer: Buffer.from(issued.certificate, 'base64'), privateKey: keyPair.privateKey, detached: false });
    await unary(r, r.verifySigningCertificate, { userToken, signedData: signed.base64 });
    return issued;
  }

  /** The whole sign-up; returns what the phone keeps. */
  async function register(app: AppClient) {
    const r = reg(app);
    const created = await createUser(app);
    const userToken = created.userToken;
    secretsSeen.push(userToken);
    await agree(app, userToken);
    await unary(r, r.registerPin, { userToken, pin: await app.encrypt(AUTH, PIN) });
    await unary(r, r.confirmPin, { userToken, pin: await app.encrypt(AUTH, PIN) });
    await unary(r, r.registerPattern, { userToken, pattern: await app.encrypt(AUTH, PATTERN) });
    await unary(r, r.confirmPattern, { userToken, pattern: await app.encrypt(AUTH, PATTERN) });
    const bio = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const bioSpki = (bio.publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64');
    secretsSeen.push(bioSpki);
    await unary(r, r.registerBiometric, { userToken, publicKey: await app.encrypt(AUTH, bioSpki) });
    const issued = await issueAndVerify(app, userToken);
    secretsSeen.push(issued.verificationToken);
    const { customerId } = await unary(r, r.submitCustomerInfo, { residentId: '900115-1234567', name: 'Kim' });
    await unary(r, r.registerKyc, { kycData: '{"document":"id-card"}' });
    return { userId: created.userId, userToken, customerId, bio, certificate: issued.certificate };
  }

  async function loginWithPin(app: AppClient, userToken: string) {
    const l = loginSvc(app);
    const a = authn(app);
    const { process } = await unary(l, l.prepareLogin, { userToken });
    const done = await unary(a, a.authenticatePinForLogin, { userToken, processId: process!.processId, pin: await app.encrypt(AUTH, PIN) });
    expect(done.process?.status).toBe(AuthenticationProcess_ProcessStatus.DONE);
    const session = await unary(l, l.login, { userToken, processId: process!.processId });
    secretsSeen.push(session.sessionToken, session.refreshToken);
    return session;
  }

  it('registers a user, logs in with the PIN and refreshes the session', async () => {
    const app = await newPhone();
    const user = await register(app);
    expect(user.userId).toBeGreaterThan(0n);
    expect(user.customerId).not.toBe('');
    expect(users.users.get(user.userId)?.status).toBe(UserStatus.ACTIVATED);

    const session = await loginWithPin(app, user.userToken);
    expect(session.userInfo?.userName).toMatch(/^Kim /);
    expect(new Date(session.sessionExpiredAt).getTime()).toBeGreaterThan(Date.now());

    const l = loginSvc(app);
    const refreshed = await unary(l, l.refreshSession, { refreshToken: session.refreshToken });
    expect(refreshed.refreshToken).not.toBe(session.refreshToken);
    secretsSeen.push(refreshed.sessionToken, refreshed.refreshToken);
    // The old refresh token again: refused, and the whole family with it.
    const reused = await refusal(unary(l, l.refreshSession, { refreshToken: session.refreshToken }));
    expect(reused.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(apiErrorCode(reused, RefreshSessionApiError)).toBe(RefreshSessionApiError_ErrorCode.INVALID_LOGIN_SESSION);
    const family = await refusal(unary(l, l.refreshSession, { refreshToken: refreshed.refreshToken }));
    expect(apiErrorCode(family, RefreshSessionApiError)).toBe(RefreshSessionApiError_ErrorCode.INVALID_LOGIN_SESSION);

    // The user service reads the active signing certificate on the internal listener.
    const credentials = new CredentialServiceClient(`127.0.0.1:${running.internalPort}`, grpc.credentials.createInsecure());
    const active = await unary(credentials, credentials.getActiveSigningCertificate, { userId: user.userId });
    expect(active.certificate).toBe(user.certificate);
    const none = await refusal(unary(credentials, credentials.getActiveSigningCertificate, { userId: 999_999n }));
    expect(apiErrorCode(none, GetActiveSigningCertificateApiError)).toBe(GetActiveSigningCertificateApiError_ErrorCode.SIGNING_CERTIFICATE_NOT_FOUND);
    credentials.close();
  });

  it('logs in with a biometric signature over the process id, once', async () => {
    const app = await newPhone();
    const user = await register(app);
    const l = loginSvc(app);
    const a = authn(app);
    const { process } = await unary(l, l.prepareLogin, { userToken: user.userToken });
    expect(process?.authentications[0]?.type).toBe(AuthenticationType.BIO);
    const processId = process!.processId;
    const signature = sign('sha256', biometricChallenge(processId), user.bio.privateKey).toString('base64');

    // An altered signature, or one over another process's challenge, is refused.
    const altered = Buffer.from(signature, 'base64');
    altered[altered.length - 1]! ^= 1;
    const bad = await refusal(unary(a, a.authenticateBiometricForLogin, { userToken: user.userToken, processId, signature: altered.toString('base64') }));
    expect(apiErrorCode(bad, AuthenticateBiometricForLoginApiError)).toBe(AuthenticateBiometricForLoginApiError_ErrorCode.AUTHENTICATION_FAILED);

    const done = await unary(a, a.authenticateBiometricForLogin, { userToken: user.userToken, processId, signature });
    expect(done.process?.status).toBe(AuthenticationProcess_ProcessStatus.DONE);
    const session = await unary(l, l.login, { userToken: user.userToken, processId });
    secretsSeen.push(session.sessionToken, session.refreshToken);

    // The same signature on a new process: another challenge, refused.
    const next = await unary(l, l.prepareLogin, { userToken: user.userToken });
    const replay = await refusal(unary(a, a.authenticateBiometricForLogin, { userToken: user.userToken, processId: next.process!.processId, signature }));
    expect(apiErrorCode(replay, AuthenticateBiometricForLoginApiError)).toBe(AuthenticateBiometricForLoginApiError_ErrorCode.AUTHENTICATION_FAILED);
    // The DONE process cannot log in twice.
    const twice = await refusal(unary(l, l.login, { userToken: user.userToken, processId }));
    expect(apiErrorCode(twice, LoginApiError)).toBe(LoginApiError_ErrorCode.AUTHENTICATION_FAILED);

    // Deactivate through a PIN-authenticated process; login then asks for PIN, not BIO.
    const b = app.client(BiometricServiceClient);
    const prep = await unary(b, b.prepareDeactivateBiometric, {}, bearer(session.sessionToken));
    await unary(a, a.authenticatePin, { processId: prep.process!.processId, pin: await app.encrypt(AUTH, PIN) }, bearer(session.sessionToken));
    await unary(b, b.deactivateBiometric, { processId: prep.process!.processId }, bearer(session.sessionToken));
    const pinLogin = await unary(l, l.prepareLogin, { userToken: user.userToken });
    expect(pinLogin.process?.authentications[0]?.type).toBe(AuthenticationType.PIN);
    const notDefined = await refusal(
      unary(a, a.authenticateBiometricForLogin, {
        userToken: user.userToken,
        processId: pinLogin.process!.processId,
        signature: sign('sha256', biometricChallenge(pinLogin.process!.processId), user.bio.privateKey).toString('base64'),
      }),
    );
    expect(apiErrorCode(notDefined, AuthenticateBiometricForLoginApiError)).toBe(AuthenticateBiometricForLoginApiError_ErrorCode.AUTHENTICATION_TYPE_NOT_DEFINED);

    // Activate again with a new key.
    const newBio = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const act = await unary(b, b.prepareActivateBiometric, {}, bearer(session.sessionToken));
    await unary(a, a.authenticatePin, { processId: act.process!.processId, pin: await app.encrypt(AUTH, PIN) }, bearer(session.sessionToken));
    const spki = (newBio.publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64');
    await unary(b, b.activateBiometric, { processId: act.process!.processId, publicKey: await app.encrypt(AUTH, spki) }, bearer(session.sessionToken));
    const bioAgain = await unary(l, l.prepareLogin, { userToken: user.userToken });
    expect(bioAgain.process?.authentications[0]?.type).toBe(AuthenticationType.BIO);
  });

  it('moves a user to a new device, revoking the old device and its sessions', async () => {
    const oldPhone = await newPhone();
    const user = await register(oldPhone);
    const session = await loginWithPin(oldPhone, user.userToken);
    const newPhoneApp = await newPhone();
    const dc = newPhoneApp.client(DeviceChangeServiceClient);

    const same = await refusal(unary(oldPhone.client(DeviceChangeServiceClient), oldPhone.client(DeviceChangeServiceClient).prepareDeviceChange, { userToken: user.userToken, deviceUuid: { id: 'x' } }));
    expect(apiErrorCode(same, PrepareDeviceChangeApiError)).toBe(PrepareDeviceChangeApiError_ErrorCode.DEVICE_CHANGE_NOT_ALLOWED);

    const { process } = await unary(dc, dc.prepareDeviceChange, { userToken: user.userToken, deviceUuid: { id: 'new-uuid' } });
    const a = authn(newPhoneApp);
    // Not yet authenticated: the process cannot be used.
    const early = await refusal(unary(dc, dc.changeDevice, { userToken: user.userToken, processId: process!.processId }));
    expect(apiErrorCode(early, ChangeDeviceApiError)).toBe(0 /* AUTHENTICATION_FAILED */);
    await unary(a, a.authenticatePinForLogin, { userToken: user.userToken, processId: process!.processId, pin: await newPhoneApp.encrypt(AUTH, PIN) });
    await unary(dc, dc.changeDevice, { userToken: user.userToken, processId: process!.processId });
    expect(users.users.get(user.userId)?.deviceId).toBe(newPhoneApp.device!.deviceId);

    // The old device's certificate is revoked: even a device-level call is refused.
    const l = loginSvc(oldPhone);
    const old = await refusal(unary(l, l.prepareLogin, { userToken: user.userToken }));
    expect(old.code).toBe(grpc.status.UNAUTHENTICATED);
    void session;
    // The new device logs in (biometric was bound to the old device: PIN now).
    const fresh = await loginWithPin(newPhoneApp, user.userToken);
    expect(fresh.sessionToken).not.toBe('');
  });

  it('answers each registration error with its seed code', async () => {
    const app = await newPhone();
    const r = reg(app);
    const base = { idpType: 'mobile', idpName: 'sandbox', name: 'Lee', phoneNumber: PHONE, verificationHint: '123456', deviceUuid: { id: 'u' } };
    const hint = await refusal(unary(r, r.createUser, { ...base, verificationHint: '' }));
    expect(apiErrorCode(hint, CreateUserApiError)).toBe(CreateUserApiError_ErrorCode.USER_VERIFICATION_HINT_REQUIRED);
    const uuid = await refusal(unary(r, r.createUser, { ...base, deviceUuid: undefined }));
    expect(apiErrorCode(uuid, CreateUserApiError)).toBe(CreateUserApiError_ErrorCode.USER_DEVICE_UUID_REQUIRED);
    const failed = await refusal(unary(r, r.createUser, { ...base, verificationHint: '000000' }));
    expect(failed.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(apiErrorCode(failed, CreateUserApiError)).toBe(CreateUserApiError_ErrorCode.USER_VERIFICATION_FAILED);

    const unknown = await refusal(unary(r, r.registerPin, { userToken: 'nope', pin: await app.encrypt(AUTH, PIN) }));
    expect(apiErrorCode(unknown, RegisterPinApiError)).toBe(RegisterPinApiError_ErrorCode.USER_REGISTRATION_NOT_FOUND);

    const { userToken } = await createUser(app);
    // Another device holding this user token sees no registration.
    const other = await newPhone();
    const stolen = await refusal(unary(reg(other), reg(other).registerPin, { userToken, pin: await other.encrypt(AUTH, PIN) }));
    expect(apiErrorCode(stolen, RegisterPinApiError)).toBe(RegisterPinApiError_ErrorCode.USER_REGISTRATION_NOT_FOUND);

    await agree(app, userToken);
    const invalid = await refusal(unary(r, r.registerPin, { userToken, pin: await app.encrypt(AUTH, '12345') }));
    expect(apiErrorCode(invalid, RegisterPinApiError)).toBe(RegisterPinApiError_ErrorCode.INVALID_USER_PIN);
    const weak = await refusal(unary(r, r.registerPin, { userToken, pin: await app.encrypt(AUTH, '135790') }));
    expect(apiErrorCode(weak, RegisterPinApiError)).toBe(RegisterPinApiError_ErrorCode.WEAK_USER_PIN);
    await unary(r, r.registerPin, { userToken, pin: await app.encrypt(AUTH, PIN) });
    const mismatch = await refusal(unary(r, r.confirmPin, { userToken, pin: await app.encrypt(AUTH, '582917') }));
    expect(apiErrorCode(mismatch, ConfirmPinApiError)).toBe(ConfirmPinApiError_ErrorCode.USER_PIN_MISMATCH);

    const badPattern = await refusal(unary(r, r.registerPattern, { userToken, pattern: await app.encrypt(AUTH, '30482') }));
    expect(apiErrorCode(badPattern, RegisterPatternApiError)).toBe(RegisterPatternApiError_ErrorCode.INVALID_USER_PATTERN);
    const weakPattern = await refusal(unary(r, r.registerPattern, { userToken, pattern: await app.encrypt(AUTH, '2147') }));
    expect(apiErrorCode(weakPattern, RegisterPatternApiError)).toBe(RegisterPatternApiError_ErrorCode.WEAK_USER_PATTERN);
    await unary(r, r.registerPattern, { userToken, pattern: await app.encrypt(AUTH, PATTERN) });
    const patternMismatch = await refusal(unary(r, r.confirmPattern, { userToken, pattern: await app.encrypt(AUTH, '0148') }));
    expect(apiErrorCode(patternMismatch, ConfirmPatternApiError)).toBe(ConfirmPatternApiError_ErrorCode.USER_PATTERN_MISMATCH);

    const csr = await refusal(unary(r, r.issueSigningCertificate, { userToken, csr: 'MIIBnotacsr' }));
    expect(apiErrorCode(csr, IssueSigningCertificateApiError)).toBe(IssueSigningCertificateApiError_ErrorCode.INVALID_SIGNING_CSR);
    const noCert = await refusal(unary(r, r.verifySigningCertificate, { userToken, signedData: 'MIIB' }));
    expect(apiErrorCode(noCert, VerifySigningCertificateApiError)).toBe(VerifySigningCertificateApiError_ErrorCode.SIGNING_CERTIFICATE_NOT_FOUND);

    // A signature by another key over the token: refused, and the token is used up.
    const { csr: goodCsr } = await signingKey();
    const issued = await unary(r, r.issueSigningCertificate, { userToken, csr: goodCsr });
    const stranger = await signingKey();
    const strangerCert = await (async () => {
      const o = await newPhone();
      const created = await createUser(o);
      await agree(o, created.userToken);
      return unary(reg(o), reg(o).issueSigningCertificate, { userToken: created.userToken, csr: stranger.csr });
    })();
    const wrongSigner = await signData({ content: Buffer.from(issued.verificationToken), certificateDer: Buffer.from(strangerCert.certificate, 'base64'), privateKey: stranger.keyPair.privateKey, detached: false });
    const refused = await refusal(unary(r, r.verifySigningCertificate, { userToken, signedData: wrongSigner.base64 }));
    expect(apiErrorCode(refused, VerifySigningCertificateApiError)).toBe(VerifySigningCertificateApiError_ErrorCode.SIGNING_CERTIFICATE_VERIFICATION_FAILED);
    const spent = await refusal(unary(r, r.verifySigningCertificate, { userToken, signedData: wrongSigner.base64 }));
    expect(apiErrorCode(spent, VerifySigningCertificateApiError)).toBe(VerifySigningCertificateApiError_ErrorCode.SIGNING_CERTIFICATE_NOT_FOUND);
  });

  it('answers ALREADY_REGISTERED_USER once the user is activated, and USER_REGISTRATION_EXPIRED after the TTL', async () => {
    const app = await newPhone();
    const user = await register(app);
    const r = reg(app);
    const again = await refusal(unary(r, r.registerPin, { userToken: user.userToken, pin: await app.encrypt(AUTH, PIN) }));
    expect(apiErrorCode(again, RegisterPinApiError)).toBe(RegisterPinApiError_ErrorCode.ALREADY_REGISTERED_USER);

    const late = await newPhone();
    const created = await createUser(late);
    await running.db.kysely('auth').updateTable('registrations').set({ expires_at: new Date(Date.now() - 1000) }).where('user_id', '=', String(created.userId)).execute();
    const expired = await refusal(unary(reg(late), reg(late).registerPin, { userToken: created.userToken, pin: await late.encrypt(AUTH, PIN) }));
    expect(expired.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(apiErrorCode(expired, RegisterPinApiError)).toBe(RegisterPinApiError_ErrorCode.USER_REGISTRATION_EXPIRED);
  });

  it(`evaluates at most ${MAX_ATTEMPTS} of ${MAX_ATTEMPTS + 50} racing wrong PINs, then refuses the right one and blocks the user`, async () => {
    const app = await newPhone();
    const user = await register(app);
    const l = loginSvc(app);
    const a = authn(app);
    const { process } = await unary(l, l.prepareLogin, { userToken: user.userToken });
    // Biometric login is on for this user; PIN is its fallback.
    const wrong = await app.encrypt(AUTH, '582917');
    const results = await Promise.allSettled(
      Array.from({ length: MAX_ATTEMPTS + 50 }, () => unary(a, a.authenticatePinForLogin, { userToken: user.userToken, processId: process!.processId, pin: wrong })),
    );
    for (const result of results) {
      expect(result.status).toBe('rejected');
      const err = (result as PromiseRejectedResult).reason as grpc.ServiceError;
      expect(apiErrorCode(err, AuthenticatePinForLoginApiError)).toBe(AuthenticatePinForLoginApiError_ErrorCode.AUTHENTICATION_FAILED);
    }
    const row = await running.db
      .kysely('auth')
      .selectFrom('secret_credentials')
      .select(['failures', 'locked'])
      .where('user_id', '=', String(user.userId))
      .where('kind', '=', 'pin')
      .executeTakeFirstOrThrow();
    expect(row.failures).toBe(MAX_ATTEMPTS);
    expect(row.locked).toBe(true);
    expect(users.users.get(user.userId)?.status).toBe(UserStatus.BLOCKED);

    const right = await refusal(unary(a, a.authenticatePinForLogin, { userToken: user.userToken, processId: process!.processId, pin: await app.encrypt(AUTH, PIN) }));
    expect(apiErrorCode(right, AuthenticatePinForLoginApiError)).toBe(AuthenticatePinForLoginApiError_ErrorCode.AUTHENTICATION_FAILED);
  });

  it('makes unknown user, wrong PIN and locked user look alike', async () => {
    const app = await newPhone();
    const user = await register(app);
    const l = loginSvc(app);
    const a = authn(app);
    const { process } = await unary(l, l.prepareLogin, { userToken: user.userToken });
    const processId = process!.processId;
    const wrongPin = await refusal(unary(a, a.authenticatePinForLogin, { userToken: user.userToken, processId, pin: await app.encrypt(AUTH, '582917') }));
    const unknownUser = await refusal(unary(a, a.authenticatePinForLogin, { userToken: 'no-such-user-token', processId, pin: await app.encrypt(AUTH, PIN) }));
    for (let i = 1; i < MAX_ATTEMPTS; i++) await refusal(unary(a, a.authenticatePinForLogin, { userToken: user.userToken, processId, pin: await app.encrypt(AUTH, '582917') }));
    const locked = await refusal(unary(a, a.authenticatePinForLogin, { userToken: user.userToken, processId, pin: await app.encrypt(AUTH, PIN) }));
    const shape = (e: grpc.ServiceError) => ({ code: e.code, detail: apiErrorCode(e, AuthenticatePinForLoginApiError), message: e.details });
    expect(shape(unknownUser)).toEqual(shape(wrongPin));
    expect(shape(locked)).toEqual(shape(wrongPin));
    expect(shape(wrongPin).detail).toBe(AuthenticatePinForLoginApiError_ErrorCode.AUTHENTICATION_FAILED);
  });

  it('fails closed with UNAVAILABLE when the user service is down, and issues no session', async () => {
    const app = await newPhone();
    const user = await register(app);
    const l = loginSvc(app);
    const a = authn(app);
    const { process } = await unary(l, l.prepareLogin, { userToken: user.userToken });
    users.down = true;
    try {
      const err = await refusal(unary(a, a.authenticatePinForLogin, { userToken: user.userToken, processId: process!.processId, pin: await app.encrypt(AUTH, PIN) }));
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
      const login = await refusal(unary(l, l.login, { userToken: user.userToken, processId: process!.processId }));
      expect(login.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      users.down = false;
    }
    const notDone = await refusal(unary(l, l.login, { userToken: user.userToken, processId: process!.processId }));
    expect(apiErrorCode(notDone, LoginApiError)).toBe(LoginApiError_ErrorCode.AUTHENTICATION_FAILED);
  });

  it('keeps PINs, patterns, tokens and keys out of the logs', () => {
    const text = logs.text();
    expect(text).toContain('registration completed');
    for (const secret of [PIN, PATTERN, ...secretsSeen]) expect(text).not.toContain(`"${secret}"`);
    for (const secret of secretsSeen) expect(text).not.toContain(secret.slice(-24));
    expect(text).not.toContain('PRIVATE KEY');
  });

  // Last: it closes the store the process uses.
  it('fails closed with UNAVAILABLE when the store is down', async () => {
    const app = await newPhone();
    const user = await register(app);
    const l = loginSvc(app);
    const { process } = await unary(l, l.prepareLogin, { userToken: user.userToken });
    await store.close();
    const err = await refusal(unary(authn(app), authn(app).authenticatePinForLogin, { userToken: user.userToken, processId: process!.processId, pin: await app.encrypt(AUTH, PIN) }));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
  });
});
