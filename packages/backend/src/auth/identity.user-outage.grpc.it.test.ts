// The user service unreachable or failing: auth answers UNAVAILABLE and never treats a check it
// could not make as passed. Uses the in-memory user service, whose outage a test can switch on.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unary } from '@kfrm/app-client';
import { LoginApiError, LoginApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/auth/auth';
import { apiErrorCode } from '@kfrm/server-kit';
import { createFakeUserModule, type FakeUserState } from '../testing/user-module.fake';
import { AUTH, PIN, authn, loginSvc, reg, refusal, startIdentityHarness, type IdentityHarness } from '../testing/identity.harness';

describe('identity with the user service down', () => {
  let h: IdentityHarness;
  let users: FakeUserState;

  beforeAll(async () => {
    const fake = createFakeUserModule();
    users = fake.state;
    h = await startIdentityHarness(fake.module);
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  it('answers UNAVAILABLE for registration, factor checks and login, and issues no session', async () => {
    const app = await h.newPhone();
    const user = await h.register(app);
    const l = loginSvc(app);
    const a = authn(app);
    const { process } = await unary(l, l.prepareLogin, { userToken: user.userToken });
    users.down = true;
    try {
      const pin = await refusal(
        unary(a, a.authenticatePinForLogin, {
          userToken: user.userToken,
          processId: process!.processId,
          pin: await app.encrypt(AUTH, PIN),
        }),
      );
      expect(pin.code).toBe(grpc.status.UNAVAILABLE);
      const login = await refusal(unary(l, l.login, { userToken: user.userToken, processId: process!.processId }));
      expect(login.code).toBe(grpc.status.UNAVAILABLE);
      const terms = await refusal(unary(reg(app), reg(app).listTerms, { userToken: user.userToken }));
      expect(terms.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      users.down = false;
    }
    // The process was never completed: it gives no session afterwards either.
    const notDone = await refusal(unary(l, l.login, { userToken: user.userToken, processId: process!.processId }));
    expect(apiErrorCode(notDone, LoginApiError)).toBe(LoginApiError_ErrorCode.AUTHENTICATION_FAILED);
  });
});
