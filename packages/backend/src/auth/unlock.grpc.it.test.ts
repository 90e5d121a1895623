// The operator's unlock of a user that wrong PINs BLOCKED, over gRPC with the real user and
// device services: lock, unlock (CredentialService.UnlockUser, also through the CLI), then the app
// moves to a new device certificate (the block revoked the old one) and logs in with the PIN.
import { ApprovalStatus, OperatorApprovalServiceClient } from '@kfrm/proto/gen/kfrm/api/user/operator_approval_internal';
import { dirname } from 'node:path';
import { operatorTokenInterceptor } from '@kfrm/runtime';
import { operatorToken } from '@kfrm/runtime/testing/operator-tokens.fixtures';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { unary } from '@kfrm/app-client';
import { DeviceChangeServiceClient } from '@kfrm/proto/gen/kfrm/api/auth/auth';
import { CredentialServiceClient, UnlockUserApiError, UnlockUserApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/auth/auth_internal';
import {
  AuthenticatePinForLoginApiError,
  AuthenticatePinForLoginApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { AuthenticatedTransactionType, AuthenticationProcess_ProcessStatus } from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { ProcessStepServiceClient, UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { apiErrorCode } from '@kfrm/server-kit';
import { userModule } from '@kfrm/service-user';
import { AUTH, PIN, WRONG_PIN, authn, loginSvc, refusal, startIdentityHarness, type IdentityHarness } from '../testing/identity.harness';
import { runUnlockCli } from '@kfrm/service-auth/unlock-cli';

const MAX_ATTEMPTS = 3;

describe('operator unlock over gRPC', () => {
  let h: IdentityHarness;
  let internalAddress: string;
  let credentials: CredentialServiceClient;
  let accounts: UserAccountServiceClient;
  let steps: ProcessStepServiceClient;
  let approvals: OperatorApprovalServiceClient;

  beforeAll(async () => {
    h = await startIdentityHarness(userModule, { settings: { secretChecksPerDeviceWindow: 1_000, maxSecretAttempts: MAX_ATTEMPTS } });
    internalAddress = `127.0.0.1:${h.running.internalPort}`;
    // UnlockUser as a service calls it: the user service, executing an approved unlock (an
    // operator's unlock waits for a second operator: the CLI below).
    credentials = new CredentialServiceClient(internalAddress, h.identity.as('user'));
    // The second operator who approves the CLI's unlock (the CLI's token is another subject).
    const approver = await operatorToken(h.running.config.operatorIssuerDir, ['support'], 'second-support');
    approvals = new OperatorApprovalServiceClient(internalAddress, h.identity.anonymous(), {
      interceptors: [operatorTokenInterceptor(approver)],
    });
    accounts = new UserAccountServiceClient(internalAddress, h.identity.as('auth'));
    steps = new ProcessStepServiceClient(internalAddress, h.identity.as('auth'));
  }, 60_000);

  afterAll(async () => {
    for (const c of [credentials, accounts, steps, approvals]) c?.close();
    await h?.close();
  });

  const userStatus = async (userId: bigint) =>
    (await h.running.db.kysely('users').selectFrom('users').select('status').where('id', '=', String(userId)).executeTakeFirstOrThrow())
      .status;
  const pinRow = (userId: bigint) =>
    h.running.db
      .kysely('auth')
      .selectFrom('secret_credentials')
      .select(['failures', 'locked'])
      .where('user_id', '=', String(userId))
      .where('kind', '=', 'pin')
      .executeTakeFirstOrThrow();
  const cli = (argv: string[]) =>
    runUnlockCli(argv, {
      KFRM_INTERNAL_TARGET: internalAddress,
      KFRM_DATA_DIR: dirname(h.running.config.operatorIssuerDir),
      // Straight to the internal listener: TLS with the internal CA, no client certificate.
      KFRM_INTERNAL_CA_CERT_FILE: h.identity.env.KFRM_INTERNAL_CA_CERT_FILE!,
    });

  it('unlocks a BLOCKED user: credentials cleared, ACTIVATED, and the right PIN logs in again on a new device certificate', async () => {
    const phone = await h.newPhone();
    const user = await h.register(phone);
    const { deviceUuid } = await unary(accounts, accounts.findByUserToken, { userToken: user.userToken });
    const a = authn(phone);
    const { process } = await unary(loginSvc(phone), loginSvc(phone).prepareLogin, { userToken: user.userToken });
    const attempt = async (pin: string) =>
      refusal(
        unary(a, a.authenticatePinForLogin, {
          userToken: user.userToken,
          processId: process!.processId,
          pin: await phone.encrypt(AUTH, pin),
        }),
      );
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      expect(apiErrorCode(await attempt(WRONG_PIN), AuthenticatePinForLoginApiError)).toBe(
        AuthenticatePinForLoginApiError_ErrorCode.AUTHENTICATION_FAILED,
      );
    }
    expect(await pinRow(user.userId)).toEqual({ failures: MAX_ATTEMPTS, locked: true });
    // The right PIN on the locked credential: refused, and the user is BLOCKED (device revoked).
    expect(apiErrorCode(await attempt(PIN), AuthenticatePinForLoginApiError)).toBe(
      AuthenticatePinForLoginApiError_ErrorCode.AUTHENTICATION_FAILED,
    );
    expect(await userStatus(user.userId)).toBe('BLOCKED');
    expect((await attempt(PIN)).code).toBe(grpc.status.UNAUTHENTICATED);

    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      // An operator's unlock waits for a second operator (maker-checker).
      expect(await cli([String(user.userId), 'identity', 're-verified', 'at', 'branch'])).toBe(3);
      const pending = JSON.parse(String(log.mock.calls.at(-1)?.[0])) as { approvalId: string; status: string };
      expect(pending.status).toBe('PENDING_APPROVAL');
      expect(await userStatus(user.userId)).toBe('BLOCKED');
      const { request } = await unary(approvals, approvals.approve, { approvalId: pending.approvalId });
      expect(request).toMatchObject({
        status: ApprovalStatus.APPROVAL_STATUS_EXECUTED,
        outcome: 'OK',
        maker: 'unlock-cli',
        decidedBy: 'second-support',
      });
    } finally {
      log.mockRestore();
    }
    expect(await userStatus(user.userId)).toBe('ACTIVATED');
    expect(await pinRow(user.userId)).toEqual({ failures: 0, locked: false });
    // Safe to repeat: nothing more to change.
    const again = await unary(credentials, credentials.unlockUser, { userId: user.userId, reason: 'retry' });
    expect(again).toEqual({ userStatus: UserStatus.ACTIVATED, statusChanged: false });

    // The block revoked the device certificate, and unlocking does not bring it back.
    expect((await refusal(unary(loginSvc(phone), loginSvc(phone).prepareLogin, { userToken: user.userToken }))).code).toBe(
      grpc.status.UNAUTHENTICATED,
    );
    // The app gets a new device certificate on the same phone (same DeviceUUID): an app reinstall.
    const reinstalled = await h.newPhone();
    const dc = reinstalled.client(DeviceChangeServiceClient);
    const move = await unary(dc, dc.prepareDeviceChange, { userToken: user.userToken, deviceUuid: { id: deviceUuid } });
    const moveId = move.process!.processId;
    expect((await unary(steps, steps.getRunningProcess, { processId: moveId, userId: user.userId })).transactionType).toBe(
      AuthenticatedTransactionType.REINSTALL_APP,
    );
    // The PIN check is a real one again: the store's lock and counter are gone too.
    const done = await unary(authn(reinstalled), authn(reinstalled).authenticatePinForLogin, {
      userToken: user.userToken,
      processId: moveId,
      pin: await reinstalled.encrypt(AUTH, PIN),
    });
    expect(done.process?.status).toBe(AuthenticationProcess_ProcessStatus.DONE);
    await unary(dc, dc.changeDevice, { userToken: user.userToken, processId: moveId });
    const session = await h.loginWithPin(reinstalled, user.userToken);
    expect(session.sessionToken).not.toBe('');
  });

  it('clears a locked credential of a user still ACTIVATED (locked, not yet blocked)', async () => {
    const phone = await h.newPhone();
    const user = await h.register(phone);
    const { process } = await unary(loginSvc(phone), loginSvc(phone).prepareLogin, { userToken: user.userToken });
    const a = authn(phone);
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      await refusal(
        unary(a, a.authenticatePinForLogin, {
          userToken: user.userToken,
          processId: process!.processId,
          pin: await phone.encrypt(AUTH, WRONG_PIN),
        }),
      );
    }
    expect(await pinRow(user.userId)).toEqual({ failures: MAX_ATTEMPTS, locked: true });
    expect(await unary(credentials, credentials.unlockUser, { userId: user.userId, reason: 'caller verified' })).toEqual({
      userStatus: UserStatus.ACTIVATED,
      statusChanged: false,
    });
    expect(await pinRow(user.userId)).toEqual({ failures: 0, locked: false });
    // Same device, never revoked: the PIN logs in (and the user was never BLOCKED).
    expect((await h.loginWithPin(phone, user.userToken)).sessionToken).not.toBe('');
    expect(await userStatus(user.userId)).toBe('ACTIVATED');
  });

  it('refuses an unknown user, a user in another status, and a call without a reason; the CLI says so by its exit code', async () => {
    const unknown = await refusal(unary(credentials, credentials.unlockUser, { userId: 999_999n, reason: 'x' }));
    expect(unknown.code).toBe(grpc.status.NOT_FOUND);
    expect(apiErrorCode(unknown, UnlockUserApiError)).toBe(UnlockUserApiError_ErrorCode.USER_NOT_FOUND);

    const phone = await h.newPhone();
    const created = await h.createUser(phone);
    const conflict = await refusal(unary(credentials, credentials.unlockUser, { userId: created.userId, reason: 'x' }));
    expect(conflict.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(apiErrorCode(conflict, UnlockUserApiError)).toBe(UnlockUserApiError_ErrorCode.USER_STATUS_CONFLICT);
    expect(await userStatus(created.userId)).toBe('CREATED');

    const noReason = await refusal(unary(credentials, credentials.unlockUser, { userId: created.userId, reason: ' ' }));
    expect(noReason.code).toBe(grpc.status.INVALID_ARGUMENT);

    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      // Refusals of an approved unlock are the approval's outcome; the CLI only waits for it.
      expect(await cli([String(created.userId), 'verified'])).toBe(3);
      expect(await cli([String(created.userId)])).toBe(2);
      expect(await cli(['not-a-number', 'verified'])).toBe(2);
      expect(await cli([])).toBe(2);
    } finally {
      err.mockRestore();
    }
  });
});
