// Member withdrawal as the phone does it (MembershipService, extension), over gRPC with the real
// device, E2E key, auth, user and account services on PostgreSQL and Redis: refused while an
// account is open; PIN step-up; afterwards the session, the device certificate and every
// credential are gone, login is impossible, the identity is erased or sealed, the closed
// account's statement is kept, and the same person may sign up again.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unary } from '@kfrm/app-client';
import { AccountServiceClient } from '@kfrm/proto/gen/kfrm/api/account/account';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { AuthenticationProcess_ProcessStatus, CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { MembershipServiceClient, WithdrawalApiError, WithdrawalApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/user/membership';
import { apiErrorCode } from '@kfrm/server-kit';
import { accountModule } from '@kfrm/service-account/account.module';
import { userModule } from '@kfrm/service-user';
import { AUTH, PIN, authn, bearer, loginSvc, refusal, startIdentityHarness, type IdentityHarness } from '../testing/identity.harness';
import { clientAsCallers } from '@kfrm/runtime/testing/service-identity.fixtures';

const call = <Res>(start: (cb: (e: grpc.ServiceError | null, r: Res) => void) => unknown): Promise<Res> =>
  new Promise((resolve, reject) => start((e, r) => (e ? reject(e) : resolve(r))));

describe('member withdrawal over gRPC', () => {
  let h: IdentityHarness;
  let ledger: LedgerServiceClient;

  beforeAll(async () => {
    h = await startIdentityHarness(userModule, {}, [accountModule]);
    ledger = clientAsCallers(h.running.internalClientsOf, LedgerServiceClient, { listAccountsOfOwner: 'user' }, 'casa');
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  const withdrawalCode = (err: grpc.ServiceError) => [err.code, apiErrorCode(err, WithdrawalApiError)];
  const userRow = (userId: bigint) =>
    h.running.db.kysely('users').selectFrom('users').selectAll().where('id', '=', String(userId)).executeTakeFirstOrThrow();

  it('withdraws a member only with every account closed and the PIN, revoking and erasing as documented', async () => {
    const residentId = h.nextResidentId();
    const phone = await h.newPhone();
    const user = await h.register(phone, { residentId });
    const session = await h.loginWithPin(phone, user.userToken);
    const auth = bearer(session.sessionToken);
    const membership = phone.client(MembershipServiceClient);
    const accounts = phone.client(AccountServiceClient);
    const { account } = await call<{ account?: { accountNumber: string } }>((cb) =>
      ledger.createAccount(
        {
          ownerUserId: String(user.userId),
          accountName: '입출금통장',
          currency: CurrencyCode.KRW,
          limitPerTransaction: undefined,
          limitPerDay: undefined,
          accountColor: '',
          idempotencyKey: '',
        },
        cb,
      ),
    );

    // An open account: refused, nothing started.
    expect(withdrawalCode(await refusal(unary(membership, membership.prepareWithdrawal, {}, auth)))).toEqual([
      grpc.status.FAILED_PRECONDITION,
      WithdrawalApiError_ErrorCode.MEMBER_HAS_OPEN_ACCOUNTS,
    ]);
    await unary(accounts, accounts.closeAccount, { accountNumber: account!.accountNumber }, auth);

    const { process } = await unary(membership, membership.prepareWithdrawal, {}, auth);
    const processId = process!.processId;
    // Not yet authenticated, or another process id: AUTHENTICATION_FAILED, still a member.
    expect(withdrawalCode(await refusal(unary(membership, membership.withdraw, { authenticationProcessId: processId }, auth)))).toEqual([
      grpc.status.UNAUTHENTICATED,
      WithdrawalApiError_ErrorCode.AUTHENTICATION_FAILED,
    ]);
    expect((await userRow(user.userId)).status).toBe('ACTIVATED');
    const a = authn(phone);
    const done = await unary(a, a.authenticatePin, { processId, pin: await phone.encrypt(AUTH, PIN) }, auth);
    expect(done.process?.status).toBe(AuthenticationProcess_ProcessStatus.DONE);

    const withdrawn = await unary(membership, membership.withdraw, { authenticationProcessId: processId }, auth);
    expect(withdrawn.success).toBe(true);
    expect(Date.parse(withdrawn.withdrawnAt)).not.toBeNaN();

    // The session is over.
    const after = await refusal(unary(membership, membership.prepareWithdrawal, {}, auth));
    expect(after.code).toBe(grpc.status.UNAUTHENTICATED);
    // Login is impossible.
    const l = loginSvc(phone);
    expect((await refusal(unary(l, l.prepareLogin, { userToken: user.userToken }))).code).not.toBe(grpc.status.OK);

    // The identity: erased, or sealed for the retention period.
    const row = await userRow(user.userId);
    expect(row.status).toBe('DEACTIVATED');
    expect([row.user_name, row.phone_number, row.user_ci, row.device_uuid, row.resident_id_hash]).toEqual(['', '', '', '', null]);
    expect(row.withdrawn_name_sealed).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(row.resident_id_sealed).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(JSON.stringify(row)).not.toContain(residentId.slice(7));
    const retainYears = (row.personal_data_retain_until as Date).getUTCFullYear() - (row.withdrawn_at as Date).getUTCFullYear();
    expect(retainYears).toBe(5);
    expect(row.withdrawal_completed_at).not.toBeNull();

    // Credentials revoked by auth, the device certificate by the device service.
    const authDb = h.running.db.kysely('auth');
    expect(await authDb.selectFrom('secret_credentials').selectAll().where('user_id', '=', String(user.userId)).execute()).toEqual([]);
    expect(await authDb.selectFrom('biometric_keys').selectAll().where('user_id', '=', String(user.userId)).execute()).toEqual([]);
    const certificates = await authDb
      .selectFrom('signing_certificates')
      .select('status')
      .where('user_id', '=', String(user.userId))
      .execute();
    expect(certificates.map((c) => c.status)).toEqual(certificates.map(() => 'revoked'));
    const device = await h.running.db
      .kysely('device')
      .selectFrom('devices')
      .select('revoked_at')
      .where('id', '=', String(row.device_id))
      .executeTakeFirstOrThrow();
    expect(device.revoked_at).not.toBeNull();

    // The closed account's statement is kept.
    const kept = await call<{ accounts: { accountNumber: string; closedAt: string }[] }>((cb) =>
      ledger.listAccountsOfOwner({ ownerUserId: String(user.userId) }, cb),
    );
    expect(kept.accounts.map((x) => [x.accountNumber, x.closedAt !== ''])).toEqual([[account!.accountNumber, true]]);

    // The same person may join again, with the same resident registration number.
    const again = await h.register(await h.newPhone(), { residentId });
    expect(again.customerId).toMatch(/^C\d{12}$/);
  });
});
