// The funding flow as the app drives it: over TLS with a device certificate and a session
// token, through the real mobile guard, against the module's embedded default (both sandboxes
// started in-process). The user service is a small fake on the internal listener: it resolves
// session tokens and answers FindByUserId with the user's record.
import { generateKeyPairSync } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '@kfrm/db/test-database';
import { DomainError } from '@kfrm/errors';
import { createCapturingDestination } from '@kfrm/logging';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import { DeviceServiceClient } from '@kfrm/proto/gen/kfrm/api/device/device';
import {
  ArsVerificationState,
  GetArsVerificationApiError,
  GetArsVerificationApiError_ErrorCode,
  RequestAutoDebitConsentApiError,
  RequestAutoDebitConsentApiError_ErrorCode,
  ConfirmAutoDebitConsentApiError,
  ConfirmAutoDebitConsentApiError_ErrorCode,
  ConsentState,
  FundingServiceClient,
  GetAutoDebitConsentApiError,
  GetAutoDebitConsentApiError_ErrorCode,
  LinkedAccountState,
  VerifyAccountHolderApiError,
  VerifyAccountHolderApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/funding/funding';
import { User, UserServiceService, UserSession } from '@kfrm/proto/gen/kfrm/api/user/user';
// The real device service issues the app's certificate. Imported by path: it is a test-only
// need, and @kfrm/service-device is not (yet) a dependency of this package.
import { deviceModule } from '../../device/src/device.module';
import type { ServiceModule } from '@kfrm/runtime';
import { startTestServices, type TestServices } from '@kfrm/runtime/testing/services.harness';
import { apiErrorCode, defineService } from '@kfrm/server-kit';
import type { FundingAdapters } from './funding.config';
import { createFundingModule } from './funding.module';

const USERS: Record<string, { userName: string; phoneNumber: string; residentId: string }> = {
  '1000000001': { userName: '홍길동', phoneNumber: '010-1234-5678', residentId: '800101-1234567' },
  '1000000003': { userName: '김철수', phoneNumber: '010-1111-2222', residentId: '800101-1234567' },
};

/** session token → user and device, filled as the test signs users in. */
const sessions = new Map<string, { userId: string; deviceId: bigint }>();

const notFound = () => new DomainError('USER_NOT_FOUND', 'no such user');

/** Stands in for the user service's internal API. */
const fakeUserModule: ServiceModule = {
  name: 'fake-user',
  create: () => ({
    internal: [
      defineService(
        UserServiceService,
        {
          async findBySessionToken(request) {
            const session = sessions.get(request.sessionToken);
            if (!session) throw notFound();
            return { userSession: UserSession.fromPartial({ userId: BigInt(session.userId), deviceId: session.deviceId }) };
          },
          async findByUserId(request) {
            const user = USERS[request.userId];
            if (!user) throw notFound();
            return { user: User.fromPartial({ userId: BigInt(request.userId), ...user }) };
          },
        },
        {
          findBySessionToken: { access: 'internal', callers: ['*'] },
          findByCustomerId: { access: 'internal', callers: ['*'] },
          findByUserId: { access: 'internal', callers: ['*'] },
          createProcess: { access: 'internal', callers: ['*'] },
          getProcess: { access: 'internal', callers: ['*'] },
        },
      ),
    ],
  }),
};

const toPem = (der: Buffer) =>
  `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE-----\n`;

type Unary<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: Partial<grpc.CallOptions>,
  cb: (err: grpc.ServiceError | null, res: Res) => void,
) => unknown;

async function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('the call succeeded');
}

