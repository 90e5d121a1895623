// Per-device throttles and policy-data errors, over gRPC with the real user and device services.
// The throttles run with small limits here (the other identity tests raise them out of the way);
// the policies are rows in the user service's `authentication_policies`, changed by the test.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unary } from '@kfrm/app-client';
import {
  DeviceChangeServiceClient,
  PrepareDeviceChangeApiError,
  PrepareDeviceChangeApiError_ErrorCode,
  PrepareLoginApiError,
  PrepareLoginApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/auth/auth';
import {
  AuthenticatePinForLoginApiError,
  AuthenticatePinForLoginApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { AuthenticatedTransactionType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { CreateProcessApiError, CreateProcessApiError_ErrorCode, UserServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user';
import { UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { apiErrorCode } from '@kfrm/server-kit';
import { createUserModule } from '@kfrm/service-user';
import {
  AUTH,
  PIN,
  WRONG_PIN,
  authn,
  loginSvc,
  reg,
  refusal,
  startIdentityHarness,
  type IdentityHarness,
} from '../testing/identity.harness';

const CERTIFICATES_PER_DEVICE_HOUR = 2;
const SECRET_CHECKS_PER_DEVICE_WINDOW = 3;

describe('per-device throttles and policy data over gRPC', () => {
  let h: IdentityHarness;

  beforeAll(async () => {
    // The tests change policies and expect the next process to follow them: no policy cache.
    h = await startIdentityHarness(createUserModule({ policyCacheMs: 0 }), {
      settings: {
        certificatesPerDeviceHour: CERTIFICATES_PER_DEVICE_HOUR,
        secretChecksPerDeviceWindow: SECRET_CHECKS_PER_DEVICE_WINDOW,
        // Above the PIN-check throttle, so the throttle is what stops the attempts.
        maxSecretAttempts: 10,
      },
    });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  const policies = () => h.running.db.kysely('users');

  it(`issues at most ${CERTIFICATES_PER_DEVICE_HOUR} signing certificates per device and hour (RESOURCE_EXHAUSTED), another device is unaffected`, async () => {
    const app = await h.newPhone();
    const { userToken } = await h.createUser(app);
    await h.agree(app, userToken);
    const r = reg(app);
    const issue = async () => unary(r, r.issueSigningCertificate, { userToken, csr: (await h.signingKey()).csr });
    for (let i = 0; i < CERTIFICATES_PER_DEVICE_HOUR; i++) expect((await issue()).certificate).not.toBe('');
    const throttled = await refusal(issue());
    expect(throttled.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // Another device signs up, certificate included, within its own budget.
    const other = await h.newPhone();
    expect((await h.register(other)).certificate).not.toBe('');
  });

  it(`checks at most ${SECRET_CHECKS_PER_DEVICE_WINDOW} PINs per device and window (RESOURCE_EXHAUSTED, the PIN unchecked), another device is unaffected`, async () => {
    const app = await h.newPhone();
    const user = await h.register(app);
    const { process } = await unary(loginSvc(app), loginSvc(app).prepareLogin, { userToken: user.userToken });
    const a = authn(app);
    const attempt = async (pin: string) =>
      unary(a, a.authenticatePinForLogin, { userToken: user.userToken, processId: process!.processId, pin: await app.encrypt(AUTH, pin) });
    for (let i = 0; i < SECRET_CHECKS_PER_DEVICE_WINDOW; i++) {
      expect(apiErrorCode(await refusal(attempt(WRONG_PIN)), AuthenticatePinForLoginApiError)).toBe(
        AuthenticatePinForLoginApiError_ErrorCode.AUTHENTICATION_FAILED,
      );
    }
    // The right PIN now: throttled before the credential is looked at.
    const throttled = await refusal(attempt(PIN));
    expect(throttled.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const row = await h.running.db
      .kysely('auth')
      .selectFrom('secret_credentials')
      .select(['failures', 'locked'])
      .where('user_id', '=', String(user.userId))
      .where('kind', '=', 'pin')
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ failures: SECRET_CHECKS_PER_DEVICE_WINDOW, locked: false });
    // Another device's user logs in with the PIN.
    const other = await h.newPhone();
    const otherUser = await h.register(other);
    expect((await h.loginWithPin(other, otherUser.userToken)).sessionToken).not.toBe('');
  });

  it('answers AUTHENTICATION_POLICY_NOT_FOUND when no policy applies (PrepareLogin, and CreateProcess for a transfer)', async () => {
    const app = await h.newPhone();
    const user = await h.register(app);
    const l = loginSvc(app);
    // The seed's transfer policies need an amount: a context without one matches none.
    const internal = new UserServiceClient(`127.0.0.1:${h.running.internalPort}`, h.identity.as('auth'));
    try {
      const transfer = await refusal(
        unary(internal, internal.createProcess, {
          userId: user.userId,
          transactionType: AuthenticatedTransactionType.TRANSFER,
          transactionContext: '{"memo":"no amount"}',
        }),
      );
      expect(transfer.code).toBe(grpc.status.NOT_FOUND);
      expect(apiErrorCode(transfer, CreateProcessApiError)).toBe(CreateProcessApiError_ErrorCode.AUTHENTICATION_POLICY_NOT_FOUND);
    } finally {
      internal.close();
    }

    const disabled = await policies()
      .updateTable('authentication_policies')
      .set({ enabled: false })
      .where('transaction_type', '=', 'LOGIN')
      .where('enabled', '=', true)
      .returning('id')
      .execute();
    expect(disabled.length).toBeGreaterThan(0);
    try {
      const none = await refusal(unary(l, l.prepareLogin, { userToken: user.userToken }));
      expect(none.code).toBe(grpc.status.NOT_FOUND);
      expect(apiErrorCode(none, PrepareLoginApiError)).toBe(PrepareLoginApiError_ErrorCode.AUTHENTICATION_POLICY_NOT_FOUND);
    } finally {
      await policies()
        .updateTable('authentication_policies')
        .set({ enabled: true })
        .where(
          'id',
          'in',
          disabled.map((p) => p.id),
        )
        .execute();
    }
    // The policies back: a login process again.
    expect((await unary(l, l.prepareLogin, { userToken: user.userToken })).process?.authentications.length).toBeGreaterThan(0);
  });

  it('answers EMPTY_AUTHENTICATION_PROCESS when the policy that applies lists no factor (PrepareLogin, PrepareDeviceChange)', async () => {
    const app = await h.newPhone();
    const user = await h.register(app);
    const accounts = new UserAccountServiceClient(`127.0.0.1:${h.running.internalPort}`, h.identity.as('auth'));
    const { deviceUuid } = await unary(accounts, accounts.findByUserToken, { userToken: user.userToken });
    accounts.close();
    // Ahead of the seed's policies (priority 10, 20), for every context.
    const added = await policies()
      .insertInto('authentication_policies')
      .values(
        (['LOGIN', 'REINSTALL_APP'] as const).map((type) => ({
          transaction_type: type,
          priority: 1,
          condition: null,
          authentications: '[]',
          description: 'test: a policy without factors',
        })),
      )
      .returning('id')
      .execute();
    try {
      const login = await refusal(unary(loginSvc(app), loginSvc(app).prepareLogin, { userToken: user.userToken }));
      expect(login.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(apiErrorCode(login, PrepareLoginApiError)).toBe(PrepareLoginApiError_ErrorCode.EMPTY_AUTHENTICATION_PROCESS);
      // An app reinstall on a new device certificate of the same phone.
      const reinstalled = await h.newPhone();
      const dc = reinstalled.client(DeviceChangeServiceClient);
      const reinstall = await refusal(unary(dc, dc.prepareDeviceChange, { userToken: user.userToken, deviceUuid: { id: deviceUuid } }));
      expect(apiErrorCode(reinstall, PrepareDeviceChangeApiError)).toBe(PrepareDeviceChangeApiError_ErrorCode.EMPTY_AUTHENTICATION_PROCESS);
    } finally {
      await policies()
        .deleteFrom('authentication_policies')
        .where(
          'id',
          'in',
          added.map((p) => p.id),
        )
        .execute();
    }
  });
});
