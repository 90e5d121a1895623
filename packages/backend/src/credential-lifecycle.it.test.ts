// The customer's credential lifecycle as the phone drives it, on the real user service, PostgreSQL
// and Redis: device-level calls that need the customer's own device, a signing certificate after
// a device change, sessions the customer can see and end.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unary } from '@kfrm/app-client';
import {
  DeviceChangeServiceClient,
  PrepareDeviceChangeApiError,
  PrepareDeviceChangeApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/auth/auth';
import {
  AuthenticatePinForLoginApiError,
  AuthenticatePinForLoginApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { apiErrorCode } from '@kfrm/server-kit';
import { userModule } from '@kfrm/service-user';
import { AUTH, PIN, WRONG_PIN, authn, refusal, startIdentityHarness, type IdentityHarness } from './testing/identity.harness';

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
});
