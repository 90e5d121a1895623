// The user service as other services reach it: the seed's UserService and the internal
// UserAccountService, SessionService and ProcessStepService on the internal listener. The auth
// and device services it calls are small fakes registered in the same process (the real ones
// are separate modules); GetProcess's signature check runs on real CMS signatures.
import { webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '@kfrm/errors';
import { createCapturingDestination } from '@kfrm/logging';
import { createCsr, createSigningCa, issueSigningCertificate, parseSigningCsr, signData } from '@kfrm/pki';
import {
  CredentialServiceService,
  GetActiveSigningCertificateApiError,
  GetActiveSigningCertificateApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/auth/auth_internal';
import {
  AuthenticatedTransactionType,
  AuthenticationProcess_ProcessStatus,
  AuthenticationType,
} from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import {
  DeviceRegistryServiceService,
  RevocationReason,
  RevokeDeviceApiError,
  RevokeDeviceApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/device/device_internal';
import {
  CreateProcessApiError,
  CreateProcessApiError_ErrorCode,
  FindBySessionTokenApiError,
  FindBySessionTokenApiError_ErrorCode,
  GetProcessApiError,
  GetProcessApiError_ErrorCode,
  KycStatus,
  UserServiceClient,
} from '@kfrm/proto/gen/kfrm/api/user/user';
import {
  CompleteAuthenticationApiError,
  CompleteAuthenticationApiError_ErrorCode,
  CreateProcessForUserTokenApiError,
  CreateProcessForUserTokenApiError_ErrorCode,
  FindSessionIdApiError,
  FindSessionIdApiError_ErrorCode,
  ProcessStepServiceClient,
  RegisterUserApiError,
  RegisterUserApiError_ErrorCode,
  RotateSessionApiError,
  RotateSessionApiError_ErrorCode,
  SessionServiceClient,
  UpdateUserStatusApiError,
  UpdateUserStatusApiError_ErrorCode,
  UserAccountServiceClient,
} from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import type { RunningServices, ServiceModule } from '@kfrm/runtime';
import { startTestServices, type TestServices } from '@kfrm/runtime/testing/services.harness';
import { apiErrorCode, apiErrorType, defineService } from '@kfrm/server-kit';
import { createMemoryStore } from '@kfrm/store';
import { userModule } from './user.module';

type Callback<Res> = (err: grpc.ServiceError | null, res: Res) => void;
function call<Req, Res>(
  fn: (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: Callback<Res>) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, new grpc.Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res))));
}

async function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('the call succeeded');
}

/** The auth service's CredentialService, as far as the user service uses it. */
const activeCertificates = new Map<bigint, { certificate: string; issuerCertificate: string }>();
const authState = { down: false };
const fakeAuthModule: ServiceModule = {
  name: 'fake-auth',
  create: () => ({
    internal: [
      defineService(
        CredentialServiceService,
        {
          async getActiveSigningCertificate(request) {
            if (authState.down) throw new Error('auth is failing');
            const active = activeCertificates.get(request.userId);
            if (!active) throw new DomainError('SIGNING_CERTIFICATE_NOT_FOUND', 'no active signing certificate');
            return active;
          },
          // The operator's unlock calls the user service, never the other way round.
          async unlockUser() {
            throw new Error('the user service does not call UnlockUser');
          },
          async revokeCredentials() {
            return { secretsDeleted: 0, biometricKeysDeleted: 0, certificatesRevoked: 0 };
          },
        },
        {
          getActiveSigningCertificate: {
            access: 'internal',
            callers: ['user'],
            errors: apiErrorType(GetActiveSigningCertificateApiError, GetActiveSigningCertificateApiError_ErrorCode),
          },
          unlockUser: { access: 'internal', callers: ['user'] },
          revokeCredentials: { access: 'internal', callers: ['user'] },
        },
      ),
    ],
  }),
};

