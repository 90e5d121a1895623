// Idempotency keys on TransferService as the app sends them (docs/idempotency.md), over TLS on
// the real ledger and store: a retried GetPreCheck answers the same process and stores no second
// transfer; Execute with a reused key and another body answers its own IDEMPOTENCY_KEY_REUSED;
// the business key (the process) and the request key agree.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecuteApiError, ExecuteApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { apiErrorCode } from '@kfrm/server-kit';
import { deviceModule } from '../../device/src/device.module';
import { failure, krw, type MobileApp, preCheckAndSign, preCheckRequest, signInApp } from './testing/mobile-app.harness';
import { startHarness, type Harness } from './testing/transfer.harness';
import { createTransferModule } from './transfer.module';
import { TRANSFER_SCHEMA, type TransferDatabase } from './transfer.table';

const A = '1000000001';
const B = '1000000002';

let h: Harness;
let app: MobileApp;

beforeAll(async () => {
  h = await startHarness([deviceModule, createTransferModule()]);
  app = await signInApp(h, A);
}, 60_000);

afterAll(async () => {
  app?.close();
  await h?.close();
});

const transferCount = async () =>
  (await h.database.kysely<TransferDatabase>(TRANSFER_SCHEMA).selectFrom('transfers').select('id').execute()).length;

describe('TransferService with idempotency keys', () => {
  it('a retried GetPreCheck answers the same process and stores one pending transfer', async () => {
    const a = await h.openAccount(A, 10_000n);
    const b = await h.openAccount(B, 0n);
    const before = await transferCount();
    const key = { 'idempotency-key': randomUUID() };
    const request = preCheckRequest(a.accountNumber, b.accountNumber, krw(1_000n));
    const first = await app.call(app.client.getPreCheck, request, key);
    const retry = await app.call(app.client.getPreCheck, request, key);
    expect(retry).toEqual(first);
    expect(await transferCount()).toBe(before + 1);
    // Without a key (an older app) each call is a new pre-check, as before.
    await app.call(app.client.getPreCheck, request);
    expect(await transferCount()).toBe(before + 2);
  });

  it("Execute: the same key and body answer success once more; another body is Execute's own IDEMPOTENCY_KEY_REUSED", async () => {
    const a = await h.openAccount(A, 10_000n);
    const b = await h.openAccount(B, 0n);
    const execute = await preCheckAndSign(h, app, preCheckRequest(a.accountNumber, b.accountNumber, krw(4_000n)));
    const key = { 'idempotency-key': randomUUID() };
    expect(await app.call(app.client.execute, execute, key)).toEqual({ success: true });
    expect(await app.call(app.client.execute, execute, key)).toEqual({ success: true });
    const err = await failure(app.call(app.client.execute, { ...execute, recipientVisibleMessage: '다른 메모' }, key));
    expect([err.code, apiErrorCode(err, ExecuteApiError)]).toEqual([
      grpc.status.ALREADY_EXISTS,
      ExecuteApiError_ErrorCode.IDEMPOTENCY_KEY_REUSED,
    ]);
    // A new key for the same signed transfer: the business key (the process) answers it, once.
    expect(await app.call(app.client.execute, execute, { 'idempotency-key': randomUUID() })).toEqual({ success: true });
    expect(await h.balance(B, b.accountNumber)).toBe(4_000n);
    expect(await h.balance(A, a.accountNumber)).toBe(6_000n);
  });
});
