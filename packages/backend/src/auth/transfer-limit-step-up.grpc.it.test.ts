// Raising a transfer limit with the real step-up, as the phone does it: PrepareChangeTransferLimit
// starts a CHANGE_TRANSFER_LIMIT process from the user service's own policy (PIN), the app
// authenticates it with AuthenticationService.AuthenticatePin on its session, and
// ChangeTransferLimit consumes it. Real device, E2E key, auth, user, account and transfer
// services on PostgreSQL and Redis.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unary } from '@kfrm/app-client';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { AuthenticationProcess_ProcessStatus, AuthenticationType, CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { TransferLimitApiError, TransferLimitApiError_ErrorCode, TransferServiceClient } from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { apiErrorCode } from '@kfrm/server-kit';
import { accountModule } from '@kfrm/service-account/account.module';
import { createTransferModule } from '@kfrm/service-transfer/transfer.module';
import { userModule } from '@kfrm/service-user';
import { AUTH, PIN, WRONG_PIN, authn, bearer, refusal, startIdentityHarness, type IdentityHarness } from '../testing/identity.harness';

const krw = (majorAmount: bigint) => ({ currencyCode: CurrencyCode.KRW, majorAmount, minorAmount: 0n });

describe('transfer limit raise with PIN step-up', () => {
  let h: IdentityHarness;

  beforeAll(async () => {
    h = await startIdentityHarness(userModule, {}, [accountModule, createTransferModule({ env: {} })]);
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  it('lowers at once, raises only after the PIN', async () => {
    const phone = await h.newPhone();
    const user = await h.register(phone);
    const session = await h.loginWithPin(phone, user.userToken);
    const auth = bearer(session.sessionToken);
    const ledger = h.running.internalClientsOf('casa').get(LedgerServiceClient);
    const account = await new Promise<string>((resolve, reject) =>
      ledger.createAccount(
        {
          ownerUserId: String(user.userId),
          accountName: '입출금통장',
          currency: CurrencyCode.KRW,
          limitPerTransaction: krw(1_000_000n),
          limitPerDay: krw(5_000_000n),
          accountColor: '',
          idempotencyKey: '',
        },
        (e, r) => (e ? reject(e) : resolve(r.account!.accountNumber)),
      ),
    );
    const t = phone.client(TransferServiceClient);

    const lower = { accountNumber: account, limitPerTransaction: krw(500_000n), limitPerDay: krw(2_000_000n) };
    expect(await unary(t, t.prepareChangeTransferLimit, lower, auth)).toEqual({ stepUpRequired: false, process: undefined });
    await unary(t, t.changeTransferLimit, { ...lower, authenticationProcessId: '' }, auth);

    const raise = { accountNumber: account, limitPerTransaction: krw(3_000_000n), limitPerDay: krw(10_000_000n) };
    const prepared = await unary(t, t.prepareChangeTransferLimit, raise, auth);
    expect(prepared.stepUpRequired).toBe(true);
    expect(prepared.process?.authentications.map((a) => a.type)).toEqual([AuthenticationType.PIN]);
    const processId = prepared.process!.processId;
    const a = authn(phone);
    // A wrong PIN does not complete it.
    await refusal(unary(a, a.authenticatePin, { processId, pin: await phone.encrypt(AUTH, WRONG_PIN) }, auth));
    const early = await refusal(unary(t, t.changeTransferLimit, { ...raise, authenticationProcessId: processId }, auth));
    expect([early.code, apiErrorCode(early, TransferLimitApiError)]).toEqual([
      grpc.status.PERMISSION_DENIED,
      TransferLimitApiError_ErrorCode.STEP_UP_AUTHENTICATION_REQUIRED,
    ]);
    const done = await unary(a, a.authenticatePin, { processId, pin: await phone.encrypt(AUTH, PIN) }, auth);
    expect(done.process?.status).toBe(AuthenticationProcess_ProcessStatus.DONE);
    expect(await unary(t, t.changeTransferLimit, { ...raise, authenticationProcessId: processId }, auth)).toEqual({
      success: true,
      limitPerTransaction: krw(3_000_000n),
      limitPerDay: krw(10_000_000n),
    });
    const view = await unary(t, t.getTransferLimit, { accountNumber: account }, auth);
    expect([view.limitPerTransaction, view.limitPerDay]).toEqual([krw(3_000_000n), krw(10_000_000n)]);
  });
});
