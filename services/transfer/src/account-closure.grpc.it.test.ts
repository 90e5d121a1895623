// Account closure as the customer meets it, over gRPC with a device certificate and a session on
// the real ledger (PostgreSQL): AccountService.CloseAccount (extension) needs a zero balance, is
// idempotent, keeps the statement readable, and a closed account neither sends nor receives.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseAccountApiError, CloseAccountApiError_ErrorCode, ListTransactionsRequest } from '@kfrm/proto/gen/kfrm/api/account/account';
import {
  ExecuteApiError,
  ExecuteApiError_ErrorCode,
  GetPreCheckApiError,
  GetPreCheckApiError_ErrorCode,
  GetTargetAccountInfoApiError,
  GetTargetAccountInfoApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { apiErrorCode } from '@kfrm/server-kit';
import { deviceModule } from '../../device/src/device.module';
import { OWN_INSTITUTION_CODE } from './institutions';
import { failure, krw, preCheckAndSign, preCheckRequest, signInApp } from './testing/mobile-app.harness';
import { startHarness, type Harness } from './testing/transfer.harness';
import { createTransferModule } from './transfer.module';

const A = '1000000001';
const B = '1000000002';

let h: Harness;

beforeAll(async () => {
  h = await startHarness([deviceModule, createTransferModule({ env: {} })]);
}, 60_000);

afterAll(async () => {
  await h?.close();
});

const closeCode = (err: grpc.ServiceError) => [err.code, apiErrorCode(err, CloseAccountApiError)];

describe('account closure', () => {
  it('refuses to close an account with money in it, or one that is not the caller’s', async () => {
    const app = await signInApp(h, A);
    const a = await h.openAccount(A, 1n);
    const theirs = await h.openAccount(B, 0n);
    expect(closeCode(await failure(app.callAccount(app.accounts.closeAccount, { accountNumber: a.accountNumber })))).toEqual([
      grpc.status.FAILED_PRECONDITION,
      CloseAccountApiError_ErrorCode.ACCOUNT_BALANCE_NOT_ZERO,
    ]);
    expect(closeCode(await failure(app.callAccount(app.accounts.closeAccount, { accountNumber: theirs.accountNumber })))).toEqual([
      grpc.status.NOT_FOUND,
      CloseAccountApiError_ErrorCode.ACCOUNT_NOT_FOUND,
    ]);
    expect(closeCode(await failure(app.callAccount(app.accounts.closeAccount, { accountNumber: 'nonsense' })))).toEqual([
      grpc.status.NOT_FOUND,
      CloseAccountApiError_ErrorCode.ACCOUNT_NOT_FOUND,
    ]);
    // Nothing changed: both still send and receive.
    const b = await h.openAccount(B, 0n);
    await app.call(app.client.execute, await preCheckAndSign(h, app, preCheckRequest(a.accountNumber, b.accountNumber, krw(1n))));
    expect(await h.balance(B, b.accountNumber)).toBe(1n);
    app.close();
  });

  it('closes an emptied account once (idempotently), keeps its statement, and it neither sends nor receives', async () => {
    const app = await signInApp(h, A);
    const other = await signInApp(h, B);
    const a = await h.openAccount(A, 5_000n);
    const spare = await h.openAccount(A, 0n);
    const b = await h.openAccount(B, 10_000n);
    // A transfer pre-checked into the account before it closes.
    const pendingIn = await preCheckAndSign(h, other, preCheckRequest(b.accountNumber, a.accountNumber, krw(100n)));
    // Emptied to A's spare account, then closed.
    await app.call(app.client.execute, await preCheckAndSign(h, app, preCheckRequest(a.accountNumber, spare.accountNumber, krw(5_000n))));
    const closed = await app.callAccount(app.accounts.closeAccount, { accountNumber: a.accountNumber });
    expect(closed.success).toBe(true);
    expect(Date.parse(closed.closedAt)).not.toBeNaN();
    expect(await app.callAccount(app.accounts.closeAccount, { accountNumber: a.accountNumber })).toEqual(closed);

    // The statement stays: the account and both of its lines.
    const account = await app.callAccount(app.accounts.getAccount, { accountNumber: a.accountNumber });
    expect(account.balance).toEqual(krw(0n));
    const { transactions } = await app.callAccount(
      app.accounts.listTransactions,
      ListTransactionsRequest.create({ accountNumber: a.accountNumber, page: 1, pageSize: 10 }),
    );
    expect(transactions.map((t) => t.amount?.majorAmount)).toEqual([5_000n, 5_000n]);
    // No longer among the accounts to use.
    const { accounts } = await app.callAccount(app.accounts.listAccounts, {});
    expect(accounts.map((x) => x.accountNumber)).not.toContain(a.accountNumber);

    // Receives nothing: not a valid target, and the transfer pre-checked before the closure is refused at Execute.
    const info = await failure(
      other.call(other.client.getTargetAccountInfo, { accountNumber: a.accountNumber, institutionCode: OWN_INSTITUTION_CODE }),
    );
    expect([info.code, apiErrorCode(info, GetTargetAccountInfoApiError)]).toEqual([
      grpc.status.NOT_FOUND,
      GetTargetAccountInfoApiError_ErrorCode.NOT_VALID_ACCOUNT,
    ]);
    const pre = await failure(other.call(other.client.getPreCheck, preCheckRequest(b.accountNumber, a.accountNumber, krw(100n))));
    expect(apiErrorCode(pre, GetPreCheckApiError)).toBe(GetPreCheckApiError_ErrorCode.INVALID_TARGET_ACCOUNT);
    const late = await failure(other.call(other.client.execute, pendingIn));
    expect([late.code, apiErrorCode(late, ExecuteApiError)]).toEqual([
      grpc.status.INVALID_ARGUMENT,
      ExecuteApiError_ErrorCode.INVALID_TARGET_ACCOUNT,
    ]);
    expect(await h.balance(B, b.accountNumber)).toBe(10_000n);

    // Sends nothing.
    const send = await failure(app.call(app.client.getPreCheck, preCheckRequest(a.accountNumber, b.accountNumber, krw(1n))));
    expect(apiErrorCode(send, GetPreCheckApiError)).toBe(GetPreCheckApiError_ErrorCode.INVALID_SOURCE_ACCOUNT);
    app.close();
    other.close();
  });
});
