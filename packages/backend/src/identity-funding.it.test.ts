import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppClient, loginWithPin, registerAccountByArs, registerUser, unary, withSession } from '@kfrm/app-client';
import type { TestDatabase } from '@kfrm/db/test-database';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import {
  ConsentState,
  FundingServiceClient,
  LinkedAccountState,
  MoneyMovementState,
  TopUpApiError,
  TopUpApiError_ErrorCode,
  VerifyAccountHolderApiError,
  VerifyAccountHolderApiError_ErrorCode,
  WithdrawApiError,
  WithdrawApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/funding/funding';
import { AccountServiceClient, ListTransactionsRequest, TransactionType } from '@kfrm/proto/gen/kfrm/api/account/account';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import {
  AutoTopUpApiError,
  AutoTopUpApiError_ErrorCode,
  FundingInternalServiceClient,
} from '@kfrm/proto/gen/kfrm/api/funding/funding_internal';
import type { RunningServices, ServiceModule } from '@kfrm/runtime';
import { startTestServices, type TestServices } from '@kfrm/runtime/testing/services.harness';
import { apiErrorCode } from '@kfrm/server-kit';
import { createFundingModule } from '@kfrm/service-funding';
import { createStore, prefixed, type Store } from '@kfrm/store';
import { serviceModules } from './service-modules';

/**
 * The whole backend, as the phone uses it: a device, a real sign-up and PIN login through auth
 * and user, then the session-level funding flow against the embedded provider sandboxes.
 */
describe('sign-up, login and linking a bank account through gRPC', () => {
  let services: TestServices;
  let database: TestDatabase;
  let baseStore: Store;
  let running: RunningServices;
  let kakaocertUrl: string;
  const apps: AppClient[] = [];

  beforeAll(async () => {
    baseStore = await createStore({ redisUrl: process.env.REDIS_URL });
    const funding = createFundingModule({
      // The test signs the consent itself (the sandbox's own signing is off).
      env: { KFRM_FUNDING_SANDBOX_SIGN_AFTER_MS: '0' },
      onAdapters: (a) => {
        kakaocertUrl = a.sandboxes.kakaocert!.url;
      },
    });
    const modules: ServiceModule[] = serviceModules.map((m) => (m.name === 'funding' ? funding : m));
    services = await startTestServices(modules, {
      name: 'identity-funding-test',
      env: { LOG_LEVEL: 'warn' },
      serviceIdentity: true,
      // Redis outlives the test database: a key prefix keeps counters of earlier runs away.
      store: prefixed(baseStore, `identity-funding-${Date.now()}:`),
    });
    ({ running, database } = services);
  }, 90_000);

  afterAll(async () => {
    for (const app of apps) app.close();
    await services?.close();
    await baseStore?.close();
  });

  async function signedUp(name: string, residentId: string, n: number) {
    const app = new AppClient({ address: `127.0.0.1:${running.mobilePort}`, serverCaPem: services.serverCaPem });
    apps.push(app);
    await app.registerDevice();
    const user = await registerUser(app, {
      name,
      phoneNumber: '010-2468-1357',
      deviceUuid: `uuid-${n}`,
      pin: '582916',
      pattern: '14763',
      residentId,
    });
    const session = await loginWithPin(app, user.userToken, '582916');
    return { app, user, session, funding: app.client(FundingServiceClient) };
  }

  it('links an account: holder verified from the user record, consent signed, verified once, registered for top-up', async () => {
    // The sandbox bank knows 088-110234567890 as 홍길동, born 1980-01-01 (packages/konaplate).
    const { session, funding } = await signedUp('홍길동', '800101-1234567', 1);
    const auth = withSession(session.sessionToken);
    const verified = await unary(funding, funding.verifyAccountHolder, { bankCode: '088', accountNumber: '110234567890' }, auth);
    expect(verified.linkedAccount?.state).toBe(LinkedAccountState.HOLDER_VERIFIED);
    const linkedAccountId = verified.linkedAccount!.linkedAccountId;
    // Konaplate registers the account after the ARS call (the embedded sandbox's member keys the code in).
    let shownCode = '';
    const ars = await registerAccountByArs(funding, { bankCode: '088', accountNumber: '110234567890' }, auth, {
      pollMs: 200,
      timeoutMs: 10_000,
      onCode: (code) => (shownCode = code),
    });
    expect(shownCode).toMatch(/^\d{2}$/);
    expect(ars.linkedAccount.arsVerifiedAt).not.toBe('');

    const requested = await unary(
      funding,
      funding.requestAutoDebitConsent,
      { bankCode: '088', accountNumber: '110234567890', expiresInSeconds: 0 },
      auth,
    );
    const consentId = requested.consent!.consentId;
    const receipt = await database
      .kysely('funding')
      .selectFrom('consents')
      .select('receipt_id')
      .where('id', '=', consentId)
      .executeTakeFirstOrThrow();
    // The user signs in KakaoTalk; the sandbox's control API stands in for that.
    expect((await fetch(`${kakaocertUrl}/__sandbox/sign/${receipt.receipt_id}`, { method: 'POST' })).status).toBe(200);

    const confirmed = await unary(funding, funding.confirmAutoDebitConsent, { consentId }, auth);
    expect(confirmed.consent?.state).toBe(ConsentState.VERIFIED);
    expect(confirmed.linkedAccount?.state).toBe(LinkedAccountState.LINKED);
    const registered = await unary(funding, funding.registerAutoTopUpAccount, { linkedAccountId }, auth);
    expect(registered.linkedAccount?.autoTopUp).toBe(true);

    // The provider calls are counted per provider and outcome.
    const exposition = await running.metrics.registry.metrics();
    expect(exposition).toMatch(/kfrm_external_calls_total\{[^}]*provider="konaplate"[^}]*\} [1-9]/);
    expect(exposition).toMatch(/kfrm_external_calls_total\{[^}]*provider="kakaocert"[^}]*\} [1-9]/);
  });

  it("refuses someone else's bank account: the name comes from the user's record, not the request", async () => {
    const { session, funding } = await signedUp('김철수', '850505-1234567', 2);
    const err = await unary(
      funding,
      funding.verifyAccountHolder,
      { bankCode: '088', accountNumber: '110234567890' },
      withSession(session.sessionToken),
    ).catch((e: grpc.ServiceError) => e);
    expect((err as grpc.ServiceError).code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(apiErrorCode(err, VerifyAccountHolderApiError)).toBe(VerifyAccountHolderApiError_ErrorCode.ACCOUNT_HOLDER_MISMATCH);
  });

  it('tops up from and withdraws to a linked account over gRPC, with the seed-style error codes and statement lines', async () => {
    const { app, session, funding, user } = await signedUp('최유리', '950606-2234567', 5);
    const auth = withSession(session.sessionToken);
    // A sandbox self-service account (99…): the sandbox bank opens it for this user; ARS makes it
    // the member's normal top-up account.
    const bankAccount = '990000000005';
    const verified = await unary(funding, funding.verifyAccountHolder, { bankCode: '088', accountNumber: bankAccount }, auth);
    const linkedAccountId = verified.linkedAccount!.linkedAccountId;
    await registerAccountByArs(funding, { bankCode: '088', accountNumber: bankAccount }, auth, { pollMs: 200, timeoutMs: 10_000 });
    const { consent } = await unary(
      funding,
      funding.requestAutoDebitConsent,
      { bankCode: '088', accountNumber: bankAccount, expiresInSeconds: 0 },
      auth,
    );
    const receipt = await database
      .kysely('funding')
      .selectFrom('consents')
      .select('receipt_id')
      .where('id', '=', consent!.consentId)
      .executeTakeFirstOrThrow();
    expect((await fetch(`${kakaocertUrl}/__sandbox/sign/${receipt.receipt_id}`, { method: 'POST' })).status).toBe(200);
    await unary(funding, funding.confirmAutoDebitConsent, { consentId: consent!.consentId }, auth);

    // As the casa service opens accounts.
    const ledger = new LedgerServiceClient(`127.0.0.1:${running.internalPort}`, services.identity!.as('casa'));
    const { account } = await unary(ledger, ledger.createAccount, {
      ownerUserId: String(user.userId),
      accountName: 'top-up test',
      currency: CurrencyCode.KRW,
      limitPerTransaction: undefined,
      limitPerDay: undefined,
      accountColor: '',
      idempotencyKey: '',
    });
    ledger.close();
    const accountNumber = account!.accountNumber;
    const krw = (majorAmount: bigint) => ({ currencyCode: CurrencyCode.KRW, majorAmount, minorAmount: 0n });
    const topUp = (amount: bigint, externalTransactionId: string) =>
      unary(funding, funding.topUp, { linkedAccountId, accountNumber, amount: krw(amount), externalTransactionId }, auth);
    const withdraw = (amount: bigint, externalTransactionId: string) =>
      unary(funding, funding.withdraw, { linkedAccountId, accountNumber, amount: krw(amount), externalTransactionId }, auth);
    const failure = (promise: Promise<unknown>) =>
      promise.then(
        () => expect.fail('the call succeeded'),
        (e: grpc.ServiceError) => e,
      );

    const first = await topUp(70_000n, 'grpc-top-up-1');
    expect(first.topUp).toMatchObject({ state: MoneyMovementState.SETTLED, amount: krw(70_000n), externalTransactionId: 'grpc-top-up-1' });
    expect((await topUp(70_000n, 'grpc-top-up-1')).topUp!.movementId).toBe(first.topUp!.movementId);
    const reused = await failure(topUp(70_001n, 'grpc-top-up-1'));
    expect(reused.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(apiErrorCode(reused, TopUpApiError)).toBe(TopUpApiError_ErrorCode.EXTERNAL_TRANSACTION_ID_REUSED);
    const tooMuch = await failure(topUp(2_000_000n, 'grpc-top-up-2'));
    expect(tooMuch.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(apiErrorCode(tooMuch, TopUpApiError)).toBe(TopUpApiError_ErrorCode.TOP_UP_DAILY_LIMIT_EXCEEDED);

    expect((await withdraw(20_000n, 'grpc-withdraw-1')).withdrawal!.state).toBe(MoneyMovementState.SETTLED);
    const short = await failure(withdraw(50_001n, 'grpc-withdraw-2'));
    expect(short.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(apiErrorCode(short, WithdrawApiError)).toBe(WithdrawApiError_ErrorCode.INSUFFICIENT_BALANCE);

    // Automatic top-up for transfers: the transfer service's view, on the internal listener.
    await unary(funding, funding.registerAutoTopUpAccount, { linkedAccountId }, auth);
    const internalFunding = new FundingInternalServiceClient(`127.0.0.1:${running.internalPort}`, services.identity!.as('transfer'));
    const allowance = await unary(internalFunding, internalFunding.getAutoTopUpAllowance, { userId: String(user.userId) });
    expect(allowance).toEqual({ registered: true, remainingToday: krw(2_000_000n - 70_000n) });
    const auto = await unary(internalFunding, internalFunding.autoTopUp, {
      userId: String(user.userId),
      accountNumber,
      amount: krw(5_000n),
      idempotencyKey: 'transfer-e2e-1',
    });
    expect(auto.topUp!.state).toBe(MoneyMovementState.SETTLED);
    const notRegistered = await failure(
      unary(internalFunding, internalFunding.autoTopUp, {
        userId: '999999999',
        accountNumber,
        amount: krw(5_000n),
        idempotencyKey: 'transfer-e2e-2',
      }),
    );
    expect(notRegistered.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(apiErrorCode(notRegistered, AutoTopUpApiError)).toBe(AutoTopUpApiError_ErrorCode.AUTO_TOP_UP_NOT_REGISTERED);
    internalFunding.close();

    const accounts = app.client(AccountServiceClient);
    const { transactions } = await unary(
      accounts,
      accounts.listTransactions,
      ListTransactionsRequest.create({ accountNumber, page: 1, pageSize: 10 }),
      auth,
    );
    expect(transactions.map((t) => [t.transactionType, t.amount, t.afterBalance, t.transactionMemo])).toEqual([
      [TransactionType.DEPOSIT, krw(5_000n), krw(55_000n), '신한은행 충전'],
      [TransactionType.WITHDRAW, krw(20_000n), krw(50_000n), '신한은행 출금'],
      [TransactionType.DEPOSIT, krw(70_000n), krw(70_000n), '신한은행 충전'],
    ]);
  });

  it('refuses a session token from another device, and calls without one', async () => {
    const alice = await signedUp('이영희', '900303-2234567', 3);
    const mallory = await signedUp('박민수', '920404-1234567', 4);
    for (const options of [withSession(alice.session.sessionToken), {}]) {
      const err = (await unary(mallory.funding, mallory.funding.listRegisteredAccounts, {}, options).catch(
        (e: grpc.ServiceError) => e,
      )) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(apiErrorCode(err, CommonApiError)).toBe(CommonApiError_ErrorCode.UNAUTHENTICATED_USER);
    }
  });
});
