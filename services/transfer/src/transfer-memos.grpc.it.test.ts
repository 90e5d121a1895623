// Transfer memos (the seed's recipient_visible_message and self_visible_message) as the app sends
// them: given at GetPreCheck or at Execute, shown in the sender's and the recipient's statements
// (AccountService.ListTransactions) and in the recipient's notification; a memo too long or with
// characters a statement cannot show answers INVALID_VISIBLE_MESSAGE and leaves nothing behind.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ExecuteApiError,
  ExecuteApiError_ErrorCode,
  GetPreCheckApiError,
  GetPreCheckApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { apiErrorCode } from '@kfrm/server-kit';
import { deviceModule } from '../../device/src/device.module';
import { failure, krw, type MobileApp, preCheckAndSign, preCheckRequest, signInApp } from './testing/mobile-app.harness';
import { startHarness, type Harness } from './testing/transfer.harness';
import { findTransferByProcess } from './transfer.repository';
import { createTransferModule } from './transfer.module';
import { TRANSFER_SCHEMA, type TransferDatabase } from './transfer.table';

const A = '1000000001';
const B = '1000000002';

let h: Harness;
let sender: MobileApp;
let recipient: MobileApp;

beforeAll(async () => {
  h = await startHarness([deviceModule, createTransferModule()]);
  sender = await signInApp(h, A);
  recipient = await signInApp(h, B);
}, 60_000);

afterAll(async () => {
  sender?.close();
  recipient?.close();
  await h?.close();
});

/** The newest statement line of an account, as its owner's app reads it. */
async function newestMemo(app: MobileApp, accountNumber: string): Promise<string> {
  const { transactions } = await app.callAccount(app.accounts.listTransactions, {
    accountNumber,
    page: 1,
    pageSize: 1,
    fromDate: '',
    toDate: '',
    direction: 0,
    pageToken: '',
  });
  return transactions[0]!.transactionMemo;
}

describe('transfer memos', () => {
  it("Execute's visible messages are what both statements and the recipient's notification show", async () => {
    const a = await h.openAccount(A, 50_000n);
    const b = await h.openAccount(B, 0n);
    // The app knew the memos only at the last step: the pre-check had none.
    const execute = await preCheckAndSign(h, sender, preCheckRequest(a.accountNumber, b.accountNumber, krw(1_000n)));
    const before = await h.events();
    await sender.call(sender.client.execute, { ...execute, selfVisibleMessage: '  3월 회비  ', recipientVisibleMessage: '회비 보냄' });
    expect(await newestMemo(sender, a.accountNumber)).toBe('3월 회비');
    expect(await newestMemo(recipient, b.accountNumber)).toBe('회비 보냄');
    const added = (await h.events()).slice(before.length);
    expect(added.find((e) => e.userId === B)?.memo).toBe('회비 보냄');
    expect(added.find((e) => e.userId === A)?.memo).toBe('3월 회비');
  });

  it("GetPreCheck's visible messages stand when Execute sends none, and both statements show them", async () => {
    const a = await h.openAccount(A, 50_000n);
    const b = await h.openAccount(B, 0n);
    const execute = await preCheckAndSign(h, sender, {
      ...preCheckRequest(a.accountNumber, b.accountNumber, krw(2_000n)),
      selfVisibleMessage: '점심',
      recipientVisibleMessage: '점심값 🍜',
    });
    await sender.call(sender.client.execute, { ...execute, selfVisibleMessage: '', recipientVisibleMessage: '' });
    expect(await newestMemo(sender, a.accountNumber)).toBe('점심');
    expect(await newestMemo(recipient, b.accountNumber)).toBe('점심값 🍜');
  });

  it('a memo over 50 characters or with control or format characters is INVALID_VISIBLE_MESSAGE at either step, nothing written', async () => {
    const a = await h.openAccount(A, 50_000n);
    const b = await h.openAccount(B, 0n);
    for (const bad of ['가'.repeat(51), 'line\nbreak', 'tab\there', 'rtl\u202Eevil', 'zero\u200Bwidth', 'bell\u0007']) {
      for (const field of ['recipientVisibleMessage', 'selfVisibleMessage'] as const) {
        const err = await failure(
          sender.call(sender.client.getPreCheck, { ...preCheckRequest(a.accountNumber, b.accountNumber, krw(1n)), [field]: bad }),
        );
        expect([err.code, apiErrorCode(err, GetPreCheckApiError)]).toEqual([
          grpc.status.INVALID_ARGUMENT,
          GetPreCheckApiError_ErrorCode.INVALID_VISIBLE_MESSAGE,
        ]);
      }
    }
    // 50 characters (emoji count as one each) are fine.
    await sender.call(sender.client.getPreCheck, {
      ...preCheckRequest(a.accountNumber, b.accountNumber, krw(1n)),
      recipientVisibleMessage: '😀'.repeat(50),
    });

    const execute = await preCheckAndSign(h, sender, preCheckRequest(a.accountNumber, b.accountNumber, krw(3_000n)));
    const err = await failure(sender.call(sender.client.execute, { ...execute, recipientVisibleMessage: 'x'.repeat(51) }));
    expect([err.code, apiErrorCode(err, ExecuteApiError)]).toEqual([
      grpc.status.INVALID_ARGUMENT,
      ExecuteApiError_ErrorCode.INVALID_VISIBLE_MESSAGE,
    ]);
    // Refused before the decision: still PENDING, no money moved; the same signed transfer with
    // a valid memo then goes through.
    expect(
      (await findTransferByProcess(h.database.kysely<TransferDatabase>(TRANSFER_SCHEMA), execute.authenticationProcessId))?.state,
    ).toBe('PENDING');
    expect(await h.balance(B, b.accountNumber)).toBe(0n);
    await sender.call(sender.client.execute, { ...execute, recipientVisibleMessage: '다시' });
    expect(await h.balance(B, b.accountNumber)).toBe(3_000n);
    expect(await newestMemo(recipient, b.accountNumber)).toBe('다시');
  });
});