describe('funding over gRPC with a session', () => {
  let services: TestServices;
  let database: TestDatabase;
  let adapters: FundingAdapters | undefined;
  let serverCa: Buffer;
  let mobileAddress: string;
  const logs = createCapturingDestination();

  beforeAll(async () => {
    services = await startTestServices(
      [
        deviceModule,
        fakeUserModule,
        createFundingModule({
          env: { KFRM_FUNDING_SANDBOX_SIGN_AFTER_MS: '0', KFRM_FUNDING_SANDBOX_ARS_ANSWER_AFTER_MS: '0' },
          onAdapters: (a) => (adapters = a),
        }),
      ],
      { name: 'funding-test', logDestination: logs },
    );
    ({ database } = services);
    ({ serverCaPem: serverCa, mobileAddress } = services);
  }, 60_000);

  afterAll(async () => {
    await services?.close();
  });

  /** What the app does before it can call session methods: a device certificate, then a session. */
  async function signIn(userId: string) {
    const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const devices = new DeviceServiceClient(mobileAddress, grpc.credentials.createSsl(serverCa));
    const device = await new Promise<{ deviceId: bigint; certificate: string }>((resolve, reject) =>
      devices.createDevice({ publicKey: keys.publicKey.export({ type: 'spki', format: 'pem' }) as string }, (e, r) =>
        e ? reject(e) : resolve(r),
      ),
    );
    devices.close();
    const token = `session-${userId}-${device.deviceId}-abcdefgh`;
    sessions.set(token, { userId, deviceId: device.deviceId });
    const credentials = grpc.credentials.createSsl(
      serverCa,
      Buffer.from(keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
      Buffer.from(toPem(Buffer.from(device.certificate, 'base64'))),
    );
    const client = new FundingServiceClient(mobileAddress, credentials);
    const metadata = () => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${token}`);
      return md;
    };
    const call = <Req, Res>(fn: Unary<Req, Res>, req: Req, md = metadata()): Promise<Res> =>
      new Promise((resolve, reject) => fn.call(client, req, md, {}, (err, res) => (err ? reject(err) : resolve(res))));
    return { client, call, noSession: () => new grpc.Metadata() };
  }

  it('links an account end to end: holder check, consent, signature, confirmation, automatic top-up', async () => {
    const { client, call } = await signIn('1000000001');
    try {
      const verified = await call(client.verifyAccountHolder, { bankCode: '088', accountNumber: '110234567890' });
      expect(verified.linkedAccount).toMatchObject({
        account: { bankCode: '088', bankName: '신한은행', maskedAccountNumber: '********7890' },
        state: LinkedAccountState.HOLDER_VERIFIED,
        autoTopUp: false,
      });
      const linkedAccountId = verified.linkedAccount!.linkedAccountId;
      // Holder verification registered the user as a Konaplate member: its id, not ours, is
      // Konaplate's userId. ARS registration then makes the account the member's normal top-up
      // account: the consent is refused before it.
      const member = await database
        .kysely('funding')
        .selectFrom('konaplate_members')
        .select('member_id')
        .where('user_id', '=', '1000000001')
        .executeTakeFirstOrThrow();
      expect(member.member_id).not.toBe('1000000001');
      const tooEarly = await failure(
        call(client.requestAutoDebitConsent, { bankCode: '088', accountNumber: '110234567890', expiresInSeconds: 0 }),
      );
      expect(tooEarly.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(apiErrorCode(tooEarly, RequestAutoDebitConsentApiError)).toBe(
        RequestAutoDebitConsentApiError_ErrorCode.ARS_VERIFICATION_REQUIRED,
      );

      const ars = (await call(client.startArsVerification, { bankCode: '088', accountNumber: '110234567890' })).arsVerification!;
      expect(ars).toMatchObject({ linkedAccountId, state: ArsVerificationState.ARS_CALLING, authCode: expect.stringMatching(/^\d{2}$/) });
      const ringing = [...adapters!.sandboxes.konaplate!.arsRegistrations.values()].find((r) => r.userId === member.member_id)!;
      // The user keys the code in on the ARS call (the sandbox's test hook).
      adapters!.sandboxes.konaplate!.answerArsCall(ringing.regTranId, ars.authCode);
      const arsDone = await call(client.getArsVerification, { arsVerificationId: ars.arsVerificationId });
      expect(arsDone.arsVerification).toMatchObject({ state: ArsVerificationState.ARS_REGISTERED, authCode: '' });
      expect(arsDone.linkedAccount!.arsVerifiedAt).not.toBe('');
      const unknown = await failure(call(client.getArsVerification, { arsVerificationId: 'nope' }));
      expect(unknown.code).toBe(grpc.status.NOT_FOUND);
      expect(apiErrorCode(unknown, GetArsVerificationApiError)).toBe(GetArsVerificationApiError_ErrorCode.ARS_VERIFICATION_NOT_FOUND);

      const listed = await call(client.listRegisteredAccounts, {});
      expect(listed.normalTopUpAccount?.maskedAccountNumber).toBe('********7890');
      expect(listed.autoTopUpRegistrationAllowed).toBe(true);
      expect(listed.linkedAccounts.map((a) => a.linkedAccountId)).toEqual([linkedAccountId]);

      const requested = await call(client.requestAutoDebitConsent, { bankCode: '088', accountNumber: '110234567890', expiresInSeconds: 0 });
      const consentId = requested.consent!.consentId;
      expect(requested.consent).toMatchObject({ linkedAccountId, state: ConsentState.REQUESTED });

      const early = await failure(call(client.confirmAutoDebitConsent, { consentId }));
      expect(early.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(apiErrorCode(early, ConfirmAutoDebitConsentApiError)).toBe(ConfirmAutoDebitConsentApiError_ErrorCode.CONSENT_NOT_SIGNED);

      // The user signs in KakaoTalk: the embedded sandbox's control API stands in for it.
      const receiptId = (
        await database.kysely('funding').selectFrom('consents').select('receipt_id').where('id', '=', consentId).executeTakeFirstOrThrow()
      ).receipt_id as string;
      const signed = await fetch(`${adapters!.sandboxes.kakaocert!.url}/__sandbox/sign/${receiptId}`, { method: 'POST' });
      expect(signed.status).toBe(200);
      expect((await call(client.getAutoDebitConsent, { consentId })).consent?.state).toBe(ConsentState.SIGNED);

      const confirmed = await call(client.confirmAutoDebitConsent, { consentId });
      expect(confirmed.consent?.state).toBe(ConsentState.VERIFIED);
      expect(confirmed.linkedAccount).toMatchObject({ linkedAccountId, state: LinkedAccountState.LINKED });
      expect(confirmed.linkedAccount!.linkedAt).not.toBe('');
      // Idempotent.
      expect((await call(client.confirmAutoDebitConsent, { consentId })).consent?.state).toBe(ConsentState.VERIFIED);
      expect(adapters!.sandboxes.kakaocert!.calls().verify).toBe(1);

      const registered = await call(client.registerAutoTopUpAccount, { linkedAccountId });
      expect(registered.linkedAccount).toMatchObject({ linkedAccountId, autoTopUp: true });

      // Another user cannot see the consent.
      const other = await signIn('1000000003');
      const foreign = await failure(other.call(other.client.getAutoDebitConsent, { consentId }));
      expect(foreign.code).toBe(grpc.status.NOT_FOUND);
      expect(apiErrorCode(foreign, GetAutoDebitConsentApiError)).toBe(GetAutoDebitConsentApiError_ErrorCode.CONSENT_NOT_FOUND);
      other.client.close();
    } finally {
      client.close();
    }
  });

  it('answers an account held by someone else with FAILED_PRECONDITION and ACCOUNT_HOLDER_MISMATCH', async () => {
    const { client, call } = await signIn('1000000003');
    try {
      const err = await failure(call(client.verifyAccountHolder, { bankCode: '088', accountNumber: '110234567890' }));
      expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(apiErrorCode(err, VerifyAccountHolderApiError)).toBe(VerifyAccountHolderApiError_ErrorCode.ACCOUNT_HOLDER_MISMATCH);
      const invalid = await failure(call(client.verifyAccountHolder, { bankCode: '088', accountNumber: '12345678901234567' }));
      expect(invalid.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(apiErrorCode(invalid, VerifyAccountHolderApiError)).toBe(VerifyAccountHolderApiError_ErrorCode.INVALID_BANK_ACCOUNT);
    } finally {
      client.close();
    }
  });

  it('refuses every method without a session', async () => {
    const { client, call, noSession } = await signIn('1000000001');
    try {
      const err = await failure(call(client.listRegisteredAccounts, {}, noSession()));
      expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(apiErrorCode(err, CommonApiError)).toBe(CommonApiError_ErrorCode.UNAUTHENTICATED_USER);
    } finally {
      client.close();
    }
  });

  it('never logs a full account number, a name or a phone number', () => {
    const text = logs.text();
    expect(text).toContain('consent verified; account linked');
    expect(text).not.toContain('110234567890');
    expect(text).not.toContain('홍길동');
    expect(text).not.toContain('김철수');
    expect(text).not.toContain('01012345678');
  });
});
