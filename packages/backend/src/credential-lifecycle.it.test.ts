// The customer's credential lifecycle as the phone drives it, on the real user service, PostgreSQL
// and Redis: device-level calls that need the customer's own device, a signing certificate after
// a device change, sessions the customer can see and end.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authenticatePin,
  changeDevice,
  deviceProof,
  listSessions,
  loginWithPin,
  logout,
  reissueSigningCertificate,
  resetForgottenPin,
  revokeSession,
  type IdentityReverification,
  canonicalTransferBytes,
  transferWithPin,
  unary,
  type SigningCredential,
  withSession,
} from '@kfrm/app-client';
import {
  DeviceChangeServiceClient,
  RefreshSessionApiError,
  RefreshSessionApiError_ErrorCode,
  PrepareDeviceChangeApiError,
  PrepareDeviceChangeApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/auth/auth';
import { CredentialServiceClient } from '@kfrm/proto/gen/kfrm/api/auth/auth_internal';
import {
  ChangePatternApiError,
  ChangePatternApiError_ErrorCode,
  ChangePinApiError,
  ChangePinApiError_ErrorCode,
  CredentialChangeServiceClient,
  PrepareResetPinApiError,
  PrepareResetPinApiError_ErrorCode,
  ReissueSigningCertificateApiError,
  ReissueSigningCertificateApiError_ErrorCode,
  ResetPinApiError,
  ResetPinApiError_ErrorCode,
  RevokeSessionApiError,
  RevokeSessionApiError_ErrorCode,
  SigningCertificateServiceClient,
  VerifyReissuedSigningCertificateApiError,
  VerifyReissuedSigningCertificateApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/auth/credential';
import {
  AuthenticatePinForLoginApiError,
  AuthenticatePinForLoginApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { AuthenticationProcess_ProcessStatus, CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import { UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { TransferServiceClient } from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { signData } from '@kfrm/pki';
import { apiErrorCode } from '@kfrm/server-kit';
import { userModule } from '@kfrm/service-user';
import { startBankJourney, type BankJourney, type Customer } from './testing/bank-journey.harness';
import {
  AUTH,
  PATTERN,
  PHONE,
  PIN,
  WRONG_PIN,
  authn,
  bearer,
  loginSvc,
  refusal,
  startIdentityHarness,
  type IdentityHarness,
} from './testing/identity.harness';

const MAX_ATTEMPTS = 5;
/** Passes the PIN rules for the harness's phone number (010-2468-1357). */
const NEW_PIN = '690372';
const NEW_PATTERN = '14785';

describe('credential lifecycle over gRPC', () => {
  let h: IdentityHarness;

  beforeAll(async () => {
    h = await startIdentityHarness(userModule, { settings: { secretChecksPerDeviceWindow: 1_000, maxSecretAttempts: MAX_ATTEMPTS } });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  const userStatus = async (userId: bigint) =>
    (await h.running.db.kysely('users').selectFrom('users').select(['status']).where('id', '=', String(userId)).executeTakeFirstOrThrow())
      .status;

  it("refuses PrepareDeviceChange with a customer's user token from another customer's phone", async () => {
    const alicePhone = await h.newPhone();
    const alice = await h.register(alicePhone);
    const malloryPhone = await h.newPhone();
    await h.register(malloryPhone);

    const dc = malloryPhone.client(DeviceChangeServiceClient);
    const refused = await refusal(unary(dc, dc.prepareDeviceChange, { userToken: alice.userToken, deviceUuid: { id: 'mallory-phone' } }));
    expect(refused.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(apiErrorCode(refused, PrepareDeviceChangeApiError)).toBe(PrepareDeviceChangeApiError_ErrorCode.DEVICE_CHANGE_NOT_ALLOWED);
    expect(await userStatus(alice.userId)).toBe('ACTIVATED');
  });

  it('counts wrong PINs on a device change apart: a stranger holding the user token cannot lock the customer out', async () => {
    const alicePhone = await h.newPhone();
    const alice = await h.register(alicePhone);
    const stranger = await h.newPhone();
    const dc = stranger.client(DeviceChangeServiceClient);
    const { process } = await unary(dc, dc.prepareDeviceChange, { userToken: alice.userToken, deviceUuid: { id: 'stranger-phone' } });
    const a = authn(stranger);
    for (let i = 0; i < MAX_ATTEMPTS + 2; i++) {
      const wrong = await refusal(
        unary(a, a.authenticatePinForLogin, {
          userToken: alice.userToken,
          processId: process!.processId,
          pin: await stranger.encrypt(AUTH, WRONG_PIN),
        }),
      );
      expect(apiErrorCode(wrong, AuthenticatePinForLoginApiError)).toBe(AuthenticatePinForLoginApiError_ErrorCode.AUTHENTICATION_FAILED);
    }
    // Device change is locked for this customer now, even with the right PIN…
    const locked = await refusal(
      unary(a, a.authenticatePinForLogin, {
        userToken: alice.userToken,
        processId: process!.processId,
        pin: await stranger.encrypt(AUTH, PIN),
      }),
    );
    expect(apiErrorCode(locked, AuthenticatePinForLoginApiError)).toBe(AuthenticatePinForLoginApiError_ErrorCode.AUTHENTICATION_FAILED);
    // …but the customer is not BLOCKED and logs in on their own phone with their PIN.
    expect(await userStatus(alice.userId)).toBe('ACTIVATED');
    const session = await h.loginWithPin(alicePhone, alice.userToken);
    expect(session.sessionToken).not.toBe('');
  });
  it('answers bad reissue input with the seed codes and spends nothing: unauthenticated process, bad device proof, bad CSR, bad activation', async () => {
    const phone = await h.newPhone();
    const user = await h.register(phone);
    const { sessionToken } = await h.loginWithPin(phone, user.userToken);
    const session = bearer(sessionToken);
    const certs = phone.client(SigningCertificateServiceClient);
    const reissueCode = (e: grpc.ServiceError) => apiErrorCode(e, ReissueSigningCertificateApiError);
    const { csr } = await h.signingKey();
    const { process } = await unary(certs, certs.prepareReissueSigningCertificate, {}, session);
    const processId = process!.processId;
    const proof = deviceProof(phone, processId);

    // Not authenticated yet.
    const early = await refusal(unary(certs, certs.reissueSigningCertificate, { processId, csr, deviceSignature: proof }, session));
    expect(early.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(reissueCode(early)).toBe(ReissueSigningCertificateApiError_ErrorCode.AUTHENTICATION_FAILED);
    await authenticatePin(phone, processId, PIN, session);
    // A proof by another key, and one over another challenge.
    const stranger = await h.newPhone();
    for (const deviceSignature of [deviceProof(stranger, processId), deviceProof(phone, `${processId}x`), '', 'AAAA']) {
      const bad = await refusal(unary(certs, certs.reissueSigningCertificate, { processId, csr, deviceSignature }, session));
      expect(reissueCode(bad)).toBe(ReissueSigningCertificateApiError_ErrorCode.AUTHENTICATION_FAILED);
    }
    const badCsr = await refusal(
      unary(certs, certs.reissueSigningCertificate, { processId, csr: 'not a csr', deviceSignature: proof }, session),
    );
    expect(badCsr.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(reissueCode(badCsr)).toBe(ReissueSigningCertificateApiError_ErrorCode.INVALID_SIGNING_CSR);
    // Nothing was spent: the same process still reissues, once.
    const issued = await unary(certs, certs.reissueSigningCertificate, { processId, csr, deviceSignature: proof }, session);
    expect(issued.certificate).not.toBe('');
    h.secretsSeen.push(issued.verificationToken);
    const twice = await refusal(unary(certs, certs.reissueSigningCertificate, { processId, csr, deviceSignature: proof }, session));
    expect(reissueCode(twice)).toBe(ReissueSigningCertificateApiError_ErrorCode.AUTHENTICATION_FAILED);

    // A signature that is not over the token by the new key: refused, and the token is gone.
    const wrong = await refusal(unary(certs, certs.verifyReissuedSigningCertificate, { signedData: 'MIIB' }, session));
    expect(apiErrorCode(wrong, VerifyReissuedSigningCertificateApiError)).toBe(
      VerifyReissuedSigningCertificateApiError_ErrorCode.SIGNING_CERTIFICATE_VERIFICATION_FAILED,
    );
    const none = await refusal(unary(certs, certs.verifyReissuedSigningCertificate, { signedData: 'MIIB' }, session));
    expect(apiErrorCode(none, VerifyReissuedSigningCertificateApiError)).toBe(
      VerifyReissuedSigningCertificateApiError_ErrorCode.SIGNING_CERTIFICATE_NOT_FOUND,
    );
    // The sign-up certificate is still the active one.
    const credentials = new CredentialServiceClient(`127.0.0.1:${h.running.internalPort}`, h.identity.as('user'));
    expect((await unary(credentials, credentials.getActiveSigningCertificate, { userId: user.userId })).certificate).toBe(user.certificate);
    credentials.close();
    // Without a session: refused by the access check.
    const anonymous = await refusal(unary(certs, certs.prepareReissueSigningCertificate, {}));
    expect(anonymous.code).toBe(grpc.status.UNAUTHENTICATED);
  });
  it('lists the logins, revokes one from another, and logs out: the ended sessions and their refresh tokens stop working', async () => {
    const phone = await h.newPhone();
    const user = await h.register(phone);
    const first = await h.loginWithPin(phone, user.userToken);
    const second = await h.loginWithPin(phone, user.userToken);
    const listed = await listSessions(phone, first.sessionToken);
    expect(listed).toHaveLength(2);
    expect(listed.filter((s) => s.current)).toHaveLength(1);
    expect(listed.every((s) => s.deviceId === phone.device!.deviceId && s.sessionId !== '')).toBe(true);
    const other = listed.find((s) => !s.current)!;

    // Another customer cannot end Alice's login with its id.
    const otherPhone = await h.newPhone();
    const mallory = await h.register(otherPhone);
    const malloryLogin = await h.loginWithPin(otherPhone, mallory.userToken);
    const foreign = await refusal(revokeSession(otherPhone, malloryLogin.sessionToken, other.sessionId));
    expect(foreign.code).toBe(grpc.status.NOT_FOUND);
    expect(apiErrorCode(foreign, RevokeSessionApiError)).toBe(RevokeSessionApiError_ErrorCode.SESSION_NOT_FOUND);
    expect(await listSessions(phone, second.sessionToken)).toHaveLength(2);

    await revokeSession(phone, first.sessionToken, other.sessionId);
    const ended = await refusal(listSessions(phone, second.sessionToken));
    expect(ended.code).toBe(grpc.status.UNAUTHENTICATED);
    const l = loginSvc(phone);
    const refreshEnded = await refusal(unary(l, l.refreshSession, { refreshToken: second.refreshToken }));
    expect(apiErrorCode(refreshEnded, RefreshSessionApiError)).toBe(RefreshSessionApiError_ErrorCode.INVALID_LOGIN_SESSION);
    const again = await refusal(revokeSession(phone, first.sessionToken, other.sessionId));
    expect(apiErrorCode(again, RevokeSessionApiError)).toBe(RevokeSessionApiError_ErrorCode.SESSION_NOT_FOUND);
    const unknown = await refusal(revokeSession(phone, first.sessionToken, 'no-such-session'));
    expect(apiErrorCode(unknown, RevokeSessionApiError)).toBe(RevokeSessionApiError_ErrorCode.SESSION_NOT_FOUND);
    expect((await listSessions(phone, first.sessionToken)).map((s) => s.current)).toEqual([true]);

    // A refreshed login keeps its id.
    const refreshed = await unary(l, l.refreshSession, { refreshToken: first.refreshToken });
    h.secretsSeen.push(refreshed.sessionToken, refreshed.refreshToken);
    const afterRefresh = await listSessions(phone, refreshed.sessionToken);
    expect(afterRefresh.map((s) => s.sessionId)).toEqual(listed.filter((s) => s.current).map((s) => s.sessionId));

    await logout(phone, refreshed.sessionToken);
    expect((await refusal(listSessions(phone, refreshed.sessionToken))).code).toBe(grpc.status.UNAUTHENTICATED);
    const loggedOut = await refusal(unary(l, l.refreshSession, { refreshToken: refreshed.refreshToken }));
    expect(apiErrorCode(loggedOut, RefreshSessionApiError)).toBe(RefreshSessionApiError_ErrorCode.INVALID_LOGIN_SESSION);
    // Mallory's login was never touched.
    expect(await listSessions(otherPhone, malloryLogin.sessionToken)).toHaveLength(1);
  });

  it('changes the PIN with the current one: other logins end, the old PIN stops working; bad input changes nothing', async () => {
    const phone = await h.newPhone();
    const user = await h.register(phone);
    const kept = await h.loginWithPin(phone, user.userToken);
    const other = await h.loginWithPin(phone, user.userToken);
    const credentials = phone.client(CredentialChangeServiceClient);
    const change = async (oldPin: string, newPin: string) =>
      unary(
        credentials,
        credentials.changePin,
        { oldPin: await phone.encrypt(AUTH, oldPin), newPin: await phone.encrypt(AUTH, newPin) },
        bearer(kept.sessionToken),
      );
    const pinCode = (e: grpc.ServiceError) => apiErrorCode(e, ChangePinApiError);

    const weak = await refusal(change(PIN, '111111'));
    expect(weak.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(pinCode(weak)).toBe(ChangePinApiError_ErrorCode.WEAK_USER_PIN);
    const invalid = await refusal(change(PIN, '12ab'));
    expect(pinCode(invalid)).toBe(ChangePinApiError_ErrorCode.INVALID_USER_PIN);
    const wrong = await refusal(change(WRONG_PIN, NEW_PIN));
    expect(wrong.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(pinCode(wrong)).toBe(ChangePinApiError_ErrorCode.AUTHENTICATION_FAILED);
    // A missing secret: INVALID_ARGUMENT, nothing changed.
    const raw = await refusal(
      unary(
        credentials,
        credentials.changePin,
        { oldPin: undefined, newPin: await phone.encrypt(AUTH, NEW_PIN) },
        bearer(kept.sessionToken),
      ),
    );
    expect(raw.code).toBe(grpc.status.INVALID_ARGUMENT);
    // Nothing changed so far: the other login lives, the old PIN works.
    expect(await listSessions(phone, other.sessionToken)).toHaveLength(2);

    await change(PIN, NEW_PIN);
    expect((await refusal(listSessions(phone, other.sessionToken))).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await listSessions(phone, kept.sessionToken)).map((s) => s.current)).toEqual([true]);
    const l = loginSvc(phone);
    const a = authn(phone);
    const { process } = await unary(l, l.prepareLogin, { userToken: user.userToken });
    const oldPin = await refusal(
      unary(a, a.authenticatePinForLogin, {
        userToken: user.userToken,
        processId: process!.processId,
        pin: await phone.encrypt(AUTH, PIN),
      }),
    );
    expect(apiErrorCode(oldPin, AuthenticatePinForLoginApiError)).toBe(AuthenticatePinForLoginApiError_ErrorCode.AUTHENTICATION_FAILED);
    const done = await unary(a, a.authenticatePinForLogin, {
      userToken: user.userToken,
      processId: process!.processId,
      pin: await phone.encrypt(AUTH, NEW_PIN),
    });
    expect(done.process?.status).toBe(AuthenticationProcess_ProcessStatus.DONE);
    expect(await userStatus(user.userId)).toBe('ACTIVATED');
  });

  it('changes the pattern the same way, and rate-limits changes per customer', async () => {
    const phone = await h.newPhone();
    const user = await h.register(phone);
    const { sessionToken } = await h.loginWithPin(phone, user.userToken);
    const credentials = phone.client(CredentialChangeServiceClient);
    const change = async (oldPattern: string, newPattern: string) =>
      unary(
        credentials,
        credentials.changePattern,
        { oldPattern: await phone.encrypt(AUTH, oldPattern), newPattern: await phone.encrypt(AUTH, newPattern) },
        bearer(sessionToken),
      );
    const weak = await refusal(change(PATTERN, '0123'));
    expect(apiErrorCode(weak, ChangePatternApiError)).not.toBeUndefined();
    expect([ChangePatternApiError_ErrorCode.WEAK_USER_PATTERN, ChangePatternApiError_ErrorCode.INVALID_USER_PATTERN]).toContain(
      apiErrorCode(weak, ChangePatternApiError),
    );
    const wrong = await refusal(change('25418', NEW_PATTERN));
    expect(apiErrorCode(wrong, ChangePatternApiError)).toBe(ChangePatternApiError_ErrorCode.AUTHENTICATION_FAILED);
    await change(PATTERN, NEW_PATTERN);
    await change(NEW_PATTERN, PATTERN);
    // Five changes an hour per customer (the two refusals above counted too).
    await change(PATTERN, NEW_PATTERN);
    const limited = await refusal(change(NEW_PATTERN, PATTERN));
    expect(limited.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });
  /** The identity as the harness signed the customer up (name from the user service's record). */
  const identityOf = async (userToken: string): Promise<IdentityReverification> => {
    const accounts = new UserAccountServiceClient(`127.0.0.1:${h.running.internalPort}`, h.identity.as('auth'));
    const { user } = await unary(accounts, accounts.findByUserToken, { userToken });
    accounts.close();
    return { idpType: 'mobile', idpName: 'sandbox', name: user!.userName, phoneNumber: PHONE, verificationHint: '123456' };
  };

  it('resets a forgotten PIN of a BLOCKED customer from a new device certificate: identity again, device proof, then back to ACTIVATED', async () => {
    const oldPhone = await h.newPhone();
    const user = await h.register(oldPhone);
    const l = loginSvc(oldPhone);
    const a = authn(oldPhone);
    const { process } = await unary(l, l.prepareLogin, { userToken: user.userToken });
    for (let i = 0; i <= MAX_ATTEMPTS; i++) {
      await refusal(
        unary(a, a.authenticatePinForLogin, {
          userToken: user.userToken,
          processId: process!.processId,
          pin: await oldPhone.encrypt(AUTH, WRONG_PIN),
        }),
      );
    }
    expect(await userStatus(user.userId)).toBe('BLOCKED');
    const identity = await identityOf(user.userToken);

    // The block revoked the phone's certificate: the app makes a new one on the same phone.
    const phone = await h.newPhone();
    const credentials = phone.client(CredentialChangeServiceClient);
    const resetCode = (e: grpc.ServiceError) => apiErrorCode(e, ResetPinApiError);
    const attempt = async (overrides: Partial<{ challenge: string; deviceSignature: string; name: string; pin: string }>) => {
      const { challenge } = await unary(credentials, credentials.prepareResetPin, { userToken: user.userToken });
      return unary(credentials, credentials.resetPin, {
        userToken: user.userToken,
        challenge: overrides.challenge ?? challenge,
        deviceSignature: overrides.deviceSignature ?? deviceProof(phone, overrides.challenge ?? challenge),
        ...identity,
        name: overrides.name ?? identity.name,
        newPin: await phone.encrypt(AUTH, overrides.pin ?? NEW_PIN),
      });
    };

    // Another customer's phone may not even start it.
    const malloryPhone = await h.newPhone();
    await h.register(malloryPhone);
    const mallory = malloryPhone.client(CredentialChangeServiceClient);
    const foreign = await refusal(unary(mallory, mallory.prepareResetPin, { userToken: user.userToken }));
    expect(foreign.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(apiErrorCode(foreign, PrepareResetPinApiError)).toBe(PrepareResetPinApiError_ErrorCode.PIN_RESET_NOT_ALLOWED);

    const otherPerson = await refusal(attempt({ name: `${identity.name} Jr` }));
    expect(resetCode(otherPerson)).toBe(ResetPinApiError_ErrorCode.USER_VERIFICATION_FAILED);
    const badProof = await refusal(attempt({ deviceSignature: deviceProof(malloryPhone, 'x') }));
    expect(resetCode(badProof)).toBe(ResetPinApiError_ErrorCode.AUTHENTICATION_FAILED);
    const weak = await refusal(attempt({ pin: '123456' }));
    expect(resetCode(weak)).toBe(ResetPinApiError_ErrorCode.WEAK_USER_PIN);
    const unknownChallenge = await refusal(attempt({ challenge: 'AAAAAAAAAAAAAAAAAAAAAA' }));
    expect(resetCode(unknownChallenge)).toBe(ResetPinApiError_ErrorCode.AUTHENTICATION_FAILED);
    // Nothing of that changed anything.
    expect(await userStatus(user.userId)).toBe('BLOCKED');

    await resetForgottenPin(phone, user.userToken, identity, NEW_PIN);
    expect(await userStatus(user.userId)).toBe('ACTIVATED');
    // The app moves the customer to its new certificate (an app reinstall) with the new PIN, and logs in.
    const accounts = new UserAccountServiceClient(`127.0.0.1:${h.running.internalPort}`, h.identity.as('auth'));
    const { deviceUuid } = await unary(accounts, accounts.findByUserToken, { userToken: user.userToken });
    accounts.close();
    await changeDevice(phone, user.userToken, NEW_PIN, deviceUuid);
    const session = await loginWithPin(phone, user.userToken, NEW_PIN);
    h.secretsSeen.push(session.sessionToken, session.refreshToken);
    expect(session.sessionToken).not.toBe('');
  });

  it('resets a forgotten PIN of an ACTIVATED customer on the bound phone and ends every session', async () => {
    const phone = await h.newPhone();
    const user = await h.register(phone);
    const before = await h.loginWithPin(phone, user.userToken);
    await resetForgottenPin(phone, user.userToken, await identityOf(user.userToken), NEW_PIN);
    expect((await refusal(listSessions(phone, before.sessionToken))).code).toBe(grpc.status.UNAUTHENTICATED);
    const after = await loginWithPin(phone, user.userToken, NEW_PIN);
    h.secretsSeen.push(after.sessionToken, after.refreshToken);
    expect(await listSessions(phone, after.sessionToken)).toHaveLength(1);
  });

  it('keeps old and new PINs, patterns, session ids, tokens and keys out of the logs', () => {
    const text = h.logs.text();
    expect(text).toContain('credential changed');
    expect(text).toContain('logged out');
    expect(text).toContain('PIN reset');
    for (const secret of [PIN, WRONG_PIN, NEW_PIN, PATTERN, NEW_PATTERN, ...h.secretsSeen]) expect(text).not.toContain(`"${secret}"`);
    for (const secret of h.secretsSeen) expect(text).not.toContain(secret.slice(-24));
    expect(text).not.toContain('PRIVATE KEY');
  });
});

describe('signing certificate after a device change, over the embedded backend', () => {
  let bank: BankJourney;
  const OWN_INSTITUTION = '333';

  beforeAll(async () => {
    bank = await startBankJourney('creds-signing');
  }, 90_000);

  afterAll(async () => {
    await bank?.close();
  });

  const order = (from: Customer, to: Customer, credential: SigningCredential, amountKrw: bigint) => ({
    sourceAccountNumber: from.accountNumber,
    targetAccountNumber: to.accountNumber,
    targetInstitutionCode: OWN_INSTITUTION,
    amountKrw,
    pin: from.profile.pin,
    ...credential,
  });

  it('gives the new phone a signing certificate after ChangeDevice: its transfer succeeds, the old certificate is refused', async () => {
    const alice = await bank.customer(500_000n);
    const bob = await bank.customer();
    const signedUp: SigningCredential = { signingKey: alice.user.signingKey, signingCertificateDer: alice.user.signingCertificateDer };
    expect((await transferWithPin(alice.app, alice.sessionToken, order(alice, bob, signedUp, 10_000n))).success).toBe(true);

    const newPhone = await bank.newPhone();
    await changeDevice(newPhone, alice.user.userToken, alice.profile.pin, `${alice.profile.deviceUuid}-new`);
    const { sessionToken } = await loginWithPin(newPhone, alice.user.userToken, alice.profile.pin);

    // The sign-up certificate's key stayed on the old phone: ChangeDevice revoked it.
    const old = await refusal(transferWithPin(newPhone, sessionToken, order(alice, bob, signedUp, 10_000n)));
    expect(old.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(apiErrorCode(old, CommonApiError)).toBe(CommonApiError_ErrorCode.DIGITAL_SIGNATURE_VERIFICATION_FAILED);

    const reissued = await reissueSigningCertificate(newPhone, sessionToken, alice.profile.pin);
    const sent = await transferWithPin(newPhone, sessionToken, order(alice, bob, reissued, 20_000n));
    expect(sent.success).toBe(true);

    // Reissued again before expiry (same phone): the previous certificate is refused from then on.
    const again = await reissueSigningCertificate(newPhone, sessionToken, alice.profile.pin);
    const previous = await refusal(transferWithPin(newPhone, sessionToken, order(alice, bob, reissued, 1_000n)));
    expect(apiErrorCode(previous, CommonApiError)).toBe(CommonApiError_ErrorCode.DIGITAL_SIGNATURE_VERIFICATION_FAILED);
    expect((await transferWithPin(newPhone, sessionToken, order(alice, bob, again, 1_000n))).success).toBe(true);
  });

  // The transfer's PIN check reads the active certificate for the Execute that follows (ADR 0028):
  // a certificate changed in between must decide that Execute, not what the check read.
  it('decides Execute by the certificate active at Execute, when it changed after the transfer’s PIN check', async () => {
    const alice = await bank.customer(500_000n);
    const bob = await bank.customer();
    const transfers = alice.app.client(TransferServiceClient);
    const session = withSession(alice.sessionToken);
    const amount = { currencyCode: CurrencyCode.KRW, majorAmount: 10_000n, minorAmount: 0n };
    const terms = {
      sourceAccountNumber: alice.accountNumber,
      targetAccountNumber: bob.accountNumber,
      targetInstitutionCode: OWN_INSTITUTION,
    };
    const preCheck = await unary(
      transfers,
      transfers.getPreCheck,
      { ...terms, amount, recipientVisibleMessage: '', selfVisibleMessage: '' },
      session,
    );
    const processId = preCheck.process!.processId;
    await authenticatePin(alice.app, processId, alice.profile.pin, session);
    const execute = async (credential: SigningCredential) => {
      const signed = await signData({
        content: canonicalTransferBytes({ processId, ...terms, amountMinor: 10_000n }),
        certificateDer: credential.signingCertificateDer,
        privateKey: credential.signingKey.privateKey,
        detached: false,
      });
      return unary(
        transfers,
        transfers.execute,
        {
          recipientVisibleMessage: '',
          selfVisibleMessage: '',
          authenticationProcessId: processId,
          signatureInfo: { ...terms, signedData: signed.base64, amount },
        },
        session,
      );
    };

    // Reissued between the PIN check and Execute: the sign-up certificate the check read is revoked.
    const reissued = await reissueSigningCertificate(alice.app, alice.sessionToken, alice.profile.pin);
    const signedUp: SigningCredential = { signingKey: alice.user.signingKey, signingCertificateDer: alice.user.signingCertificateDer };
    const old = await refusal(execute(signedUp));
    expect(apiErrorCode(old, CommonApiError)).toBe(CommonApiError_ErrorCode.DIGITAL_SIGNATURE_VERIFICATION_FAILED);
    // The refusal spent nothing: the same process, signed with the reissued certificate, goes through.
    expect((await execute(reissued)).success).toBe(true);
  });
});
