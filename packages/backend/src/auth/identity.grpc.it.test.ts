// The identity flows as the phone drives them: over TLS, with real device certificates from the
// device service, E2E-encrypted secrets, and the real user service (users, sessions, processes).
import { generateKeyPairSync, sign } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unary } from '@kfrm/app-client';
import { createCsr, signData } from '@kfrm/pki';
import { ecKeys, nestedSequences, rsaKeys } from '@kfrm/pki/testing/signing.fixtures';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import {
  BiometricServiceClient,
  ChangeDeviceApiError,
  ChangeDeviceApiError_ErrorCode,
  ConfirmPatternApiError,
  ConfirmPatternApiError_ErrorCode,
  ConfirmPinApiError,
  ConfirmPinApiError_ErrorCode,
  CreateUserApiError,
  CreateUserApiError_ErrorCode,
  DeviceChangeServiceClient,
  IssueSigningCertificateApiError,
  IssueSigningCertificateApiError_ErrorCode,
  LoginApiError,
  LoginApiError_ErrorCode,
  PrepareDeviceChangeApiError,
  PrepareDeviceChangeApiError_ErrorCode,
  RefreshSessionApiError,
  RefreshSessionApiError_ErrorCode,
  RegisterPatternApiError,
  RegisterPatternApiError_ErrorCode,
  RegisterPinApiError,
  RegisterPinApiError_ErrorCode,
  VerifySigningCertificateApiError,
  VerifySigningCertificateApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/auth/auth';
import {
  CredentialServiceClient,
  GetActiveSigningCertificateApiError,
  GetActiveSigningCertificateApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/auth/auth_internal';
import {
  AuthenticateBiometricApiError,
  AuthenticateBiometricApiError_ErrorCode,
  AuthenticatePatternApiError,
  AuthenticatePatternApiError_ErrorCode,
  AuthenticatePinApiError,
  AuthenticatePinApiError_ErrorCode,
  AuthenticateBiometricForLoginApiError,
  AuthenticateBiometricForLoginApiError_ErrorCode,
  AuthenticatePinForLoginApiError,
  AuthenticatePinForLoginApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import {
  AuthenticatedTransactionType,
  AuthenticationProcess_ProcessStatus,
  AuthenticationType,
  EncryptedMessage_ProviderType,
} from '@kfrm/proto/gen/kfrm/api/common/common';
import { FindBySessionTokenApiError, FindBySessionTokenApiError_ErrorCode, UserServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user';
import { ProcessStepServiceClient, UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { apiErrorCode } from '@kfrm/server-kit';
import { userModule } from '@kfrm/service-user';
import { biometricChallenge } from '@kfrm/service-auth/identity/biometric-key';
import {
  AUTH,
  PATTERN,
  PHONE,
  PIN,
  WRONG_PIN,
  authn,
  bearer,
  loginSvc,
  reg,
  refusal,
  startIdentityHarness,
  type IdentityHarness,
} from '../testing/identity.harness';

const MAX_ATTEMPTS = 5;

describe('identity over gRPC', () => {
  let h: IdentityHarness;

  beforeAll(async () => {
    h = await startIdentityHarness(userModule, { settings: { secretChecksPerDeviceWindow: 1_000, maxSecretAttempts: MAX_ATTEMPTS } });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  /** The user service's record, as its table has it. */
  const userRow = (userId: bigint) =>
    h.running.db
      .kysely('users')
      .selectFrom('users')
      .select(['status', 'device_id'])
      .where('id', '=', String(userId))
      .executeTakeFirstOrThrow();

  it('registers a user, logs in with the PIN and refreshes the session', async () => {
    const app = await h.newPhone();
    const user = await h.register(app);
    expect(user.userId).toBeGreaterThan(0n);
    expect(user.customerId).not.toBe('');
    expect((await userRow(user.userId)).status).toBe('ACTIVATED');

    const session = await h.loginWithPin(app, user.userToken);
    expect(session.userInfo?.userName).toMatch(/^Kim /);
    expect(new Date(session.sessionExpiredAt).getTime()).toBeGreaterThan(Date.now());

    const l = loginSvc(app);
    const refreshed = await unary(l, l.refreshSession, { refreshToken: session.refreshToken });
    expect(refreshed.refreshToken).not.toBe(session.refreshToken);
    h.secretsSeen.push(refreshed.sessionToken, refreshed.refreshToken);
    // The old refresh token again: refused, and the whole family with it.
    const reused = await refusal(unary(l, l.refreshSession, { refreshToken: session.refreshToken }));
    expect(reused.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(apiErrorCode(reused, RefreshSessionApiError)).toBe(RefreshSessionApiError_ErrorCode.INVALID_LOGIN_SESSION);
    const family = await refusal(unary(l, l.refreshSession, { refreshToken: refreshed.refreshToken }));
    expect(apiErrorCode(family, RefreshSessionApiError)).toBe(RefreshSessionApiError_ErrorCode.INVALID_LOGIN_SESSION);

    // The user service reads the active signing certificate on the internal listener.
    const credentials = new CredentialServiceClient(`127.0.0.1:${h.running.internalPort}`, h.identity.as('user'));
    const active = await unary(credentials, credentials.getActiveSigningCertificate, { userId: user.userId });
    expect(active.certificate).toBe(user.certificate);
    const none = await refusal(unary(credentials, credentials.getActiveSigningCertificate, { userId: 999_999n }));
    expect(apiErrorCode(none, GetActiveSigningCertificateApiError)).toBe(
      GetActiveSigningCertificateApiError_ErrorCode.SIGNING_CERTIFICATE_NOT_FOUND,
    );
    credentials.close();
  });

  it('logs in with a biometric signature over the process id, once', async () => {
    const app = await h.newPhone();
    const user = await h.register(app);
    const l = loginSvc(app);
    const a = authn(app);
    const { process } = await unary(l, l.prepareLogin, { userToken: user.userToken });
    expect(process?.authentications[0]?.type).toBe(AuthenticationType.BIO);
    const processId = process!.processId;
    const signature = sign('sha256', biometricChallenge(processId), user.bio.privateKey).toString('base64');

    // An altered signature, or one over another process's challenge, is refused.
    const altered = Buffer.from(signature, 'base64');
    altered[altered.length - 1]! ^= 1;
    const bad = await refusal(
      unary(a, a.authenticateBiometricForLogin, { userToken: user.userToken, processId, signature: altered.toString('base64') }),
    );
    expect(apiErrorCode(bad, AuthenticateBiometricForLoginApiError)).toBe(
      AuthenticateBiometricForLoginApiError_ErrorCode.AUTHENTICATION_FAILED,
    );

    const done = await unary(a, a.authenticateBiometricForLogin, { userToken: user.userToken, processId, signature });
    expect(done.process?.status).toBe(AuthenticationProcess_ProcessStatus.DONE);
    const session = await unary(l, l.login, { userToken: user.userToken, processId });
    h.secretsSeen.push(session.sessionToken, session.refreshToken);

    // The same signature on a new process: another challenge, refused.
    const next = await unary(l, l.prepareLogin, { userToken: user.userToken });
    const replay = await refusal(
      unary(a, a.authenticateBiometricForLogin, { userToken: user.userToken, processId: next.process!.processId, signature }),
    );
    expect(apiErrorCode(replay, AuthenticateBiometricForLoginApiError)).toBe(
      AuthenticateBiometricForLoginApiError_ErrorCode.AUTHENTICATION_FAILED,
    );
    // The DONE process cannot log in twice.
    const twice = await refusal(unary(l, l.login, { userToken: user.userToken, processId }));
    expect(apiErrorCode(twice, LoginApiError)).toBe(LoginApiError_ErrorCode.AUTHENTICATION_FAILED);

    // Deactivate through a PIN-authenticated process; login then asks for PIN, not BIO.
    const b = app.client(BiometricServiceClient);
    const prep = await unary(b, b.prepareDeactivateBiometric, {}, bearer(session.sessionToken));
    await unary(
      a,
      a.authenticatePin,
      { processId: prep.process!.processId, pin: await app.encrypt(AUTH, PIN) },
      bearer(session.sessionToken),
    );
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
    expect(apiErrorCode(notDefined, AuthenticateBiometricForLoginApiError)).toBe(
      AuthenticateBiometricForLoginApiError_ErrorCode.AUTHENTICATION_TYPE_NOT_DEFINED,
    );

    // Activate again with a new key.
    const newBio = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const act = await unary(b, b.prepareActivateBiometric, {}, bearer(session.sessionToken));
    await unary(
      a,
      a.authenticatePin,
      { processId: act.process!.processId, pin: await app.encrypt(AUTH, PIN) },
      bearer(session.sessionToken),
    );
    const spki = (newBio.publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64');
    await unary(
      b,
      b.activateBiometric,
      { processId: act.process!.processId, publicKey: await app.encrypt(AUTH, spki) },
      bearer(session.sessionToken),
    );
    const bioAgain = await unary(l, l.prepareLogin, { userToken: user.userToken });
    expect(bioAgain.process?.authentications[0]?.type).toBe(AuthenticationType.BIO);
  });

  it("a biometric key on the device is its own user's only: another user of the device logs in with the PIN (ADR 0021)", async () => {
    const app = await h.newPhone();
    const withKey = await h.register(app);
    const withoutKey = await h.register(app, { biometric: false });
    const l = loginSvc(app);
    const first = await unary(l, l.prepareLogin, { userToken: withKey.userToken });
    expect(first.process?.authentications[0]?.type).toBe(AuthenticationType.BIO);
    const second = await unary(l, l.prepareLogin, { userToken: withoutKey.userToken });
    expect(second.process?.authentications[0]?.type).toBe(AuthenticationType.PIN);
    const session = await h.loginWithPin(app, withoutKey.userToken);
    h.secretsSeen.push(session.sessionToken, session.refreshToken);
  });

  it('moves a user to a new device, revoking the old device and its sessions', async () => {
    const oldPhone = await h.newPhone();
    const user = await h.register(oldPhone);
    const session = await h.loginWithPin(oldPhone, user.userToken);
    const newPhoneApp = await h.newPhone();
    const dc = newPhoneApp.client(DeviceChangeServiceClient);

    const same = await refusal(
      unary(oldPhone.client(DeviceChangeServiceClient), oldPhone.client(DeviceChangeServiceClient).prepareDeviceChange, {
        userToken: user.userToken,
        deviceUuid: { id: 'x' },
      }),
    );
    expect(apiErrorCode(same, PrepareDeviceChangeApiError)).toBe(PrepareDeviceChangeApiError_ErrorCode.DEVICE_CHANGE_NOT_ALLOWED);

    const { process } = await unary(dc, dc.prepareDeviceChange, { userToken: user.userToken, deviceUuid: { id: 'uuid-b' } });
    const a = authn(newPhoneApp);
    // Not yet authenticated: the process cannot be used.
    const early = await refusal(unary(dc, dc.changeDevice, { userToken: user.userToken, processId: process!.processId }));
    expect(apiErrorCode(early, ChangeDeviceApiError)).toBe(ChangeDeviceApiError_ErrorCode.AUTHENTICATION_FAILED);
    await unary(a, a.authenticatePinForLogin, {
      userToken: user.userToken,
      processId: process!.processId,
      pin: await newPhoneApp.encrypt(AUTH, PIN),
    });
    await unary(dc, dc.changeDevice, { userToken: user.userToken, processId: process!.processId });
    expect((await userRow(user.userId)).device_id).toBe(String(newPhoneApp.device!.deviceId));

    // The old device's certificate is revoked: even a device-level call is refused.
    const l = loginSvc(oldPhone);
    const old = await refusal(unary(l, l.prepareLogin, { userToken: user.userToken }));
    expect(old.code).toBe(grpc.status.UNAUTHENTICATED);
    void session;
    // The new device logs in (biometric was bound to the old device: PIN now).
    const fresh = await h.loginWithPin(newPhoneApp, user.userToken);
    expect(fresh.sessionToken).not.toBe('');

    // The new phone's DeviceUUID is the registered one now: reinstalling the app on it (a new
    // device certificate, phone C to the server, sending "uuid-b") is an app reinstall.
    const internalAddress = `127.0.0.1:${h.running.internalPort}`;
    const accounts = new UserAccountServiceClient(internalAddress, h.identity.as('auth'));
    const steps = new ProcessStepServiceClient(internalAddress, h.identity.as('auth'));
    expect((await unary(accounts, accounts.findByUserToken, { userToken: user.userToken })).deviceUuid).toBe('uuid-b');
    const reinstalled = await h.newPhone();
    const rdc = reinstalled.client(DeviceChangeServiceClient);
    const reinstall = await unary(rdc, rdc.prepareDeviceChange, { userToken: user.userToken, deviceUuid: { id: 'uuid-b' } });
    const running = await unary(steps, steps.getRunningProcess, { processId: reinstall.process!.processId, userId: user.userId });
    expect(running.transactionType).toBe(AuthenticatedTransactionType.REINSTALL_APP);
    await unary(authn(reinstalled), authn(reinstalled).authenticatePinForLogin, {
      userToken: user.userToken,
      processId: reinstall.process!.processId,
      pin: await reinstalled.encrypt(AUTH, PIN),
    });
    await unary(rdc, rdc.changeDevice, { userToken: user.userToken, processId: reinstall.process!.processId });
    expect((await userRow(user.userId)).device_id).toBe(String(reinstalled.device!.deviceId));
    // A reinstall keeps the UUID.
    expect((await unary(accounts, accounts.findByUserToken, { userToken: user.userToken })).deviceUuid).toBe('uuid-b');
    accounts.close();
    steps.close();
  });

  it('runs an app reinstall (same DeviceUUID, new device certificate) as a REINSTALL_APP process, and another UUID as CHANGE_DEVICE', async () => {
    const internalAddress = `127.0.0.1:${h.running.internalPort}`;
    const accounts = new UserAccountServiceClient(internalAddress, h.identity.as('auth'));
    const steps = new ProcessStepServiceClient(internalAddress, h.identity.as('auth'));
    const users = new UserServiceClient(internalAddress, h.identity.as('auth'));
    const typeOf = async (processId: string, userId: bigint) =>
      (await unary(steps, steps.getRunningProcess, { processId, userId })).transactionType;

    const oldApp = await h.newPhone();
    const user = await h.register(oldApp);
    const oldSession = await h.loginWithPin(oldApp, user.userToken);
    // The DeviceUUID.id the user registered with, as the user service keeps it.
    const { deviceUuid } = await unary(accounts, accounts.findByUserToken, { userToken: user.userToken });
    expect(deviceUuid).not.toBe('');
    expect((await unary(users, users.findBySessionToken, { sessionToken: oldSession.sessionToken })).userSession?.userId).toBe(user.userId);

    // Reinstalled: a new key and device certificate, the same phone's DeviceUUID.
    const reinstalled = await h.newPhone();
    expect(reinstalled.device!.deviceId).not.toBe(oldApp.device!.deviceId);
    const dc = reinstalled.client(DeviceChangeServiceClient);
    const { process } = await unary(dc, dc.prepareDeviceChange, { userToken: user.userToken, deviceUuid: { id: deviceUuid } });
    const processId = process!.processId;
    expect(await typeOf(processId, user.userId)).toBe(AuthenticatedTransactionType.REINSTALL_APP);
    const done = await unary(authn(reinstalled), authn(reinstalled).authenticatePinForLogin, {
      userToken: user.userToken,
      processId,
      pin: await reinstalled.encrypt(AUTH, PIN),
    });
    expect(done.process?.status).toBe(AuthenticationProcess_ProcessStatus.DONE);
    await unary(dc, dc.changeDevice, { userToken: user.userToken, processId });
    expect((await userRow(user.userId)).device_id).toBe(String(reinstalled.device!.deviceId));
    // Consumed once.
    const again = await refusal(unary(dc, dc.changeDevice, { userToken: user.userToken, processId }));
    expect(apiErrorCode(again, ChangeDeviceApiError)).toBe(ChangeDeviceApiError_ErrorCode.DEVICE_CHANGE_NOT_ALLOWED);

    // The old installation's certificate is refused, and its session is over.
    const oldLogin = await refusal(unary(loginSvc(oldApp), loginSvc(oldApp).prepareLogin, { userToken: user.userToken }));
    expect(oldLogin.code).toBe(grpc.status.UNAUTHENTICATED);
    const ended = await refusal(unary(users, users.findBySessionToken, { sessionToken: oldSession.sessionToken }));
    expect(apiErrorCode(ended, FindBySessionTokenApiError)).toBe(FindBySessionTokenApiError_ErrorCode.LOGIN_SESSION_EXPIRED);
    // The reinstalled app logs in (with the PIN: the biometric key stayed with the old install).
    const fresh = await h.loginWithPin(reinstalled, user.userToken);
    expect((await unary(users, users.findBySessionToken, { sessionToken: fresh.sessionToken })).userSession?.deviceId).toBe(
      reinstalled.device!.deviceId,
    );

    // Another phone (another DeviceUUID) is a device change.
    const otherPhone = await h.newPhone();
    const other = otherPhone.client(DeviceChangeServiceClient);
    const change = await unary(other, other.prepareDeviceChange, {
      userToken: user.userToken,
      deviceUuid: { id: `${deviceUuid}-other-phone` },
    });
    expect(await typeOf(change.process!.processId, user.userId)).toBe(AuthenticatedTransactionType.CHANGE_DEVICE);
    for (const c of [accounts, steps, users]) c.close();
  });

  it('answers each registration error with its seed code', async () => {
    const app = await h.newPhone();
    const r = reg(app);
    const base = {
      idpType: 'mobile',
      idpName: 'sandbox',
      name: 'Lee',
      phoneNumber: PHONE,
      verificationHint: '123456',
      deviceUuid: { id: 'u' },
    };
    const hint = await refusal(unary(r, r.createUser, { ...base, verificationHint: '' }));
    expect(apiErrorCode(hint, CreateUserApiError)).toBe(CreateUserApiError_ErrorCode.USER_VERIFICATION_HINT_REQUIRED);
    const uuid = await refusal(unary(r, r.createUser, { ...base, deviceUuid: undefined }));
    expect(apiErrorCode(uuid, CreateUserApiError)).toBe(CreateUserApiError_ErrorCode.USER_DEVICE_UUID_REQUIRED);
    const failed = await refusal(unary(r, r.createUser, { ...base, verificationHint: '000000' }));
    expect(failed.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(apiErrorCode(failed, CreateUserApiError)).toBe(CreateUserApiError_ErrorCode.USER_VERIFICATION_FAILED);

    const unknown = await refusal(unary(r, r.registerPin, { userToken: 'nope', pin: await app.encrypt(AUTH, PIN) }));
    expect(apiErrorCode(unknown, RegisterPinApiError)).toBe(RegisterPinApiError_ErrorCode.USER_REGISTRATION_NOT_FOUND);

    const { userToken } = await h.createUser(app);
    // Another device holding this user token sees no registration.
    const other = await h.newPhone();
    const stolen = await refusal(unary(reg(other), reg(other).registerPin, { userToken, pin: await other.encrypt(AUTH, PIN) }));
    expect(apiErrorCode(stolen, RegisterPinApiError)).toBe(RegisterPinApiError_ErrorCode.USER_REGISTRATION_NOT_FOUND);

    await h.agree(app, userToken);
    const invalid = await refusal(unary(r, r.registerPin, { userToken, pin: await app.encrypt(AUTH, '12345') }));
    expect(apiErrorCode(invalid, RegisterPinApiError)).toBe(RegisterPinApiError_ErrorCode.INVALID_USER_PIN);
    const weak = await refusal(unary(r, r.registerPin, { userToken, pin: await app.encrypt(AUTH, '135790') }));
    expect(apiErrorCode(weak, RegisterPinApiError)).toBe(RegisterPinApiError_ErrorCode.WEAK_USER_PIN);
    await unary(r, r.registerPin, { userToken, pin: await app.encrypt(AUTH, PIN) });
    const mismatch = await refusal(unary(r, r.confirmPin, { userToken, pin: await app.encrypt(AUTH, WRONG_PIN) }));
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
    expect(apiErrorCode(noCert, VerifySigningCertificateApiError)).toBe(
      VerifySigningCertificateApiError_ErrorCode.SIGNING_CERTIFICATE_NOT_FOUND,
    );

    // A signature by another key over the token: refused, and the token is used up.
    const { csr: goodCsr } = await h.signingKey();
    const issued = await unary(r, r.issueSigningCertificate, { userToken, csr: goodCsr });
    const stranger = await h.signingKey();
    const strangerCert = await (async () => {
      const o = await h.newPhone();
      const created = await h.createUser(o);
      await h.agree(o, created.userToken);
      return unary(reg(o), reg(o).issueSigningCertificate, { userToken: created.userToken, csr: stranger.csr });
    })();
    const wrongSigner = await signData({
      content: Buffer.from(issued.verificationToken),
      certificateDer: Buffer.from(strangerCert.certificate, 'base64'),
      privateKey: stranger.keyPair.privateKey,
      detached: false,
    });
    const refused = await refusal(unary(r, r.verifySigningCertificate, { userToken, signedData: wrongSigner.base64 }));
    expect(apiErrorCode(refused, VerifySigningCertificateApiError)).toBe(
      VerifySigningCertificateApiError_ErrorCode.SIGNING_CERTIFICATE_VERIFICATION_FAILED,
    );
    const spent = await refusal(unary(r, r.verifySigningCertificate, { userToken, signedData: wrongSigner.base64 }));
    expect(apiErrorCode(spent, VerifySigningCertificateApiError)).toBe(
      VerifySigningCertificateApiError_ErrorCode.SIGNING_CERTIFICATE_NOT_FOUND,
    );
  });

  it('answers ALREADY_REGISTERED_USER once the user is activated, and USER_REGISTRATION_EXPIRED after the TTL', async () => {
    const app = await h.newPhone();
    const user = await h.register(app);
    const r = reg(app);
    const again = await refusal(unary(r, r.registerPin, { userToken: user.userToken, pin: await app.encrypt(AUTH, PIN) }));
    expect(apiErrorCode(again, RegisterPinApiError)).toBe(RegisterPinApiError_ErrorCode.ALREADY_REGISTERED_USER);

    const late = await h.newPhone();
    const created = await h.createUser(late);
    await h.running.db
      .kysely('auth')
      .updateTable('registrations')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('user_id', '=', String(created.userId))
      .execute();
    const expired = await refusal(
      unary(reg(late), reg(late).registerPin, { userToken: created.userToken, pin: await late.encrypt(AUTH, PIN) }),
    );
    expect(expired.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(apiErrorCode(expired, RegisterPinApiError)).toBe(RegisterPinApiError_ErrorCode.USER_REGISTRATION_EXPIRED);
  });

  it(`evaluates at most ${MAX_ATTEMPTS} of ${MAX_ATTEMPTS + 50} racing wrong PINs, then blocks the user`, async () => {
    const app = await h.newPhone();
    const user = await h.register(app);
    const l = loginSvc(app);
    const a = authn(app);
    const { process } = await unary(l, l.prepareLogin, { userToken: user.userToken });
    // Biometric login is on for this user; PIN is its fallback.
    // Each attempt encrypted on its own, as the app does: an E2E message opens only once.
    const attempts = await Promise.all(Array.from({ length: MAX_ATTEMPTS + 50 }, () => app.encrypt(AUTH, WRONG_PIN)));
    const results = await Promise.allSettled(
      attempts.map((wrong) =>
        unary(a, a.authenticatePinForLogin, { userToken: user.userToken, processId: process!.processId, pin: wrong }),
      ),
    );
    for (const result of results) {
      expect(result.status).toBe('rejected');
      const err = (result as PromiseRejectedResult).reason as grpc.ServiceError;
      // AUTHENTICATION_FAILED, or, once the user is BLOCKED and the device revoked, the guard's UNAUTHENTICATED.
      if (err.code !== grpc.status.UNAUTHENTICATED || apiErrorCode(err, AuthenticatePinForLoginApiError) !== undefined) {
        expect(apiErrorCode(err, AuthenticatePinForLoginApiError)).toBe(AuthenticatePinForLoginApiError_ErrorCode.AUTHENTICATION_FAILED);
      }
    }
    const row = await h.running.db
      .kysely('auth')
      .selectFrom('secret_credentials')
      .select(['failures', 'locked'])
      .where('user_id', '=', String(user.userId))
      .where('kind', '=', 'pin')
      .executeTakeFirstOrThrow();
    expect(row.failures).toBe(MAX_ATTEMPTS);
    expect(row.locked).toBe(true);
    expect((await userRow(user.userId)).status).toBe('BLOCKED');
    const after = await refusal(
      unary(a, a.authenticatePinForLogin, { userToken: user.userToken, processId: process!.processId, pin: await app.encrypt(AUTH, PIN) }),
    );
    expect(after.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('completes a process once for two racing right PINs, and counts two racing wrong PINs exactly', async () => {
    const app = await h.newPhone();
    const user = await h.register(app);
    const l = loginSvc(app);
    const a = authn(app);
    const pinFor = async (processId: string, pin: string) =>
      unary(a, a.authenticatePinForLogin, { userToken: user.userToken, processId, pin: await app.encrypt(AUTH, pin) });
    const { process } = await unary(l, l.prepareLogin, { userToken: user.userToken });
    // The login process has one step (biometric, PIN instead): two right PINs race for it.
    const right = await Promise.allSettled([PIN, PIN].map((pin) => pinFor(process!.processId, pin)));
    expect(right.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const row = await h.running.db
      .kysely('users')
      .selectFrom('processes')
      .select(['status', 'authentications'])
      .where('id', '=', process!.processId)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('DONE');
    expect((row.authentications as { status: string }[]).map((s) => s.status)).toEqual(['DONE']);
    const session = await unary(l, l.login, { userToken: user.userToken, processId: process!.processId });
    h.secretsSeen.push(session.sessionToken, session.refreshToken);

    const next = await unary(l, l.prepareLogin, { userToken: user.userToken });
    const wrong = await Promise.allSettled([WRONG_PIN, WRONG_PIN].map((pin) => pinFor(next.process!.processId, pin)));
    expect(wrong.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const credential = await h.running.db
      .kysely('auth')
      .selectFrom('secret_credentials')
      .select(['failures', 'locked'])
      .where('user_id', '=', String(user.userId))
      .where('kind', '=', 'pin')
      .executeTakeFirstOrThrow();
    expect(credential).toEqual({ failures: 2, locked: false });
    // And the process is still there to complete.
    await pinFor(next.process!.processId, PIN);
    h.secretsSeen.push((await unary(l, l.login, { userToken: user.userToken, processId: next.process!.processId })).sessionToken);
  });

  it('makes unknown user, wrong PIN and locked credential look alike, and refuses the right PIN once locked', async () => {
    const app = await h.newPhone();
    const user = await h.register(app);
    const l = loginSvc(app);
    const a = authn(app);
    const { process } = await unary(l, l.prepareLogin, { userToken: user.userToken });
    const processId = process!.processId;
    const attempt = async (userToken: string, pin: string) =>
      refusal(unary(a, a.authenticatePinForLogin, { userToken, processId, pin: await app.encrypt(AUTH, pin) }));
    const wrongPin = await attempt(user.userToken, WRONG_PIN);
    const unknownUser = await attempt('no-such-user-token', PIN);
    for (let i = 1; i < MAX_ATTEMPTS; i++) await attempt(user.userToken, WRONG_PIN);
    expect((await userRow(user.userId)).status).toBe('ACTIVATED');
    // The credential is locked now: the right PIN is refused, in the same words.
    const locked = await attempt(user.userToken, PIN);
    const shape = (e: grpc.ServiceError) => ({
      code: e.code,
      detail: apiErrorCode(e, AuthenticatePinForLoginApiError),
      message: e.details,
    });
    expect(shape(unknownUser)).toEqual(shape(wrongPin));
    expect(shape(locked)).toEqual(shape(wrongPin));
    expect(shape(wrongPin).detail).toBe(AuthenticatePinForLoginApiError_ErrorCode.AUTHENTICATION_FAILED);
    // That attempt on a locked credential blocked the user.
    expect((await userRow(user.userId)).status).toBe('BLOCKED');
  });

  it("never lets one user's token or session act on another user", async () => {
    const appA = await h.newPhone();
    const userA = await h.register(appA);
    const sessionA = await h.loginWithPin(appA, userA.userToken);
    const appB = await h.newPhone();
    const userB = await h.register(appB);
    // A's device with B's user token: not B's device, so no login process and no factor check.
    const l = loginSvc(appA);
    const prepare = await refusal(unary(l, l.prepareLogin, { userToken: userB.userToken }));
    expect(prepare.code).toBe(grpc.status.PERMISSION_DENIED);
    const { process: processB } = await unary(loginSvc(appB), loginSvc(appB).prepareLogin, { userToken: userB.userToken });
    const cross = await refusal(
      unary(authn(appA), authn(appA).authenticatePinForLogin, {
        userToken: userB.userToken,
        processId: processB!.processId,
        pin: await appA.encrypt(AUTH, PIN),
      }),
    );
    expect(apiErrorCode(cross, AuthenticatePinForLoginApiError)).toBe(AuthenticatePinForLoginApiError_ErrorCode.AUTHENTICATION_FAILED);
    // A's session on B's process: not A's process.
    const viaSession = await refusal(
      unary(
        authn(appA),
        authn(appA).authenticatePin,
        { processId: processB!.processId, pin: await appA.encrypt(AUTH, PIN) },
        bearer(sessionA.sessionToken),
      ),
    );
    expect(viaSession.code).toBe(grpc.status.FAILED_PRECONDITION);
    // A's session presented from B's device: refused by the guard.
    const b = appB.client(BiometricServiceClient);
    const foreign = await refusal(unary(b, b.prepareActivateBiometric, {}, bearer(sessionA.sessionToken)));
    expect(foreign.code).toBe(grpc.status.UNAUTHENTICATED);
    // B's login process cannot give A a session.
    const steal = await refusal(unary(l, l.login, { userToken: userA.userToken, processId: processB!.processId }));
    expect(apiErrorCode(steal, LoginApiError)).toBe(LoginApiError_ErrorCode.AUTHENTICATION_FAILED);
    // A's refresh token from B's device: refused (and A's family is revoked).
    const refresh = await refusal(unary(loginSvc(appB), loginSvc(appB).refreshSession, { refreshToken: sessionA.refreshToken }));
    expect(apiErrorCode(refresh, RefreshSessionApiError)).toBe(RefreshSessionApiError_ErrorCode.INVALID_LOGIN_SESSION);
  });

  it('runs the generic authentications on a transfer process: PIN and biometric, with their seed errors', async () => {
    const app = await h.newPhone();
    const user = await h.register(app);
    const session = await h.loginWithPin(app, user.userToken);
    const internal = new UserServiceClient(`127.0.0.1:${h.running.internalPort}`, h.identity.as('auth'));
    const transfer = async () =>
      (
        await unary(internal, internal.createProcess, {
          userId: user.userId,
          transactionType: AuthenticatedTransactionType.TRANSFER,
          transactionContext: '{"amount":{"currency_code":"KRW","major_amount":"1500000","minor_amount":"0"}}',
        })
      ).process!.processId;
    const a = authn(app);
    const auth = bearer(session.sessionToken);
    const bioSignature = (processId: string) => sign('sha256', biometricChallenge(processId), user.bio.privateKey).toString('base64');

    const processId = await transfer();
    const pattern = await refusal(unary(a, a.authenticatePattern, { processId, pattern: await app.encrypt(AUTH, PATTERN) }, auth));
    expect(apiErrorCode(pattern, AuthenticatePatternApiError)).toBe(AuthenticatePatternApiError_ErrorCode.AUTHENTICATION_TYPE_NOT_DEFINED);
    const half = await unary(a, a.authenticatePin, { processId, pin: await app.encrypt(AUTH, PIN) }, auth);
    expect(half.process?.status).toBe(AuthenticationProcess_ProcessStatus.IN_PROGRESS);
    const done = await unary(a, a.authenticateBiometric, { processId, signature: bioSignature(processId) }, auth);
    expect(done.process?.status).toBe(AuthenticationProcess_ProcessStatus.DONE);
    const finished = await refusal(unary(a, a.authenticatePin, { processId, pin: await app.encrypt(AUTH, PIN) }, auth));
    expect(apiErrorCode(finished, AuthenticatePinApiError)).toBe(AuthenticatePinApiError_ErrorCode.RUNNING_PROCESS_NOT_FOUND);
    const unknown = await refusal(
      unary(a, a.authenticateBiometric, { processId: 'no-such-process', signature: bioSignature('no-such-process') }, auth),
    );
    expect(apiErrorCode(unknown, AuthenticateBiometricApiError)).toBe(AuthenticateBiometricApiError_ErrorCode.RUNNING_PROCESS_NOT_FOUND);

    // Biometric turned off: the transfer's BIO step says so.
    const b = app.client(BiometricServiceClient);
    const off = await unary(b, b.prepareDeactivateBiometric, {}, auth);
    await unary(a, a.authenticatePin, { processId: off.process!.processId, pin: await app.encrypt(AUTH, PIN) }, auth);
    await unary(b, b.deactivateBiometric, { processId: off.process!.processId }, auth);
    // The DEACTIVATE process is used up.
    const reuse = await refusal(unary(b, b.deactivateBiometric, { processId: off.process!.processId }, auth));
    expect(reuse.code).toBe(grpc.status.PERMISSION_DENIED);
    const next = await transfer();
    const disabled = await refusal(unary(a, a.authenticateBiometric, { processId: next, signature: bioSignature(next) }, auth));
    expect(apiErrorCode(disabled, AuthenticateBiometricApiError)).toBe(AuthenticateBiometricApiError_ErrorCode.USER_BIOMETRIC_DISABLED);
    internal.close();
  });

  it('signs up an RSA device with RSA signing and biometric keys, without biometric it logs in with the pattern fallback', async () => {
    const rsaApp = await h.newPhone('rsa-2048');
    const rsaUser = await h.register(rsaApp, { biometric: 'rsa', signing: 'rsa' });
    const l = loginSvc(rsaApp);
    const { process } = await unary(l, l.prepareLogin, { userToken: rsaUser.userToken });
    const signature = sign('sha256', biometricChallenge(process!.processId), rsaUser.bio.privateKey).toString('base64');
    await unary(authn(rsaApp), authn(rsaApp).authenticateBiometricForLogin, {
      userToken: rsaUser.userToken,
      processId: process!.processId,
      signature,
    });
    await unary(l, l.login, { userToken: rsaUser.userToken, processId: process!.processId });

    const app = await h.newPhone();
    const user = await h.register(app, { biometric: false });
    const pl = loginSvc(app);
    const pinOrPattern = await unary(pl, pl.prepareLogin, { userToken: user.userToken });
    expect(pinOrPattern.process?.authentications).toEqual([
      expect.objectContaining({ type: AuthenticationType.PIN, fallback: AuthenticationType.PATTERN }),
    ]);
    const noBio = await refusal(
      unary(authn(app), authn(app).authenticateBiometricForLogin, {
        userToken: user.userToken,
        processId: pinOrPattern.process!.processId,
        signature: 'AAAA',
      }),
    );
    expect(apiErrorCode(noBio, AuthenticateBiometricForLoginApiError)).toBe(
      AuthenticateBiometricForLoginApiError_ErrorCode.AUTHENTICATION_TYPE_NOT_DEFINED,
    );
    const done = await unary(authn(app), authn(app).authenticatePatternForLogin, {
      userToken: user.userToken,
      processId: pinOrPattern.process!.processId,
      pattern: await app.encrypt(AUTH, PATTERN),
    });
    expect(done.process?.status).toBe(AuthenticationProcess_ProcessStatus.DONE);
    const session = await unary(pl, pl.login, { userToken: user.userToken, processId: pinOrPattern.process!.processId });
    h.secretsSeen.push(session.sessionToken, session.refreshToken);

    // With a session, a transfer needing BIO finds no biometric key.
    const internal = new UserServiceClient(`127.0.0.1:${h.running.internalPort}`, h.identity.as('auth'));
    const { process: transfer } = await unary(internal, internal.createProcess, {
      userId: user.userId,
      transactionType: AuthenticatedTransactionType.TRANSFER,
      transactionContext: '{"amount":{"currency_code":"KRW","major_amount":"1000","minor_amount":"0"}}',
    });
    internal.close();
    const missing = await refusal(
      unary(
        authn(app),
        authn(app).authenticateBiometric,
        { processId: transfer!.processId, signature: 'AAAA' },
        bearer(session.sessionToken),
      ),
    );
    expect(apiErrorCode(missing, AuthenticateBiometricApiError)).toBe(AuthenticateBiometricApiError_ErrorCode.USER_BIOMETRIC_NOT_FOUND);
  });

  it('throttles sign-ups per device with RESOURCE_EXHAUSTED', async () => {
    const app = await h.newPhone();
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      statuses.push(
        await h.createUser(app).then(
          () => grpc.status.OK,
          (e: grpc.ServiceError) => e.code,
        ),
      );
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(grpc.status.OK));
    expect(statuses[10]).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it('refuses bad CSRs, signatures over other content, replayed activations and secrets for the wrong E2E provider', async () => {
    const app = await h.newPhone();
    const { userToken } = await h.createUser(app);
    await h.agree(app, userToken);
    const r = reg(app);
    const csrCode = async (csr: string) =>
      apiErrorCode(await refusal(unary(r, r.issueSigningCertificate, { userToken, csr })), IssueSigningCertificateApiError);
    expect(await csrCode(Buffer.from(nestedSequences(10_000)).toString('base64'))).toBe(
      IssueSigningCertificateApiError_ErrorCode.INVALID_SIGNING_CSR,
    );
    expect(await csrCode((await createCsr(await rsaKeys(1024))).pem)).toBe(IssueSigningCertificateApiError_ErrorCode.INVALID_SIGNING_CSR);
    expect(await csrCode((await createCsr(await ecKeys('P-384'))).pem)).toBe(IssueSigningCertificateApiError_ErrorCode.INVALID_SIGNING_CSR);

    // The right key over other content: refused, and the token is spent.
    const { keyPair, csr } = await h.signingKey();
    const issued = await unary(r, r.issueSigningCertificate, { userToken, csr });
    const certificateDer = Buffer.from(issued.certificate, 'base64');
    const other = await signData({
      content: Buffer.from(`${issued.verificationToken}x`),
      certificateDer,
      privateKey: keyPair.privateKey,
      detached: false,
    });
    const altered = await refusal(unary(r, r.verifySigningCertificate, { userToken, signedData: other.base64 }));
    expect(apiErrorCode(altered, VerifySigningCertificateApiError)).toBe(
      VerifySigningCertificateApiError_ErrorCode.SIGNING_CERTIFICATE_VERIFICATION_FAILED,
    );
    const right = await signData({
      content: Buffer.from(issued.verificationToken),
      certificateDer,
      privateKey: keyPair.privateKey,
      detached: true,
    });
    const late = await refusal(unary(r, r.verifySigningCertificate, { userToken, signedData: right.base64 }));
    expect(apiErrorCode(late, VerifySigningCertificateApiError)).toBe(
      VerifySigningCertificateApiError_ErrorCode.SIGNING_CERTIFICATE_NOT_FOUND,
    );

    // A good activation, then the same signature again: nothing left to activate.
    const fresh = await h.issueAndVerify(app, userToken);
    const again = await signData({
      content: Buffer.from(fresh.verificationToken),
      certificateDer: Buffer.from(fresh.certificate, 'base64'),
      privateKey: fresh.keyPair.privateKey,
      detached: false,
    });
    const replay = await refusal(unary(r, r.verifySigningCertificate, { userToken, signedData: again.base64 }));
    expect(apiErrorCode(replay, VerifySigningCertificateApiError)).toBe(
      VerifySigningCertificateApiError_ErrorCode.SIGNING_CERTIFICATE_NOT_FOUND,
    );

    // A PIN encrypted for the BANKING provider is not opened by an AUTH method.
    const wrongProvider = await refusal(
      unary(r, r.registerPin, { userToken, pin: await app.encrypt(EncryptedMessage_ProviderType.BANKING, PIN) }),
    );
    expect(wrongProvider.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(apiErrorCode(wrongProvider, CommonApiError)).toBe(CommonApiError_ErrorCode.E2E_DECRYPTION_FAILED);
  });

  it('lets one of two racing uses of a biometric challenge or a refresh token win, never both', async () => {
    const app = await h.newPhone();
    const user = await h.register(app);
    const l = loginSvc(app);
    const a = authn(app);
    const { process } = await unary(l, l.prepareLogin, { userToken: user.userToken });
    const signature = sign('sha256', biometricChallenge(process!.processId), user.bio.privateKey).toString('base64');
    const bio = await Promise.allSettled(
      [1, 2, 3].map(() =>
        unary(a, a.authenticateBiometricForLogin, { userToken: user.userToken, processId: process!.processId, signature }),
      ),
    );
    expect(bio.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    const session = await unary(l, l.login, { userToken: user.userToken, processId: process!.processId });
    h.secretsSeen.push(session.sessionToken, session.refreshToken);
    const rotations = await Promise.allSettled([1, 2].map(() => unary(l, l.refreshSession, { refreshToken: session.refreshToken })));
    expect(rotations.filter((x) => x.status === 'fulfilled').length).toBeLessThanOrEqual(1);
  });

  it('keeps PINs, patterns, tokens and keys out of the logs', () => {
    const text = h.logs.text();
    expect(text).toContain('registration completed');
    for (const secret of [PIN, PATTERN, ...h.secretsSeen]) expect(text).not.toContain(`"${secret}"`);
    for (const secret of h.secretsSeen) expect(text).not.toContain(secret.slice(-24));
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain('900115-1234567');
    expect(text).not.toContain('id-card');
  });

  // Last: it closes the store the process uses.
  it('fails closed with UNAVAILABLE when the store is down, and issues no session', async () => {
    const app = await h.newPhone();
    const user = await h.register(app);
    const l = loginSvc(app);
    const { process } = await unary(l, l.prepareLogin, { userToken: user.userToken });
    await h.store.close();
    const err = await refusal(
      unary(authn(app), authn(app).authenticatePinForLogin, {
        userToken: user.userToken,
        processId: process!.processId,
        pin: await app.encrypt(AUTH, PIN),
      }),
    );
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    const login = await refusal(unary(l, l.login, { userToken: user.userToken, processId: process!.processId }));
    expect(login.code).toBe(grpc.status.UNAVAILABLE);
    const sessions = await h.running.db
      .kysely('users')
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', String(user.userId))
      .execute();
    expect(sessions).toEqual([]);
  });
});
