// Member standing as a sender meets it (docs/design.md, "Member and account standing"): a BLOCKED
// member's account receives nothing — GetTargetAccountInfo answers BLOCKED_ACCOUNT, GetPreCheck
// INVALID_TARGET_ACCOUNT, and an Execute pre-checked before the block is refused with nothing
// moved; a withdrawn (DEACTIVATED) member's account is no account at all. Over gRPC with a device
// certificate and a session, on the real ledger (PostgreSQL), with the stand-in user service.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
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
const C = '1000000003';

let h: Harness;

beforeAll(async () => {
  h = await startHarness([deviceModule, createTransferModule({ env: {} })]);
}, 60_000);

afterAll(async () => {
  await h?.close();
});

describe('member standing, receiving side', () => {
  it("refuses every way into a BLOCKED member's account, and receives again once the member is ACTIVATED", async () => {
    const app = await signInApp(h, A);
    const a = await h.openAccount(A, 100_000n);
    const b = await h.openAccount(B, 0n);
    // Pre-checked and signed while B was still active.
    const earlier = await preCheckAndSign(h, app, preCheckRequest(a.accountNumber, b.accountNumber, krw(1_000n)));
    h.users.statuses.set(B, UserStatus.BLOCKED);
    try {
      const info = await failure(
        app.call(app.client.getTargetAccountInfo, { accountNumber: b.accountNumber, institutionCode: OWN_INSTITUTION_CODE }),
      );
      expect([info.code, apiErrorCode(info, GetTargetAccountInfoApiError)]).toEqual([
        grpc.status.FAILED_PRECONDITION,
        GetTargetAccountInfoApiError_ErrorCode.BLOCKED_ACCOUNT,
      ]);
      const pre = await failure(app.call(app.client.getPreCheck, preCheckRequest(a.accountNumber, b.accountNumber, krw(1_000n))));
      expect([pre.code, apiErrorCode(pre, GetPreCheckApiError)]).toEqual([
        grpc.status.INVALID_ARGUMENT,
        GetPreCheckApiError_ErrorCode.INVALID_TARGET_ACCOUNT,
      ]);
      const exec = await failure(app.call(app.client.execute, earlier));
      expect([exec.code, apiErrorCode(exec, ExecuteApiError)]).toEqual([
        grpc.status.INVALID_ARGUMENT,
        ExecuteApiError_ErrorCode.INVALID_TARGET_ACCOUNT,
      ]);
      expect(await h.balance(B, b.accountNumber)).toBe(0n);
      expect(await h.balance(A, a.accountNumber)).toBe(100_000n);
    } finally {
      h.users.statuses.delete(B);
    }
    // Unblocked (the unlock flow): the same signed transfer goes through, once.
    expect(await app.call(app.client.execute, earlier)).toEqual({ success: true });
    expect(await h.balance(B, b.accountNumber)).toBe(1_000n);
    app.close();
  });

  it("treats a withdrawn (DEACTIVATED) member's account as no account", async () => {
    const app = await signInApp(h, A);
    const a = await h.openAccount(A, 100_000n);
    const c = await h.openAccount(C, 0n);
    h.users.statuses.set(C, UserStatus.DEACTIVATED);
    try {
      const info = await failure(
        app.call(app.client.getTargetAccountInfo, { accountNumber: c.accountNumber, institutionCode: OWN_INSTITUTION_CODE }),
      );
      expect([info.code, apiErrorCode(info, GetTargetAccountInfoApiError)]).toEqual([
        grpc.status.NOT_FOUND,
        GetTargetAccountInfoApiError_ErrorCode.NOT_VALID_ACCOUNT,
      ]);
      const pre = await failure(app.call(app.client.getPreCheck, preCheckRequest(a.accountNumber, c.accountNumber, krw(1_000n))));
      expect(apiErrorCode(pre, GetPreCheckApiError)).toBe(GetPreCheckApiError_ErrorCode.INVALID_TARGET_ACCOUNT);
    } finally {
      h.users.statuses.delete(C);
    }
    app.close();
  });
});
