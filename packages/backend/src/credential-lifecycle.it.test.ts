// The customer's credential lifecycle as the phone drives it, on the real user service, PostgreSQL
// and Redis: device-level calls that need the customer's own device, a signing certificate after
// a device change, sessions the customer can see and end.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authenticatePin,
  changeDevice,
  deviceProof,
  loginWithPin,
  reissueSigningCertificate,
  transferWithPin,
  unary,
  type SigningCredential,
} from '@kfrm/app-client';
import {
  DeviceChangeServiceClient,
  PrepareDeviceChangeApiError,
  PrepareDeviceChangeApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/auth/auth';
import { CredentialServiceClient } from '@kfrm/proto/gen/kfrm/api/auth/auth_internal';
import {
  ReissueSigningCertificateApiError,
  ReissueSigningCertificateApiError_ErrorCode,
  SigningCertificateServiceClient,
  VerifyReissuedSigningCertificateApiError,
  VerifyReissuedSigningCertificateApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/auth/credential';
import {
  AuthenticatePinForLoginApiError,
  AuthenticatePinForLoginApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import { apiErrorCode } from '@kfrm/server-kit';
import { userModule } from '@kfrm/service-user';
import { startBankJourney, type BankJourney, type Customer } from './testing/bank-journey.harness';
import { AUTH, PIN, WRONG_PIN, authn, bearer, refusal, startIdentityHarness, type IdentityHarness } from './testing/identity.harness';

const MAX_ATTEMPTS = 5;

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
    const credentials = new CredentialServiceClient(`127.0.0.1:${h.running.internalPort}`, grpc.credentials.createInsecure());
    expect((await unary(credentials, credentials.getActiveSigningCertificate, { userId: user.userId })).certificate).toBe(user.certificate);
    credentials.close();
    // Without a session: refused by the access check.
    const anonymous = await refusal(unary(certs, certs.prepareReissueSigningCertificate, {}));
    expect(anonymous.code).toBe(grpc.status.UNAUTHENTICATED);
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
});
