// Transfer limits as the app meets them, over TLS with a device certificate and a session, on
// the real ledger (PostgreSQL) with the stand-in user service: their own error code (never
// INSUFFICIENT_BALANCE), the daily window of the Asia/Seoul calendar day (an injected clock shared
// by the transfer service and the ledger), two transfers at once against one limit.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticatedTransactionType } from '@kfrm/proto/gen/kfrm/api/common/common';
import {
  ExecuteApiError,
  ExecuteApiError_ErrorCode,
  GetPreCheckApiError,
  GetPreCheckApiError_ErrorCode,
  TransferLimitApiError,
  TransferLimitApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { apiErrorCode } from '@kfrm/server-kit';
import { createAccountModule } from '../../account/src/account.module';
import { deviceModule } from '../../device/src/device.module';
import { failure, krw, preCheckAndSign, preCheckRequest, signInApp } from './testing/mobile-app.harness';
import { startHarness, type Harness } from './testing/transfer.harness';
import { createTransferModule } from './transfer.module';

const A = '1000000001';
const B = '1000000002';

// One clock for both services: the business day is decided by each on its own.
let nowMs = Date.parse('2026-03-01T05:00:00Z');
const clock = () => new Date(nowMs);

let h: Harness;

beforeAll(async () => {
  h = await startHarness(
    [
      deviceModule,
      createTransferModule({
        env: { KFRM_TRANSFER_MAX_LIMIT_PER_TRANSACTION_KRW: '5000000', KFRM_TRANSFER_MAX_LIMIT_PER_DAY_KRW: '20000000' },
        tuning: { now: clock },
      }),
    ],
    {
      accountModule: createAccountModule({ poster: { now: clock } }),
    },
  );
}, 60_000);

afterAll(async () => {
  await h?.close();
});

const preCheckCode = (err: grpc.ServiceError) => [err.code, apiErrorCode(err, GetPreCheckApiError)];
const executeCode = (err: grpc.ServiceError) => [err.code, apiErrorCode(err, ExecuteApiError)];
const limitCode = (err: grpc.ServiceError) => [err.code, apiErrorCode(err, TransferLimitApiError)];

describe('transfer limits', () => {
  it('answers TRANSFER_LIMIT_EXCEEDED (FAILED_PRECONDITION) over the per-transaction limit, never INSUFFICIENT_BALANCE', async () => {
    const app = await signInApp(h, A);
    const a = await h.openAccount(A, 1_000_000n, { perTransaction: 50_000n, perDay: 70_000n });
    const b = await h.openAccount(B, 0n);
    const err = await failure(app.call(app.client.getPreCheck, preCheckRequest(a.accountNumber, b.accountNumber, krw(50_001n))));
    expect(preCheckCode(err)).toEqual([grpc.status.FAILED_PRECONDITION, GetPreCheckApiError_ErrorCode.TRANSFER_LIMIT_EXCEEDED]);
    // Over the balance is still INSUFFICIENT_BALANCE.
    const poor = await h.openAccount(A, 10n, { perTransaction: 50_000n, perDay: 70_000n });
    const low = await failure(app.call(app.client.getPreCheck, preCheckRequest(poor.accountNumber, b.accountNumber, krw(11n))));
    expect(preCheckCode(low)).toEqual([grpc.status.FAILED_PRECONDITION, GetPreCheckApiError_ErrorCode.INSUFFICIENT_BALANCE]);
    app.close();
  });

  it('counts the daily limit per Asia/Seoul calendar day: 23:59 KST is still today, 00:00 KST is a new day', async () => {
    const app = await signInApp(h, A);
    const a = await h.openAccount(A, 1_000_000n, { perTransaction: 70_000n, perDay: 70_000n });
    const b = await h.openAccount(B, 0n);
    // 2026-03-01 23:50 KST (14:50 UTC).
    nowMs = Date.parse('2026-03-01T14:50:00Z');
    await app.call(app.client.execute, await preCheckAndSign(h, app, preCheckRequest(a.accountNumber, b.accountNumber, krw(50_000n))));
    // 23:59:59 KST: 50,000 + 20,001 is over 70,000 (the UTC day is the same as the KST day here only by accident of
    // the hour; the next step crosses the KST midnight while the UTC day stays 2026-03-01).
    nowMs = Date.parse('2026-03-01T14:59:59Z');
    const over = await failure(app.call(app.client.getPreCheck, preCheckRequest(a.accountNumber, b.accountNumber, krw(20_001n))));
    expect(preCheckCode(over)).toEqual([grpc.status.FAILED_PRECONDITION, GetPreCheckApiError_ErrorCode.TRANSFER_LIMIT_EXCEEDED]);
    // Pre-checked within the limit at 23:59:59, executed after midnight: still fits (a new day at the ledger).
    const late = await preCheckAndSign(h, app, preCheckRequest(a.accountNumber, b.accountNumber, krw(20_000n)));
    // 2026-03-02 00:00:00 KST = 2026-03-01 15:00 UTC: a new day, the full 70,000 again.
    nowMs = Date.parse('2026-03-01T15:00:00Z');
    expect(await app.call(app.client.execute, late)).toEqual({ success: true });
    const full = await preCheckAndSign(h, app, preCheckRequest(a.accountNumber, b.accountNumber, krw(50_000n)));
    expect(await app.call(app.client.execute, full)).toEqual({ success: true });
    // 20,000 + 50,000 sent on 03-02 KST: 1 more is over.
    const more = await failure(app.call(app.client.getPreCheck, preCheckRequest(a.accountNumber, b.accountNumber, krw(1n))));
    expect(preCheckCode(more)).toEqual([grpc.status.FAILED_PRECONDITION, GetPreCheckApiError_ErrorCode.TRANSFER_LIMIT_EXCEEDED]);
    expect(await h.balance(B, b.accountNumber)).toBe(120_000n);
    nowMs = Date.parse('2026-03-01T05:00:00Z');
    app.close();
  });

  it('lets only one of two transfers executed at once pass a daily limit only one fits; the other answers TRANSFER_LIMIT_EXCEEDED', async () => {
    const app = await signInApp(h, A);
    const a = await h.openAccount(A, 1_000_000n, { perTransaction: 100_000n, perDay: 100_000n });
    const b = await h.openAccount(B, 0n);
    // Both pre-check alone within the limit (nothing sent yet), then execute together.
    const first = await preCheckAndSign(h, app, preCheckRequest(a.accountNumber, b.accountNumber, krw(60_000n)));
    const second = await preCheckAndSign(h, app, preCheckRequest(a.accountNumber, b.accountNumber, krw(60_000n)));
    const results = await Promise.allSettled([app.call(app.client.execute, first), app.call(app.client.execute, second)]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as grpc.ServiceError] : []));
    expect(ok).toHaveLength(1);
    expect(refused.map(executeCode)).toEqual([[grpc.status.FAILED_PRECONDITION, ExecuteApiError_ErrorCode.TRANSFER_LIMIT_EXCEEDED]]);
    expect(await h.balance(B, b.accountNumber)).toBe(60_000n);
    expect(await h.balance(A, a.accountNumber)).toBe(940_000n);
    app.close();
  });

  it("counts the ledger's daily counter at pre-check: withdrawals count, transfers pre-checked but not posted do not (the posting refuses them)", async () => {
    const app = await signInApp(h, A);
    const a = await h.openAccount(A, 1_000_000n, { perTransaction: 100_000n, perDay: 100_000n });
    const b = await h.openAccount(B, 0n);
    // A withdrawal to the owner's linked bank account (the funding service's posting) uses up 30,000 of the day.
    await new Promise((resolve, reject) =>
      h.ledger.postTransfer(
        {
          idempotencyKey: `limits-withdrawal-${a.accountNumber}`,
          fromAccountNumber: a.accountNumber,
          toAccountNumber: '',
          toExternalSettlement: true,
          withdrawal: true,
          amount: krw(30_000n),
          debitMemo: 'withdrawal',
          creditMemo: '',
          events: [],
          sourceOwnerUserId: A,
        },
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );
    const over = await failure(app.call(app.client.getPreCheck, preCheckRequest(a.accountNumber, b.accountNumber, krw(70_001n))));
    expect(preCheckCode(over)).toEqual([grpc.status.FAILED_PRECONDITION, GetPreCheckApiError_ErrorCode.TRANSFER_LIMIT_EXCEEDED]);
    expect((await app.call(app.client.getTransferLimit, { accountNumber: a.accountNumber })).sentToday).toEqual(krw(30_000n));
    // Pre-checked, not yet executed: not counted, so a second one of the same size pre-checks too…
    const first = await preCheckAndSign(h, app, preCheckRequest(a.accountNumber, b.accountNumber, krw(70_000n)));
    const second = await preCheckAndSign(h, app, preCheckRequest(a.accountNumber, b.accountNumber, krw(70_000n)));
    // …and the ledger, counting under the account lock, lets only one through.
    expect(await app.call(app.client.execute, first)).toEqual({ success: true });
    expect(executeCode(await failure(app.call(app.client.execute, second)))).toEqual([
      grpc.status.FAILED_PRECONDITION,
      ExecuteApiError_ErrorCode.TRANSFER_LIMIT_EXCEEDED,
    ]);
    expect(await h.balance(B, b.accountNumber)).toBe(70_000n);
    const view = await app.call(app.client.getTransferLimit, { accountNumber: a.accountNumber });
    expect([view.sentToday, view.remainingToday]).toEqual([krw(100_000n), krw(0n)]);
    app.close();
  });

  it('shows the limits, what was sent today and the maximums; lowering applies at once', async () => {
    const app = await signInApp(h, A);
    const a = await h.openAccount(A, 1_000_000n, { perTransaction: 900_000n, perDay: 1_000_000n });
    const b = await h.openAccount(B, 0n);
    await app.call(app.client.execute, await preCheckAndSign(h, app, preCheckRequest(a.accountNumber, b.accountNumber, krw(800_000n))));
    expect(await app.call(app.client.getTransferLimit, { accountNumber: a.accountNumber })).toEqual({
      accountNumber: a.accountNumber,
      limitPerTransaction: krw(900_000n),
      limitPerDay: krw(1_000_000n),
      sentToday: krw(800_000n),
      remainingToday: krw(200_000n),
      maxLimitPerTransaction: krw(5_000_000n),
      maxLimitPerDay: krw(20_000_000n),
    });
    const lower = { accountNumber: a.accountNumber, limitPerTransaction: krw(100_000n), limitPerDay: krw(850_000n) };
    expect(await app.call(app.client.prepareChangeTransferLimit, lower)).toEqual({ stepUpRequired: false, process: undefined });
    expect(await app.call(app.client.changeTransferLimit, { ...lower, authenticationProcessId: '' })).toEqual({
      success: true,
      limitPerTransaction: krw(100_000n),
      limitPerDay: krw(850_000n),
    });
    // In force at once, at pre-check and at the ledger: 800,000 + 50,001 is over 850,000.
    const view = await app.call(app.client.getTransferLimit, { accountNumber: a.accountNumber });
    expect(view.remainingToday).toEqual(krw(50_000n));
    const over = await failure(app.call(app.client.getPreCheck, preCheckRequest(a.accountNumber, b.accountNumber, krw(50_001n))));
    expect(preCheckCode(over)).toEqual([grpc.status.FAILED_PRECONDITION, GetPreCheckApiError_ErrorCode.TRANSFER_LIMIT_EXCEEDED]);
    app.close();
  });

  it('answers TRANSFER_LIMIT_EXCEEDED at Execute when the limit was lowered after the pre-check', async () => {
    const app = await signInApp(h, A);
    const a = await h.openAccount(A, 1_000_000n, { perTransaction: 300_000n, perDay: 1_000_000n });
    const b = await h.openAccount(B, 0n);
    const pending = await preCheckAndSign(h, app, preCheckRequest(a.accountNumber, b.accountNumber, krw(200_000n)));
    const lower = { accountNumber: a.accountNumber, limitPerTransaction: krw(100_000n), limitPerDay: krw(1_000_000n) };
    await app.call(app.client.changeTransferLimit, { ...lower, authenticationProcessId: '' });
    const err = await failure(app.call(app.client.execute, pending));
    expect(executeCode(err)).toEqual([grpc.status.FAILED_PRECONDITION, ExecuteApiError_ErrorCode.TRANSFER_LIMIT_EXCEEDED]);
    // Final: the retry answers the same, and nothing moved.
    expect(executeCode(await failure(app.call(app.client.execute, pending)))).toEqual(executeCode(err));
    expect(await h.balance(B, b.accountNumber)).toBe(0n);
    app.close();
  });

  it('raises a limit only with its DONE step-up process, for exactly that change, once', async () => {
    const app = await signInApp(h, A);
    const a = await h.openAccount(A, 10_000_000n, { perTransaction: 100_000n, perDay: 500_000n });
    const raise = { accountNumber: a.accountNumber, limitPerTransaction: krw(2_000_000n), limitPerDay: krw(5_000_000n) };
    // Without a process: refused, nothing changed.
    const bare = await failure(app.call(app.client.changeTransferLimit, { ...raise, authenticationProcessId: '' }));
    expect(limitCode(bare)).toEqual([grpc.status.PERMISSION_DENIED, TransferLimitApiError_ErrorCode.STEP_UP_AUTHENTICATION_REQUIRED]);

    const prepared = await app.call(app.client.prepareChangeTransferLimit, raise);
    expect(prepared.stepUpRequired).toBe(true);
    const processId = prepared.process!.processId;
    expect(h.users.processes.get(processId)!.type).toBe(AuthenticatedTransactionType.CHANGE_TRANSFER_LIMIT);
    // Not DONE yet: refused.
    const early = await failure(app.call(app.client.changeTransferLimit, { ...raise, authenticationProcessId: processId }));
    expect(limitCode(early)).toEqual([grpc.status.PERMISSION_DENIED, TransferLimitApiError_ErrorCode.STEP_UP_AUTHENTICATION_REQUIRED]);
    h.users.complete(processId);
    // DONE, but for another change (a higher limit than the one authenticated): refused.
    const other = await failure(
      app.call(app.client.changeTransferLimit, { ...raise, limitPerDay: krw(9_000_000n), authenticationProcessId: processId }),
    );
    expect(limitCode(other)).toEqual([grpc.status.PERMISSION_DENIED, TransferLimitApiError_ErrorCode.STEP_UP_AUTHENTICATION_REQUIRED]);
    expect((await app.call(app.client.getTransferLimit, { accountNumber: a.accountNumber })).limitPerDay).toEqual(krw(500_000n));

    expect(await app.call(app.client.changeTransferLimit, { ...raise, authenticationProcessId: processId })).toEqual({
      success: true,
      limitPerTransaction: krw(2_000_000n),
      limitPerDay: krw(5_000_000n),
    });
    // Single use: lower, then the same process cannot raise again.
    await app.call(app.client.changeTransferLimit, {
      ...raise,
      limitPerTransaction: krw(1n),
      limitPerDay: krw(1n),
      authenticationProcessId: '',
    });
    const again = await failure(app.call(app.client.changeTransferLimit, { ...raise, authenticationProcessId: processId }));
    expect(limitCode(again)).toEqual([grpc.status.PERMISSION_DENIED, TransferLimitApiError_ErrorCode.STEP_UP_AUTHENTICATION_REQUIRED]);
    app.close();
  });

  it("refuses bad limits, limits over the maximums and other users' accounts with their codes", async () => {
    const app = await signInApp(h, A);
    const a = await h.openAccount(A, 0n, { perTransaction: 100_000n, perDay: 500_000n });
    const theirs = await h.openAccount(B, 0n, { perTransaction: 100_000n, perDay: 500_000n });
    const change = (perTransaction: ReturnType<typeof krw> | undefined, perDay: ReturnType<typeof krw> | undefined, account = a) => ({
      accountNumber: account.accountNumber,
      limitPerTransaction: perTransaction,
      limitPerDay: perDay,
    });
    const cases: [ReturnType<typeof change>, number, TransferLimitApiError_ErrorCode][] = [
      [change(undefined, krw(1n)), grpc.status.INVALID_ARGUMENT, TransferLimitApiError_ErrorCode.INVALID_TRANSFER_LIMIT],
      [change(krw(0n), krw(1n)), grpc.status.INVALID_ARGUMENT, TransferLimitApiError_ErrorCode.INVALID_TRANSFER_LIMIT],
      [change(krw(1n, 50n), krw(10n)), grpc.status.INVALID_ARGUMENT, TransferLimitApiError_ErrorCode.INVALID_TRANSFER_LIMIT],
      [change(krw(-5n), krw(10n)), grpc.status.INVALID_ARGUMENT, TransferLimitApiError_ErrorCode.INVALID_TRANSFER_LIMIT],
      [change(krw(20n), krw(10n)), grpc.status.INVALID_ARGUMENT, TransferLimitApiError_ErrorCode.INVALID_TRANSFER_LIMIT],
      [
        change(krw(5_000_001n), krw(6_000_000n)),
        grpc.status.FAILED_PRECONDITION,
        TransferLimitApiError_ErrorCode.TRANSFER_LIMIT_ABOVE_MAXIMUM,
      ],
      [change(krw(1n), krw(20_000_001n)), grpc.status.FAILED_PRECONDITION, TransferLimitApiError_ErrorCode.TRANSFER_LIMIT_ABOVE_MAXIMUM],
      [change(krw(1n), krw(1n), theirs), grpc.status.INVALID_ARGUMENT, TransferLimitApiError_ErrorCode.INVALID_SOURCE_ACCOUNT],
    ];
    for (const [request, code, seed] of cases) {
      expect(limitCode(await failure(app.call(app.client.prepareChangeTransferLimit, request)))).toEqual([code, seed]);
      expect(limitCode(await failure(app.call(app.client.changeTransferLimit, { ...request, authenticationProcessId: '' })))).toEqual([
        code,
        seed,
      ]);
    }
    const view = await failure(app.call(app.client.getTransferLimit, { accountNumber: theirs.accountNumber }));
    expect(limitCode(view)).toEqual([grpc.status.INVALID_ARGUMENT, TransferLimitApiError_ErrorCode.INVALID_SOURCE_ACCOUNT]);
    // Nothing was half-written: both accounts keep their limits.
    expect((await app.call(app.client.getTransferLimit, { accountNumber: a.accountNumber })).limitPerTransaction).toEqual(krw(100_000n));
    expect(await h.balance(B, theirs.accountNumber)).toBe(0n);
    app.close();
  });
});
