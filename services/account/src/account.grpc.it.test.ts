// The account service as callers reach it: the app's AccountService on a listener whose guard
// yields a session principal (the user named by a test header), and the internal LedgerService.
// Reliability 26: no user reads another user's account or transactions; the answer for someone
// else's account is the answer for one that does not exist.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localOperatorVerifier } from '@kfrm/runtime';
import { testServiceIdentity } from '@kfrm/runtime/testing/service-identity.fixtures';
import * as grpc from '@grpc/grpc-js';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@kfrm/logging';
import {
  AccountServiceClient,
  GetAccountApiError,
  GetAccountApiError_ErrorCode,
  ListTransactionsApiError,
  ListTransactionsApiError_ErrorCode,
  ListTransactionsRequest,
  TransactionDirection,
  TransactionType,
  UpdateAccountApiError,
  UpdateAccountApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/account/account';
import {
  DepositApiError,
  DepositApiError_ErrorCode,
  GetAccountForOwnerApiError,
  GetAccountForOwnerApiError_ErrorCode,
  LedgerServiceClient,
  OutboxEventKind,
  OutboxEventType,
  PostTransferApiError,
  PostTransferApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import {
  GrpcListener,
  apiErrorCode,
  createInternalAccessGuard,
  decodeStatusDetails,
  internalServerCredentials,
  unauthenticated,
  type AccessGuard,
} from '@kfrm/server-kit';
import { runDepositCli } from './deposit-cli';
import { accountHandlers, ledgerHandlers } from './ledger.handlers';
import { openTestLedger, type TestLedger } from './testing/ledger.harness';

type Callback<Res> = (err: grpc.ServiceError | null, res: Res) => void;
type Method<Req, Res> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: Callback<Res>) => unknown;

function call<Req, Res>(fn: Method<Req, Res>, req: Req, user?: string, opts: Partial<grpc.CallOptions> = {}): Promise<Res> {
  const md = new grpc.Metadata();
  if (user) md.set('x-test-user', user);
  return new Promise((resolve, reject) => fn(req, md, opts, (err, res) => (err ? reject(err) : resolve(res))));
}

async function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('the call succeeded');
}

/** Stands in for device certificate + session checks: the session is the user the header names. */
const testSessionGuard: AccessGuard = {
  async authorize(level, credentials) {
    if (level === 'public') return { level };
    const user = credentials.metadata.get('x-test-user')[0];
    if (level !== 'session' || typeof user !== 'string') throw unauthenticated();
    return { level, session: { userId: user, deviceId: `device-${user}`, sessionToken: `token-${user}` } };
  },
};

const krw = (major: bigint) => ({ currencyCode: CurrencyCode.KRW, majorAmount: major, minorAmount: 0n });
/** An outbox event request with nothing set but its user and type. */
const event = (userId: string) => ({
  userId,
  type: OutboxEventType.OUTBOX_EVENT_TYPE_TRANSFER_SUCCEED,
  kind: OutboxEventKind.OUTBOX_EVENT_KIND_UNSPECIFIED,
  counterpartyName: '',
  title: '',
  content: '',
});