/** The device service's DeviceRegistryService: records what it is asked to revoke. */
const revokedDevices: Array<{ deviceId: bigint; reason: RevocationReason }> = [];
/** Devices the fake device service does not know. */
const unknownDevices = new Set<bigint>();
const fakeDeviceModule: ServiceModule = {
  name: 'fake-device',
  create: () => ({
    internal: [
      defineService(
        DeviceRegistryServiceService,
        {
          async revokeDevice(request) {
            if (unknownDevices.has(request.deviceId)) throw new DomainError('DEVICE_NOT_FOUND', 'no such device');
            revokedDevices.push({ deviceId: request.deviceId, reason: request.reason });
            return { revokedAt: new Date().toISOString() };
          },
        },
        {
          revokeDevice: {
            access: 'internal',
            callers: ['user'],
            errors: apiErrorType(RevokeDeviceApiError, RevokeDeviceApiError_ErrorCode),
          },
        },
      ),
    ],
  }),
};

describe('user service over gRPC', () => {
  let services: TestServices;
  let running: RunningServices;
  let users: UserServiceClient;
  let accounts: UserAccountServiceClient;
  let sessions: SessionServiceClient;
  let steps: ProcessStepServiceClient;
  const logs = createCapturingDestination();
  let deviceCounter = 5000n;

  beforeAll(async () => {
    services = await startTestServices([userModule, fakeAuthModule, fakeDeviceModule], {
      name: 'user-test',
      logDestination: logs,
      store: createMemoryStore(),
      serviceIdentity: true,
    });
    ({ running } = services);
    const address = `127.0.0.1:${running.internalPort}`;
    // The test calls as the services that call these methods (each method names its callers;
    // operator methods such as UpdateKyc serve them without a token): the transfer service's
    // process checks, the auth service for the rest.
    const identity = services.identity!;
    users = new UserServiceClient(address, identity.as('transfer'));
    accounts = new UserAccountServiceClient(address, identity.as('auth'));
    sessions = new SessionServiceClient(address, identity.as('auth'));
    steps = new ProcessStepServiceClient(address, identity.as('auth'));
  }, 60_000);

  afterAll(async () => {
    for (const client of [users, accounts, sessions, steps]) client?.close();
    await services?.close();
  });

  /** One member per resident id: the first user gets 900115-1234567, each later one the next number. */
  let residentCounter = 0;

  /** Registration as the auth service drives it, to ACTIVATED, with KYC data. */
  async function activated(name = '홍길동') {
    const deviceId = ++deviceCounter;
    const registered = await call(accounts.registerUser.bind(accounts), {
      idpType: 'PASS',
      idpName: 'KT',
      userName: name,
      phoneNumber: '01098765432',
      userCi: `ci-grpc-${deviceId}`,
      deviceId,
      deviceUuid: `uuid-${deviceId}`,
    });
    expect(registered.userStatus).toBe(UserStatus.CREATED);
    const userId = registered.userId;
    await call(accounts.updateUserStatus.bind(accounts), {
      userId,
      expectedStatus: UserStatus.CREATED,
      newStatus: UserStatus.AGREED,
      reason: '',
      unlock: false,
    });
    const residentId = `900115-${1234567 + residentCounter++}`;
    const { customerId } = await call(accounts.updateCustomerInfo.bind(accounts), { userId, residentId, name });
    await call(accounts.updateKyc.bind(accounts), { userId, kycStatus: KycStatus.REGISTERED, reason: '', kycData: '' });
    await call(accounts.updateUserStatus.bind(accounts), {
      userId,
      expectedStatus: UserStatus.AGREED,
      newStatus: UserStatus.ACTIVATED,
      reason: '',
      unlock: false,
    });
    return { userId, deviceId, customerId, userToken: registered.userToken };
  }

  async function login(userId: bigint, deviceId: bigint) {
    const created = await call(users.createProcess.bind(users), {
      userId,
      transactionType: AuthenticatedTransactionType.LOGIN,
      transactionContext: '{}',
    });
    const processId = created.process!.processId;
    const running = await call(steps.getRunningProcess.bind(steps), { processId, userId });
    expect(running.transactionType).toBe(AuthenticatedTransactionType.LOGIN);
    const done = await call(steps.completeAuthentication.bind(steps), { processId, userId, type: AuthenticationType.PIN });
    expect(done.process?.status).toBe(AuthenticationProcess_ProcessStatus.DONE);
    return call(sessions.createSession.bind(sessions), { userId, deviceId, processId });
  }

  it('registers, logs in, and answers FindBySessionToken, FindByUserId and FindByCustomerId with the seed fields', async () => {
    const { userId, deviceId, customerId, userToken } = await activated();
    expect(customerId).toMatch(/^C\d{12}$/);
    const byToken = await call(accounts.findByUserToken.bind(accounts), { userToken });
    expect(byToken.user?.userId).toBe(userId);
    expect(byToken.user?.userToken).toBe('');
    expect(byToken.deviceUuid).toBe(`uuid-${deviceId}`);

    const session = await login(userId, deviceId);
    const found = await call(users.findBySessionToken.bind(users), { sessionToken: session.sessionToken });
    expect(found.userSession).toEqual({
      userId,
      deviceId,
      userStatus: UserStatus.ACTIVATED,
      userName: '홍길동',
      phoneNumber: '01098765432',
      customerId,
      kycStatus: KycStatus.REGISTERED,
      expiredAt: session.sessionExpiredAt,
    });
    expect(new Date(session.sessionExpiredAt).toISOString()).toBe(session.sessionExpiredAt);

    const byId = await call(users.findByUserId.bind(users), { userId: userId.toString() });
    expect(byId.user).toMatchObject({
      userId,
      deviceId,
      userStatus: UserStatus.ACTIVATED,
      customerId,
      kycStatus: KycStatus.REGISTERED,
      residentId: '900115-1234567',
    });
    expect(byId.user?.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    // No service looks users up by customer id: its callers are none (accounts.it.test.ts tests the lookup).
    expect((await failure(call(users.findByCustomerId.bind(users), { customerId }))).code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it("logs in as auth does since ADR 0015: the token's user and process in one call, the step by revision, the session by user token", async () => {
    const { userId, deviceId, userToken } = await activated('김민수');
    const created = await call(users.createProcess.bind(users), {
      userId,
      transactionType: AuthenticatedTransactionType.LOGIN,
      transactionContext: '{}',
    });
    const processId = created.process!.processId;
    const found = await call(accounts.getRunningProcessForUserToken.bind(accounts), { userToken, processId });
    expect(found.user).toEqual({ userId, userStatus: UserStatus.ACTIVATED, deviceId });
    expect(found.process).toEqual(created.process);
    expect(found.transactionType).toBe(AuthenticatedTransactionType.LOGIN);
    expect(found.revision).not.toBe('');
    expect(found.revision).toBe((await call(steps.getRunningProcess.bind(steps), { processId, userId })).revision);
    const unknown = await call(accounts.getRunningProcessForUserToken.bind(accounts), { userToken: 'A'.repeat(43), processId });
    expect(unknown.user).toBeUndefined();
    expect(unknown.process).toBeUndefined();

    const done = await call(steps.completeAuthentication.bind(steps), {
      processId,
      userId,
      type: AuthenticationType.PIN,
      revision: found.revision,
    });
    expect(done.process?.status).toBe(AuthenticationProcess_ProcessStatus.DONE);
    const notRunning = await call(accounts.getRunningProcessForUserToken.bind(accounts), { userToken, processId });
    expect(notRunning.user?.userId).toBe(userId);
    expect(notRunning.process).toBeUndefined();

    const session = await call(sessions.createSession.bind(sessions), { userId: 0n, userToken, deviceId, processId });
    expect(session).toMatchObject({ userId, userName: '김민수' });
    expect((await call(users.findBySessionToken.bind(users), { sessionToken: session.sessionToken })).userSession?.userId).toBe(userId);

    // Only auth asks for a token's user and process.
    const asTransfer = new UserAccountServiceClient(`127.0.0.1:${running.internalPort}`, services.identity!.as('transfer'));
    try {
      const refused = await failure(call(asTransfer.getRunningProcessForUserToken.bind(asTransfer), { userToken, processId }));
      expect(refused.code).toBe(grpc.status.PERMISSION_DENIED);
    } finally {
      asTransfer.close();
    }
  });

  it("CreateProcessForUserToken (ADR 0021): the holder's process on its device, the listed context for a listed holder, nothing for anyone else", async () => {
    const { userId, deviceId, userToken } = await activated();
    const request = {
      userToken,
      deviceId,
      transactionType: AuthenticatedTransactionType.LOGIN,
      transactionContext: '{"biometric_enabled":false}',
      listedUserIds: [userId + 1n],
      transactionContextIfListed: '{"biometric_enabled":true}',
    };
    const pin = await call(accounts.createProcessForUserToken.bind(accounts), request);
    expect(pin.process?.processId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(pin.process?.authentications.map((a) => a.type)).toEqual([AuthenticationType.PIN]);
    const read = await call(steps.getRunningProcess.bind(steps), { processId: pin.process!.processId, userId });
    expect(read.process).toEqual(pin.process);
    const bio = await call(accounts.createProcessForUserToken.bind(accounts), { ...request, listedUserIds: [userId] });
    expect(bio.process?.authentications.map((a) => a.type)).toEqual([AuthenticationType.BIO]);

    for (const other of [{ deviceId: deviceId + 1n }, { userToken: 'A'.repeat(43) }]) {
      expect((await call(accounts.createProcessForUserToken.bind(accounts), { ...request, ...other })).process).toBeUndefined();
    }
    const noDevice = await failure(call(accounts.createProcessForUserToken.bind(accounts), { ...request, deviceId: 0n }));
    expect(noDevice.code).toBe(grpc.status.INVALID_ARGUMENT);
    const noPolicy = await failure(
      call(accounts.createProcessForUserToken.bind(accounts), {
        ...request,
        transactionType: AuthenticatedTransactionType.TRANSFER,
        transactionContext: '{}',
      }),
    );
    expect(noPolicy.code).toBe(grpc.status.NOT_FOUND);
    expect(apiErrorCode(noPolicy, CreateProcessForUserTokenApiError)).toBe(
      CreateProcessForUserTokenApiError_ErrorCode.AUTHENTICATION_POLICY_NOT_FOUND,
    );

    // Only auth creates processes for a token's holder.
    const asTransfer = new UserAccountServiceClient(`127.0.0.1:${running.internalPort}`, services.identity!.as('transfer'));
    try {
      const refused = await failure(call(asTransfer.createProcessForUserToken.bind(asTransfer), request));
      expect(refused.code).toBe(grpc.status.PERMISSION_DENIED);
    } finally {
      asTransfer.close();
    }
  });

  it('answers the seed errors of the Find methods', async () => {
    const required = await failure(call(users.findBySessionToken.bind(users), { sessionToken: '' }));
    expect(required.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(apiErrorCode(required, FindBySessionTokenApiError)).toBe(FindBySessionTokenApiError_ErrorCode.SESSION_TOKEN_REQUIRED);

    const expired = await failure(call(users.findBySessionToken.bind(users), { sessionToken: 'x'.repeat(43) }));
    expect(expired.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(apiErrorCode(expired, FindBySessionTokenApiError)).toBe(FindBySessionTokenApiError_ErrorCode.LOGIN_SESSION_EXPIRED);

    for (const promise of [call(users.findByUserId.bind(users), { userId: '999999999' })]) {
      const err = await failure(promise);
      expect(err.code).toBe(grpc.status.NOT_FOUND);
      expect(apiErrorCode(err, FindBySessionTokenApiError)).toBe(FindBySessionTokenApiError_ErrorCode.USER_NOT_FOUND);
    }
    expect((await failure(call(users.findByUserId.bind(users), { userId: 'abc' }))).code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('rotates a session; the reused refresh token is INVALID_LOGIN_SESSION and ends the family', async () => {
    const { userId, deviceId } = await activated();
    const first = await login(userId, deviceId);
    const second = await call(sessions.rotateSession.bind(sessions), { refreshToken: first.refreshToken, deviceId });
    const reused = await failure(call(sessions.rotateSession.bind(sessions), { refreshToken: first.refreshToken, deviceId }));
    expect(reused.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(apiErrorCode(reused, RotateSessionApiError)).toBe(RotateSessionApiError_ErrorCode.INVALID_LOGIN_SESSION);
    const gone = await failure(call(users.findBySessionToken.bind(users), { sessionToken: second.sessionToken }));
    expect(apiErrorCode(gone, FindBySessionTokenApiError)).toBe(FindBySessionTokenApiError_ErrorCode.LOGIN_SESSION_EXPIRED);
  });

  it('lists live logins, revokes one or all but one through the revocation path, and names the login of a token', async () => {
    const { userId, deviceId } = await activated();
    const other = await activated();
    const a = await login(userId, deviceId);
    const b = await login(userId, deviceId);
    const c = await login(userId, deviceId);
    const idOf = async (sessionToken: string) => (await call(sessions.findSessionId.bind(sessions), { sessionToken })).sessionId;
    const [idA, idB, idC] = [await idOf(a.sessionToken), await idOf(b.sessionToken), await idOf(c.sessionToken)];
    expect(new Set([idA, idB, idC]).size).toBe(3);
    // A refresh keeps the login's id.
    const a2 = await call(sessions.rotateSession.bind(sessions), { refreshToken: a.refreshToken, deviceId });
    expect(await idOf(a2.sessionToken)).toBe(idA);
    const listed = await call(sessions.listSessions.bind(sessions), { userId });
    expect(listed.sessions.map((x) => x.sessionId).sort()).toEqual([idA, idB, idC].sort());
    const loginA = listed.sessions.find((x) => x.sessionId === idA)!;
    expect(loginA.deviceId).toBe(deviceId);
    expect(new Date(loginA.createdAt).getTime()).toBeLessThanOrEqual(new Date(loginA.lastRefreshedAt).getTime());

    // Another user's id revokes nothing; an unknown token has no login.
    expect((await call(sessions.revokeSession.bind(sessions), { userId: other.userId, sessionId: idB, reason: 'x' })).revoked).toBe(0);
    const unknown = await failure(call(sessions.findSessionId.bind(sessions), { sessionToken: 'x'.repeat(43) }));
    expect(apiErrorCode(unknown, FindSessionIdApiError)).toBe(FindSessionIdApiError_ErrorCode.LOGIN_SESSION_EXPIRED);

    expect((await call(sessions.revokeSession.bind(sessions), { userId, sessionId: idB, reason: 'logout' })).revoked).toBe(1);
    await failure(call(users.findBySessionToken.bind(users), { sessionToken: b.sessionToken }));
    const kept = await call(sessions.revokeOtherSessions.bind(sessions), { userId, keepSessionId: idA, reason: 'pin changed' });
    expect(kept.revoked).toBe(1);
    await failure(call(users.findBySessionToken.bind(users), { sessionToken: c.sessionToken }));
    expect((await call(users.findBySessionToken.bind(users), { sessionToken: a2.sessionToken })).userSession?.userId).toBe(userId);
    expect((await call(sessions.listSessions.bind(sessions), { userId })).sessions.map((x) => x.sessionId)).toEqual([idA]);
    const missingKeep = await failure(call(sessions.revokeOtherSessions.bind(sessions), { userId, keepSessionId: '', reason: 'x' }));
    expect(missingKeep.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('FindUsersOnDevice names the users bound to a device, none for a fresh one', async () => {
    const { userId, deviceId } = await activated();
    expect((await call(accounts.findUsersOnDevice.bind(accounts), { deviceId })).userIds).toEqual([userId]);
    expect((await call(accounts.findUsersOnDevice.bind(accounts), { deviceId: 987_654_321n })).userIds).toEqual([]);
    expect((await call(accounts.findUsersOnDevice.bind(accounts), { deviceId: 0n })).userIds).toEqual([]);
  });

  it('registering a held identity is ALREADY_REGISTERED_USER; a forbidden status change is USER_STATUS_CONFLICT', async () => {
    const { userId, deviceId } = await activated();
    const again = await failure(
      call(accounts.registerUser.bind(accounts), {
        idpType: 'PASS',
        idpName: 'KT',
        userName: 'x',
        phoneNumber: '0',
        userCi: `ci-grpc-${deviceId}`,
        deviceId: 1n,
        deviceUuid: 'u',
      }),
    );
    expect(again.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(apiErrorCode(again, RegisterUserApiError)).toBe(RegisterUserApiError_ErrorCode.ALREADY_REGISTERED_USER);
    const conflict = await failure(
      call(accounts.updateUserStatus.bind(accounts), {
        userId,
        expectedStatus: UserStatus.CREATED,
        newStatus: UserStatus.AGREED,
        reason: '',
        unlock: false,
      }),
    );
    expect(conflict.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(apiErrorCode(conflict, UpdateUserStatusApiError)).toBe(UpdateUserStatusApiError_ErrorCode.USER_STATUS_CONFLICT);
  });

  it('blocking a user ends the session and revokes the bound device through DeviceRegistryService', async () => {
    const { userId, deviceId } = await activated();
    const session = await login(userId, deviceId);
    await call(accounts.updateUserStatus.bind(accounts), {
      userId,
      expectedStatus: UserStatus.ACTIVATED,
      newStatus: UserStatus.BLOCKED,
      reason: 'too many PINs',
      unlock: false,
    });
    expect(revokedDevices).toContainEqual({ deviceId, reason: RevocationReason.REVOCATION_REASON_USER_BLOCKED });
    const err = await failure(call(users.findBySessionToken.bind(users), { sessionToken: session.sessionToken }));
    expect(apiErrorCode(err, FindBySessionTokenApiError)).toBe(FindBySessionTokenApiError_ErrorCode.LOGIN_SESSION_EXPIRED);
  });

  it('CreateProcess and CompleteAuthentication errors', async () => {
    const { userId } = await activated();
    const noPolicy = await failure(
      call(users.createProcess.bind(users), { userId, transactionType: AuthenticatedTransactionType.TRANSFER, transactionContext: '{}' }),
    );
    expect(noPolicy.code).toBe(grpc.status.NOT_FOUND);
    expect(apiErrorCode(noPolicy, CreateProcessApiError)).toBe(CreateProcessApiError_ErrorCode.AUTHENTICATION_POLICY_NOT_FOUND);
    const badJson = await failure(
      call(users.createProcess.bind(users), { userId, transactionType: AuthenticatedTransactionType.LOGIN, transactionContext: '{' }),
    );
    expect(badJson.code).toBe(grpc.status.INVALID_ARGUMENT);
    const unknownType = await failure(
      call(users.createProcess.bind(users), { userId, transactionType: AuthenticatedTransactionType.UNKNOWN, transactionContext: '{}' }),
    );
    expect(unknownType.code).toBe(grpc.status.INVALID_ARGUMENT);

    const created = await call(users.createProcess.bind(users), {
      userId,
      transactionType: AuthenticatedTransactionType.CHANGE_DEVICE,
      transactionContext: '{}',
    });
    const wrongType = await failure(
      call(steps.completeAuthentication.bind(steps), { processId: created.process!.processId, userId, type: AuthenticationType.NA }),
    );
    expect(wrongType.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(apiErrorCode(wrongType, CompleteAuthenticationApiError)).toBe(
      CompleteAuthenticationApiError_ErrorCode.AUTHENTICATION_TYPE_NOT_DEFINED,
    );
  });

  it("GetProcess checks the signature with the certificate auth reports, and hides other users' processes", async () => {
    const { userId } = await activated();
    const other = await activated('김철수');
    const ca = await createSigningCa();
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const certificate = await issueSigningCertificate({
      csr: await parseSigningCsr((await createCsr(keys)).pem),
      ca,
      userId: userId.toString(),
      validityDays: 30,
    });
    activeCertificates.set(userId, { certificate: certificate.base64, issuerCertificate: Buffer.from(ca.cert.rawData).toString('base64') });

    const context = JSON.stringify({ amount: { currency_code: 'KRW', major_amount: '2500000', minor_amount: '0' } });
    const created = await call(users.createProcess.bind(users), {
      userId,
      transactionType: AuthenticatedTransactionType.TRANSFER,
      transactionContext: context,
    });
    expect(created.process?.authentications.map((a) => a.type)).toEqual([AuthenticationType.PIN, AuthenticationType.BIO]);
    const processId = created.process!.processId;
    const signed = (
      await signData({
        content: new TextEncoder().encode(context),
        certificateDer: certificate.der,
        privateKey: keys.privateKey,
        detached: true,
      })
    ).base64;

    const verified = await call(users.getProcess.bind(users), { processId, userId, signedData: signed, originData: context });
    expect(verified.isVerified).toBe(true);
    expect(verified.process?.processId).toBe(processId);
    expect(
      (await call(users.getProcess.bind(users), { processId, userId, signedData: signed, originData: `${context} ` })).isVerified,
    ).toBe(false);

    const hidden = await failure(
      call(users.getProcess.bind(users), { processId, userId: other.userId, signedData: signed, originData: context }),
    );
    expect(hidden.code).toBe(grpc.status.NOT_FOUND);
    expect(apiErrorCode(hidden, GetProcessApiError)).toBe(GetProcessApiError_ErrorCode.AUTHENTICATION_PROCESS_NOT_FOUND);

    // Issue 17 (ADR 0018): the creation answers the name FindByUserId does; a consuming read with a
    // recipient answers that user's status from its own statement (UNKNOWN for no such user), also
    // on a retry; without a recipient, none.
    expect(created.userName).toBe('홍길동');
    expect(created.userName).toBe((await call(users.findByUserId.bind(users), { userId: userId.toString() })).user?.userName);
    for (const type of [AuthenticationType.PIN, AuthenticationType.BIO])
      await call(steps.completeAuthentication.bind(steps), { processId, userId, type });
    const consume = (recipientUserId?: bigint) =>
      call(users.getProcess.bind(users), {
        processId,
        userId,
        signedData: signed,
        originData: context,
        consumeTransactionType: AuthenticatedTransactionType.TRANSFER,
        consumeTransactionContext: context,
        recipientUserId,
      });
    expect(await consume(other.userId)).toMatchObject({ isVerified: true, consumed: true, recipientStatus: UserStatus.ACTIVATED });
    expect(await consume(987_654_321n)).toMatchObject({ isVerified: true, consumed: true, recipientStatus: UserStatus.UNKNOWN });
    expect(await consume()).toMatchObject({ isVerified: true, consumed: true, recipientStatus: undefined });

    // ADR 0019: a creation with a recipient answers their status and name, and creates a process
    // only for an ACTIVATED one; without a recipient, neither is answered.
    const forRecipient = (recipientUserId?: bigint) =>
      call(users.createProcess.bind(users), {
        userId,
        transactionType: AuthenticatedTransactionType.TRANSFER,
        transactionContext: context,
        recipientUserId,
      });
    const toOther = await forRecipient(other.userId);
    expect(toOther.process?.processId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(toOther).toMatchObject({ userName: '홍길동', recipientStatus: UserStatus.ACTIVATED });
    expect(toOther.recipientName).toBe((await call(users.findByUserId.bind(users), { userId: other.userId.toString() })).user?.userName);
    expect(await forRecipient(987_654_321n)).toEqual({ process: undefined, recipientStatus: UserStatus.UNKNOWN, recipientName: '' });
    expect(await forRecipient()).toMatchObject({ userName: '홍길동', recipientStatus: undefined, recipientName: undefined });

    // The other user has no certificate at auth: SIGNING_CERTIFICATE_NOT_FOUND there is "not verified" here.
    const theirs = await call(users.createProcess.bind(users), {
      userId: other.userId,
      transactionType: AuthenticatedTransactionType.TRANSFER,
      transactionContext: context,
    });
    expect(
      (
        await call(users.getProcess.bind(users), {
          processId: theirs.process!.processId,
          userId: other.userId,
          signedData: signed,
          originData: context,
        })
      ).isVerified,
    ).toBe(false);
  });

  it("user B's id never reads or moves user A's processes or sessions", async () => {
    const a = await activated('Alice');
    const b = await activated('Bob');
    const transferContext = JSON.stringify({ amount: { currency_code: 'KRW', major_amount: '1000', minor_amount: '0' } });
    const created = await call(users.createProcess.bind(users), {
      userId: a.userId,
      transactionType: AuthenticatedTransactionType.TRANSFER,
      transactionContext: transferContext,
    });
    const processId = created.process!.processId;
    const asB = { processId, userId: b.userId };
    const refusals = await Promise.all([
      failure(call(steps.getRunningProcess.bind(steps), asB)),
      failure(call(steps.completeAuthentication.bind(steps), { ...asB, type: AuthenticationType.BIO })),
      failure(call(users.getProcess.bind(users), { ...asB, signedData: '', originData: '' })),
    ]);
    for (const err of refusals) expect([grpc.status.FAILED_PRECONDITION, grpc.status.NOT_FOUND]).toContain(err.code);
    // Still untouched for A, who completes and consumes it; B cannot consume or log in with it.
    await call(steps.completeAuthentication.bind(steps), { processId, userId: a.userId, type: AuthenticationType.BIO });
    const consumeAsB = await failure(
      call(steps.consumeProcess.bind(steps), {
        ...asB,
        transactionType: AuthenticatedTransactionType.TRANSFER,
        transactionContext: transferContext,
      }),
    );
    expect(consumeAsB.code).toBe(grpc.status.NOT_FOUND);
    expect((await failure(call(sessions.createSession.bind(sessions), { ...asB, deviceId: b.deviceId }))).code).toBe(grpc.status.NOT_FOUND);
    await call(steps.consumeProcess.bind(steps), {
      processId,
      userId: a.userId,
      transactionType: AuthenticatedTransactionType.TRANSFER,
      transactionContext: transferContext,
    });

    // A's session resolves to A only; revoking B's sessions leaves it alive.
    const sessionA = await login(a.userId, a.deviceId);
    await call(sessions.revokeSessions.bind(sessions), { userId: b.userId, deviceId: 0n, reason: 'logout' });
    expect((await call(users.findBySessionToken.bind(users), { sessionToken: sessionA.sessionToken })).userSession?.userId).toBe(a.userId);
    // A's refresh token presented from B's device is refused (and ends A's family).
    const other = await failure(call(sessions.rotateSession.bind(sessions), { refreshToken: sessionA.refreshToken, deviceId: b.deviceId }));
    expect(apiErrorCode(other, RotateSessionApiError)).toBe(RotateSessionApiError_ErrorCode.INVALID_LOGIN_SESSION);
  });

  it('GetProcess answers UNAVAILABLE, not "not verified", when auth cannot answer', async () => {
    const { userId } = await activated();
    const created = await call(users.createProcess.bind(users), {
      userId,
      transactionType: AuthenticatedTransactionType.LOGIN,
      transactionContext: '',
    });
    authState.down = true;
    try {
      const err = await failure(
        call(users.getProcess.bind(users), { processId: created.process!.processId, userId, signedData: 'MAA=', originData: 'x' }),
      );
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      authState.down = false;
    }
  });

  it('blocking a user whose device the device service does not know still blocks', async () => {
    const { userId, deviceId } = await activated();
    unknownDevices.add(deviceId);
    const blocked = await call(accounts.updateUserStatus.bind(accounts), {
      userId,
      expectedStatus: UserStatus.ACTIVATED,
      newStatus: UserStatus.BLOCKED,
      reason: '',
      unlock: false,
    });
    expect(blocked.user?.userStatus).toBe(UserStatus.BLOCKED);
    expect(revokedDevices.map((r) => r.deviceId)).not.toContain(deviceId);
  });

  it('is not served on the mobile listener', async () => {
    const serverCa = await readFile(running.serverCaCertFile);
    const client = new UserServiceClient(`127.0.0.1:${running.mobilePort}`, grpc.credentials.createSsl(serverCa));
    const err = await failure(call(client.findByUserId.bind(client), { userId: '1' }));
    client.close();
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('never logs tokens or resident ids', async () => {
    const { userId, deviceId, userToken } = await activated();
    const session = await login(userId, deviceId);
    const text = logs.text();
    for (const secret of [userToken, session.sessionToken, session.refreshToken, '900115-1234567']) expect(text).not.toContain(secret);
  });
});