describe('account service over gRPC', () => {
  let t: TestLedger;
  let mobile: GrpcListener;
  let internal: GrpcListener;
  let app: AccountServiceClient;
  let ledgerClient: LedgerServiceClient;
  let internalPort: number;
  let internalCaFile: string;
  const operatorDataDir = mkdtempSync(join(tmpdir(), 'kfrm-account-operator-'));

  beforeAll(async () => {
    t = await openTestLedger({ maxBatchSize: 8, lingerMs: 1, retry: { maxAttempts: 2, baseDelayMs: 1 } });
    const logger = createLogger({ service: 'account-test', level: 'silent' });
    mobile = new GrpcListener({
      name: 'mobile',
      host: '127.0.0.1',
      port: 0,
      credentials: grpc.ServerCredentials.createInsecure(),
      guard: testSessionGuard,
      logger,
    });
    mobile.addService(accountHandlers(t.ledger));
    // The internal listener over mTLS; the test calls it with the certificate of a service named
    // 'test', which plays every service that calls the ledger (the guard adds it to each method's
    // callers: who may call what is tested with the real lists elsewhere).
    const identity = await testServiceIdentity(join(operatorDataDir, 'internal-pki'), ['test']);
    internalCaFile = identity.env.KFRM_INTERNAL_CA_CERT_FILE!;
    // Operators of a local issuer in a scratch data directory (the deposit CLI mints from it).
    const guard = createInternalAccessGuard({ verifyOperator: await localOperatorVerifier(join(operatorDataDir, 'operator-issuer')) });
    internal = new GrpcListener({
      name: 'internal',
      host: '127.0.0.1',
      port: 0,
      credentials: internalServerCredentials({
        certFile: identity.env.KFRM_INTERNAL_TLS_CERT_FILE!,
        keyFile: identity.env.KFRM_INTERNAL_TLS_KEY_FILE!,
        clientCaFile: internalCaFile,
      }),
      guard: {
        authorize: (level, call, method) =>
          guard.authorize(level, call, method && { ...method, callers: [...(method.callers ?? []), 'test'] }),
      },
      logger,
    });
    internal.addService(ledgerHandlers(t.ledger));
    const mobilePort = await mobile.start();
    internalPort = await internal.start();
    app = new AccountServiceClient(`127.0.0.1:${mobilePort}`, grpc.credentials.createInsecure());
    // As a service calls it (Deposit is an operator method; services need no token).
    ledgerClient = new LedgerServiceClient(`127.0.0.1:${internalPort}`, identity.as('test'));
  }, 60_000);

  afterAll(async () => {
    app?.close();
    ledgerClient?.close();
    await mobile?.shutdown(1_000);
    await internal?.shutdown(1_000);
    await t?.close();
    rmSync(operatorDataDir, { recursive: true, force: true });
  });

  const L = () => ledgerClient;
  async function open(owner: string, name: string) {
    const res = await call(L().createAccount.bind(L()), {
      idempotencyKey: '',
      ownerUserId: owner,
      accountName: name,
      currency: CurrencyCode.KRW,
      limitPerTransaction: krw(1_000_000n),
      limitPerDay: krw(5_000_000n),
      accountColor: '#12ab34',
    });
    return res.account!;
  }
  const deposit = (accountNumber: string, major: bigint, idempotencyKey: string) =>
    call(L().deposit.bind(L()), { idempotencyKey, accountNumber, amount: krw(major), memo: 'deposit', events: [] });
  const postTransfer = (from: string, to: string, major: bigint, idempotencyKey: string, opts: Partial<grpc.CallOptions> = {}) =>
    call(
      L().postTransfer.bind(L()),
      {
        idempotencyKey,
        fromAccountNumber: from,
        toAccountNumber: to,
        amount: krw(major),
        debitMemo: 'to',
        creditMemo: 'from',
        events: [],
        sourceOwnerUserId: '',
        toExternalSettlement: false,
        withdrawal: false,
      },
      undefined,
      opts,
    );

  it("UpdateAccount sets name, colour and bookmark of the caller's own account; GetAccount and ListAccounts read them back", async () => {
    const mine = await open('settings-user', '입출금통장');
    const other = await open('settings-other', '남의 통장');
    const update = (request: Parameters<AccountServiceClient['updateAccount']>[0], user = 'settings-user') =>
      call(app.updateAccount.bind(app), request, user);

    const renamed = await update({ accountNumber: mine.accountNumber, accountName: '  여행 적금  ', bookmarked: true });
    expect(renamed.account).toMatchObject({
      accountNumber: mine.accountNumber,
      accountName: '여행 적금',
      accountColor: '#12ab34',
      bookmarked: true,
    });
    // Only what is set changes.
    const recoloured = await update({ accountNumber: mine.accountNumber, accountColor: '#ff00aa' });
    expect(recoloured.account).toMatchObject({ accountName: '여행 적금', accountColor: '#FF00AA', bookmarked: true });
    await update({ accountNumber: mine.accountNumber, bookmarked: false });
    expect(await call(app.getAccount.bind(app), { accountNumber: mine.accountNumber }, 'settings-user')).toMatchObject({
      accountName: '여행 적금',
      accountColor: '#FF00AA',
      bookmarked: false,
    });
    const { accounts } = await call(app.listAccounts.bind(app), {}, 'settings-user');
    expect(accounts.find((a) => a.accountNumber === mine.accountNumber)).toMatchObject({
      accountName: '여행 적금',
      accountColor: '#FF00AA',
    });

    const codeOf = async (promise: Promise<unknown>) => {
      const err = await failure(promise);
      return [err.code, apiErrorCode(err, UpdateAccountApiError)];
    };
    const invalid = grpc.status.INVALID_ARGUMENT;
    const E = UpdateAccountApiError_ErrorCode;
    expect(await codeOf(update({ accountNumber: mine.accountNumber }))).toEqual([invalid, E.NOTHING_TO_UPDATE]);
    for (const name of ['', '   ', 'x'.repeat(101), 'a\nb', 'rtl\u202Eevil', 'zero\u200Bwidth']) {
      expect(await codeOf(update({ accountNumber: mine.accountNumber, accountName: name }))).toEqual([invalid, E.INVALID_ACCOUNT_NAME]);
    }
    for (const color of ['', 'red', '#12345', '#1234567', '12ab34', '#12ab3g']) {
      expect(await codeOf(update({ accountNumber: mine.accountNumber, accountColor: color }))).toEqual([invalid, E.INVALID_ACCOUNT_COLOR]);
    }
    // A bad field among good ones changes nothing.
    await codeOf(update({ accountNumber: mine.accountNumber, accountName: '새 이름', accountColor: 'red' }));
    expect((await call(app.getAccount.bind(app), { accountNumber: mine.accountNumber }, 'settings-user')).accountName).toBe('여행 적금');
    // Someone else's account answers as one that does not exist, and stays as it was.
    expect(await codeOf(update({ accountNumber: other.accountNumber, accountName: '내 것' }))).toEqual([
      grpc.status.NOT_FOUND,
      E.ACCOUNT_NOT_FOUND,
    ]);
    expect(await codeOf(update({ accountNumber: '3333-0000000000', bookmarked: true }))).toEqual([
      grpc.status.NOT_FOUND,
      E.ACCOUNT_NOT_FOUND,
    ]);
    expect((await call(app.getAccount.bind(app), { accountNumber: other.accountNumber }, 'settings-other')).accountName).toBe('남의 통장');
  });

  it("lets each user read only their own accounts and transactions; someone else's looks like none at all", async () => {
    const a = await open('user-a', 'A main');
    const b = await open('user-b', 'B main');
    await deposit(b.accountNumber, 10_000n, 'matrix-fund-b');
    await postTransfer(b.accountNumber, a.accountNumber, 1_000n, 'matrix-b-to-a');

    const listA = await call(app.listAccounts.bind(app), {}, 'user-a');
    expect(listA.accounts.map((x) => x.accountNumber)).toEqual([a.accountNumber]);
    expect(listA.accounts[0]).toMatchObject({ accountName: 'A main', accountColor: '#12ab34', bookmarked: false, balance: krw(1_000n) });
    const own = await call(app.getAccount.bind(app), { accountNumber: b.accountNumber }, 'user-b');
    expect(own.balance).toEqual(krw(9_000n));

    for (const [label, accountNumber] of [
      ['foreign', b.accountNumber],
      // Well-formed (check digit right): looked up and not found.
      ['unknown', '3333-12345678905'],
      ['bad-check-digit', '3333-12345678903'],
      ['malformed', "'; drop table ledger.accounts; --"],
      ['system', '0000-SETTLEMENT-KRW'],
    ] as const) {
      const getErr = await failure(call(app.getAccount.bind(app), { accountNumber }, 'user-a'));
      expect(getErr.code, label).toBe(grpc.status.NOT_FOUND);
      expect(apiErrorCode(getErr, GetAccountApiError), label).toBe(GetAccountApiError_ErrorCode.ACCOUNT_NOT_FOUND);
      expect(decodeStatusDetails(getErr)?.message, label).toBe('account not found');
      const listErr = await failure(
        call(app.listTransactions.bind(app), ListTransactionsRequest.create({ accountNumber, page: 1, pageSize: 10 }), 'user-a'),
      );
      expect(listErr.code, label).toBe(grpc.status.NOT_FOUND);
      expect(apiErrorCode(listErr, ListTransactionsApiError), label).toBe(ListTransactionsApiError_ErrorCode.ACCOUNT_NOT_FOUND);
      expect(decodeStatusDetails(listErr)?.message, label).toBe('account not found');
    }
    // No session: nothing at all.
    const anonymous = await failure(call(app.listAccounts.bind(app), {}));
    expect(anonymous.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(apiErrorCode(anonymous, CommonApiError)).toBe(CommonApiError_ErrorCode.UNAUTHENTICATED_USER);
    // The internal owner lookup answers the same way.
    const foreign = await failure(call(L().getAccountForOwner.bind(L()), { ownerUserId: 'user-a', accountNumber: b.accountNumber }));
    expect(foreign.code).toBe(grpc.status.NOT_FOUND);
    expect(apiErrorCode(foreign, GetAccountForOwnerApiError)).toBe(GetAccountForOwnerApiError_ErrorCode.ACCOUNT_NOT_FOUND);
    expect(
      (await call(L().getAccountForOwner.bind(L()), { ownerUserId: 'user-b', accountNumber: b.accountNumber })).account?.balance,
    ).toEqual(krw(9_000n));
  });

  it('GetTransferParties answers the owner source with what the daily limit counted today, and the target holder only', async () => {
    const a = await open('parties-grpc-a', 'A');
    const b = await open('parties-grpc-b', 'B');
    await deposit(a.accountNumber, 10_000n, 'parties-grpc-fund');
    await postTransfer(a.accountNumber, b.accountNumber, 1_500n, 'parties-grpc-1');
    const get = (ownerUserId: string, sourceAccountNumber: string, targetAccountNumber: string) =>
      call(L().getTransferParties.bind(L()), { ownerUserId, sourceAccountNumber, targetAccountNumber });
    const both = await get('parties-grpc-a', a.accountNumber, b.accountNumber);
    expect(both.source).toMatchObject({ accountNumber: a.accountNumber, balance: krw(8_500n), debitedToday: krw(1_500n) });
    expect(both.target).toEqual({ accountNumber: b.accountNumber, ownerUserId: 'parties-grpc-b', currency: CurrencyCode.KRW });
    // Not found is no error: the side is unset.
    const foreign = await get('parties-grpc-b', a.accountNumber, '3333-12345678905');
    expect(foreign.source).toBeUndefined();
    expect(foreign.target).toBeUndefined();
    // The same counter on the account as GetAccountForOwner answers it; a credit counts nothing.
    const credited = await call(L().getAccountForOwner.bind(L()), { ownerUserId: 'parties-grpc-b', accountNumber: b.accountNumber });
    expect(credited.account?.debitedToday).toEqual(krw(0n));
    // Only the transfer service may ask (the guard enforces callers; this listener adds 'test').
    expect(ledgerHandlers(t.ledger).policies.getTransferParties).toMatchObject({ access: 'internal', callers: ['transfer'] });
  });

  it('lists transactions newest first, in pages that do not shift when new ones arrive', async () => {
    const acct = await open('user-pages', 'Pages');
    const other = await open('user-other', 'Other');
    for (let i = 1; i <= 5; i++) await deposit(acct.accountNumber, BigInt(i * 100), `pages-dep-${i}`);
    await postTransfer(acct.accountNumber, other.accountNumber, 50n, 'pages-out');
    const page = (n: number, size: number) =>
      call(
        app.listTransactions.bind(app),
        ListTransactionsRequest.create({ accountNumber: acct.accountNumber, page: n, pageSize: size }),
        'user-pages',
      );

    const first = await page(1, 2);
    expect(first.transactions.map((x) => [x.transactionType, x.amount?.majorAmount, x.afterBalance?.majorAmount])).toEqual([
      [TransactionType.TRANSFER, 50n, 1_450n],
      [TransactionType.DEPOSIT, 500n, 1_500n],
    ]);
    expect(first.transactions[0]!.transactionMemo).toBe('to');
    expect(first.transactions[0]!.transactionDate).toMatch(/^\d{4}-\d\d-\d\dT/);
    // Money arrives between page 1 and page 2: page 2 still continues where page 1 ended.
    await deposit(acct.accountNumber, 7n, 'pages-late');
    expect((await page(2, 2)).transactions.map((x) => x.amount?.majorAmount)).toEqual([400n, 300n]);
    expect((await page(3, 2)).transactions.map((x) => x.amount?.majorAmount)).toEqual([200n, 100n]);
    expect((await page(4, 2)).transactions).toEqual([]);
    // A new page 1 sees the new deposit; page size 0 means the default (20), huge ones are capped.
    expect((await page(1, 0)).transactions.map((x) => x.amount?.majorAmount)).toEqual([7n, 50n, 500n, 400n, 300n, 200n, 100n]);
    expect((await page(1, 4_000_000_000)).transactions).toHaveLength(7);
  });

  it('filters the statement by direction and Seoul days, paging with next_page_token (extension)', async () => {
    // Seoul's day before and after posting (a range, in case midnight passes in between).
    const seoulDay = () => new Date(Date.now() + 9 * 3_600_000).toISOString().slice(0, 10);
    const dayBefore = seoulDay();
    const acct = await open('user-filter', 'Filter');
    const other = await open('user-filter-2', 'Other');
    for (let i = 1; i <= 3; i++) await deposit(acct.accountNumber, BigInt(i * 100), `filter-dep-${i}`);
    await postTransfer(acct.accountNumber, other.accountNumber, 50n, 'filter-out');
    const list = (extra: Partial<ListTransactionsRequest>) =>
      call(app.listTransactions.bind(app), ListTransactionsRequest.create({ accountNumber: acct.accountNumber, ...extra }), 'user-filter');
    const today = seoulDay();

    const first = await list({ direction: TransactionDirection.DEPOSITS, fromDate: dayBefore, toDate: today, pageSize: 2 });
    expect(first.transactions.map((x) => x.amount?.majorAmount)).toEqual([300n, 200n]);
    expect(first.nextPageToken).not.toBe('');
    const second = await list({
      direction: TransactionDirection.DEPOSITS,
      fromDate: dayBefore,
      toDate: today,
      pageSize: 2,
      pageToken: first.nextPageToken,
    });
    expect(second.transactions.map((x) => x.amount?.majorAmount)).toEqual([100n]);
    expect(second.nextPageToken).toBe('');
    const out = await list({ direction: TransactionDirection.WITHDRAWALS });
    expect(out.transactions.map((x) => [x.transactionType, x.amount?.majorAmount])).toEqual([[TransactionType.TRANSFER, 50n]]);
    expect((await list({ toDate: '2000-01-01' })).transactions).toEqual([]);
    // Page mode's first page offers the cursor too.
    const legacy = await list({ page: 1, pageSize: 3 });
    expect((await list({ pageSize: 3, pageToken: legacy.nextPageToken })).transactions.map((x) => x.amount?.majorAmount)).toEqual([100n]);

    for (const bad of [
      { fromDate: '2026-13-01' },
      { pageToken: 'forged' },
      { direction: 9 as TransactionDirection },
      { page: 2, fromDate: today },
    ]) {
      const err = await failure(list(bad));
      expect(err.code, JSON.stringify(bad)).toBe(grpc.status.INVALID_ARGUMENT);
    }
  });

  it('FindEntriesByKeys answers the committed entries under the keys with their signed postings; unknown keys are left out', async () => {
    const a = await open('user-find-entries', 'F');
    const posted = await deposit(a.accountNumber, 2_500n, 'find-entries-1');
    const found = await call(L().findEntriesByKeys.bind(L()), { idempotencyKeys: ['find-entries-1', 'find-entries-unknown'] });
    expect(found.entries).toHaveLength(1);
    const [entry] = found.entries;
    expect(entry).toMatchObject({ idempotencyKey: 'find-entries-1', entryId: posted.entryId });
    expect(entry!.postings.find((p) => p.accountNumber === a.accountNumber)).toEqual({
      accountNumber: a.accountNumber,
      currency: CurrencyCode.KRW,
      amountMinor: 2_500n,
    });
    expect(entry!.postings.reduce((sum, p) => sum + p.amountMinor, 0n)).toBe(0n);
    const none = await failure(call(L().findEntriesByKeys.bind(L()), { idempotencyKeys: [] }));
    expect(none.code).toBe(grpc.status.INVALID_ARGUMENT);
    const tooMany = await failure(
      call(L().findEntriesByKeys.bind(L()), { idempotencyKeys: Array.from({ length: 201 }, (_, i) => `k${i}`) }),
    );
    expect(tooMany.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("maps ledger refusals to status codes with the method's error code", async () => {
    const a = await open('user-errors', 'E');
    const b = await open('user-errors-2', 'E2');
    await deposit(a.accountNumber, 1_000n, 'errors-fund');

    const insufficient = await failure(postTransfer(a.accountNumber, b.accountNumber, 5_000n, 'errors-1'));
    expect(insufficient.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(apiErrorCode(insufficient, PostTransferApiError)).toBe(PostTransferApiError_ErrorCode.INSUFFICIENT_BALANCE);

    const overLimit = await failure(postTransfer(a.accountNumber, b.accountNumber, 1_000_001n, 'errors-2'));
    expect(overLimit.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(apiErrorCode(overLimit, PostTransferApiError)).toBe(PostTransferApiError_ErrorCode.TRANSFER_LIMIT_EXCEEDED);

    await postTransfer(a.accountNumber, b.accountNumber, 100n, 'errors-3');
    const reused = await failure(postTransfer(a.accountNumber, b.accountNumber, 200n, 'errors-3'));
    expect(reused.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(apiErrorCode(reused, PostTransferApiError)).toBe(PostTransferApiError_ErrorCode.IDEMPOTENCY_KEY_REUSED);

    const badTarget = await failure(postTransfer(a.accountNumber, '3333-12345678905', 1n, 'errors-4'));
    expect(badTarget.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(apiErrorCode(badTarget, PostTransferApiError)).toBe(PostTransferApiError_ErrorCode.INVALID_TARGET_ACCOUNT);

    for (const amount of [
      { currencyCode: CurrencyCode.KRW, majorAmount: 0n, minorAmount: 0n },
      { currencyCode: CurrencyCode.KRW, majorAmount: -1n, minorAmount: 0n },
      { currencyCode: CurrencyCode.KRW, majorAmount: 1n, minorAmount: 5n },
      { currencyCode: CurrencyCode.USD, majorAmount: 2n ** 63n - 1n, minorAmount: 0n },
      { currencyCode: CurrencyCode.USD, majorAmount: 1n, minorAmount: 0n },
    ]) {
      const err = await failure(
        call(L().postTransfer.bind(L()), {
          idempotencyKey: 'errors-amount',
          fromAccountNumber: a.accountNumber,
          toAccountNumber: b.accountNumber,
          amount,
          debitMemo: '',
          creditMemo: '',
          events: [],
          sourceOwnerUserId: '',
          toExternalSettlement: false,
          withdrawal: false,
        }),
      );
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(apiErrorCode(err, PostTransferApiError)).toBe(PostTransferApiError_ErrorCode.INVALID_AMOUNT);
    }
    const noAccount = await failure(deposit('3333-12345678905', 1n, 'errors-dep'));
    expect(noAccount.code).toBe(grpc.status.NOT_FOUND);
    expect(apiErrorCode(noAccount, DepositApiError)).toBe(DepositApiError_ErrorCode.ACCOUNT_NOT_FOUND);
    const noKey = await failure(deposit(a.accountNumber, 1n, ''));
    expect(noKey.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('a deposit the settlement account refuses (misconfigured) answers INTERNAL, with no seed code of Deposit', async () => {
    const a = await open('user-settlement', 'S');
    // The settlement account gone: the posting refuses its source, which is the bank's fault, not the caller's.
    await sql`update ledger.accounts set account_number = '0000-SETTLEMENT-KRW-moved' where account_number = '0000-SETTLEMENT-KRW'`.execute(
      t.db,
    );
    try {
      const err = await failure(deposit(a.accountNumber, 1n, 'settlement-missing'));
      expect(err.code).toBe(grpc.status.INTERNAL);
      expect(apiErrorCode(err, DepositApiError)).toBeUndefined();
      expect(apiErrorCode(err, CommonApiError)).toBe(CommonApiError_ErrorCode.UNKNOWN_ERROR);
    } finally {
      await sql`update ledger.accounts set account_number = '0000-SETTLEMENT-KRW' where account_number = '0000-SETTLEMENT-KRW-moved'`.execute(
        t.db,
      );
    }
    // Nothing was posted under the key: once repaired, the same deposit goes through.
    expect((await deposit(a.accountNumber, 1n, 'settlement-missing')).balanceAfter).toEqual(krw(1n));
  });

  it('retries exhausted answer ABORTED, not INTERNAL, and post nothing', async () => {
    const a = await open('user-aborted', 'A');
    const b = await open('user-aborted-2', 'B');
    await deposit(a.accountNumber, 1_000n, 'aborted-fund');
    await sql`create or replace function ledger.test_always_conflict() returns trigger language plpgsql as $$
      begin raise exception 'injected' using errcode = '40001'; end $$`.execute(t.db);
    await sql`create constraint trigger test_always_conflict after insert on ledger.entries deferrable initially deferred
      for each row execute function ledger.test_always_conflict()`.execute(t.db);
    try {
      const err = await failure(postTransfer(a.accountNumber, b.accountNumber, 10n, 'aborted-1'));
      expect(err.code).toBe(grpc.status.ABORTED);
    } finally {
      await sql`drop trigger test_always_conflict on ledger.entries`.execute(t.db);
    }
    expect(
      (await call(L().getAccountForOwner.bind(L()), { ownerUserId: 'user-aborted', accountNumber: a.accountNumber })).account?.balance,
    ).toEqual(krw(1_000n));
    // The retry after the conflict cleared posts once.
    expect((await postTransfer(a.accountNumber, b.accountNumber, 10n, 'aborted-1')).fromBalanceAfter).toEqual(krw(990n));
  });

  it('a client that gave up before the reply retries with the same key: posted once', async () => {
    const a = await open('user-reset', 'A');
    const b = await open('user-reset-2', 'B');
    await deposit(a.accountNumber, 1_000n, 'reset-fund');
    // The deadline may pass before or after the server commits; either way the retry settles it.
    await postTransfer(a.accountNumber, b.accountNumber, 300n, 'reset-1', { deadline: Date.now() + 1 }).catch((err: grpc.ServiceError) =>
      expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED),
    );
    const retried = await postTransfer(a.accountNumber, b.accountNumber, 300n, 'reset-1');
    expect(retried.fromBalanceAfter).toEqual(krw(700n));
    expect(await postTransfer(a.accountNumber, b.accountNumber, 300n, 'reset-1')).toEqual(retried);
    const entries = await t.db.selectFrom('entries').select('id').where('idempotency_key', '=', 'reset-1').execute();
    expect(entries).toHaveLength(1);
  });

  it('writes outbox events for sender and recipient and lists them after a cursor', async () => {
    const a = await open('user-ev-a', 'A');
    const b = await open('user-ev-b', 'B');
    await deposit(a.accountNumber, 1_000n, 'ev-fund');
    const before = await call(L().listOutboxEvents.bind(L()), { afterId: 0n, limit: 1000 });
    const cursor = before.events.at(-1)?.id ?? 0n;
    const posted = await call(L().postTransfer.bind(L()), {
      idempotencyKey: 'ev-1',
      fromAccountNumber: a.accountNumber,
      toAccountNumber: b.accountNumber,
      amount: krw(100n),
      debitMemo: 'out',
      creditMemo: 'in',
      events: [
        { ...event('user-ev-a'), kind: OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_OUT, counterpartyName: 'B' },
        { ...event('user-ev-b'), kind: OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_IN },
        // A caller from before facts: its text is stored and served as given.
        { ...event('user-ev-c'), title: 'Sent', content: '100 KRW' },
      ],
      sourceOwnerUserId: 'user-ev-a',
      toExternalSettlement: false,
      withdrawal: false,
    });
    const after = await call(L().listOutboxEvents.bind(L()), { afterId: cursor, limit: 0 });
    const common = { entryId: posted.entryId, type: OutboxEventType.OUTBOX_EVENT_TYPE_TRANSFER_SUCCEED, createdAt: posted.postedAt };
    expect(after.events).toEqual([
      {
        ...common,
        id: cursor + 1n,
        userId: 'user-ev-a',
        kind: OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_OUT,
        amount: krw(100n),
        accountNumber: a.accountNumber,
        counterpartyName: 'B',
        memo: 'out',
        title: '',
        content: '',
      },
      {
        ...common,
        id: cursor + 2n,
        userId: 'user-ev-b',
        kind: OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_IN,
        amount: krw(100n),
        accountNumber: b.accountNumber,
        counterpartyName: '',
        memo: 'in',
        title: '',
        content: '',
      },
      {
        ...common,
        id: cursor + 3n,
        userId: 'user-ev-c',
        kind: OutboxEventKind.OUTBOX_EVENT_KIND_UNSPECIFIED,
        amount: undefined,
        accountNumber: '',
        counterpartyName: '',
        memo: '',
        title: 'Sent',
        content: '100 KRW',
      },
    ]);

    // An event needs a kind, or text from an old caller, never both; nothing is posted.
    for (const bad of [
      event('user-ev-a'),
      { ...event('user-ev-a'), kind: OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_OUT, title: 'Sent' },
    ]) {
      const err = await failure(
        call(L().postTransfer.bind(L()), {
          idempotencyKey: 'ev-bad',
          fromAccountNumber: a.accountNumber,
          toAccountNumber: b.accountNumber,
          amount: krw(1n),
          debitMemo: '',
          creditMemo: '',
          events: [bad],
          sourceOwnerUserId: '',
          toExternalSettlement: false,
          withdrawal: false,
        }),
      );
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    }
    expect((await call(L().listOutboxEvents.bind(L()), { afterId: cursor + 3n, limit: 0 })).events).toEqual([]);
  });

  it('the operator CLI funds an account through LedgerService.Deposit, once per key', async () => {
    const a = await open('user-cli', 'CLI');
    const env = {
      KFRM_INTERNAL_TARGET: `127.0.0.1:${internalPort}`,
      KFRM_DATA_DIR: operatorDataDir,
      KFRM_INTERNAL_CA_CERT_FILE: internalCaFile,
    };
    // Without operator credentials the CLI deposits nothing.
    expect(await runDepositCli([a.accountNumber, '1', 'cli-0'], { ...env, KFRM_DATA_DIR: join(operatorDataDir, 'none') })).toBe(2);
    expect(await runDepositCli([a.accountNumber, '1', 'cli-0'], { ...env, KFRM_OPERATOR_TOKEN: 'x'.repeat(40) })).toBe(1);
    expect(await runDepositCli([a.accountNumber, '50000', 'cli-1'], env)).toBe(0);
    expect(await runDepositCli([a.accountNumber, '50000', 'cli-1'], env)).toBe(0);
    expect(await runDepositCli([a.accountNumber, '1.5', 'cli-2'], env)).toBe(2);
    expect(await runDepositCli(['3333-12345678905', '1', 'cli-3'], env)).toBe(1);
    expect(await runDepositCli([a.accountNumber], env)).toBe(2);
    const account = await call(L().getAccountForOwner.bind(L()), { ownerUserId: 'user-cli', accountNumber: a.accountNumber });
    expect(account.account?.balance).toEqual(krw(50_000n));
  });
});
