// Maker-checker (issue 16): a teller's deposit above the approval threshold is not posted until a
// second, different operator with the teller role approves it; then it is posted exactly once.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unary } from '@kfrm/app-client';
import { AuditLog } from '@kfrm/audit';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { ApprovalStatus, OperatorApprovalServiceClient } from '@kfrm/proto/gen/kfrm/api/user/operator_approval_internal';
import { operatorTokenInterceptor } from '@kfrm/runtime';
import { operatorToken } from '@kfrm/runtime/testing/operator-tokens.fixtures';
import { startTestServices, type TestServices } from '@kfrm/runtime/testing/services.harness';
import { APPROVAL_ID_TRAILER, type OperatorRole } from '@kfrm/server-kit';
import { serviceModules } from './service-modules';

let services: TestServices;
const clients: grpc.Client[] = [];
/** The ledger as casa (opens the account) and as transfer (reads its balance) call it. */
let asCasa: LedgerServiceClient;
let asTransfer: LedgerServiceClient;
let accountNumber: string;

const krw = (won: bigint) => ({ currencyCode: CurrencyCode.KRW, majorAmount: won, minorAmount: 0n });

/** Clients of one operator (their own token). */
async function operator(subject: string, roles: OperatorRole[]) {
  const options = {
    interceptors: [operatorTokenInterceptor(await operatorToken(services.running.config.operatorIssuerDir, roles, subject))],
  };
  const ledger = new LedgerServiceClient(services.internalAddress, services.identity!.anonymous(), options);
  const approvals = new OperatorApprovalServiceClient(services.internalAddress, services.identity!.anonymous(), options);
  clients.push(ledger, approvals);
  return { ledger, approvals };
}

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a refusal');
    },
    (err: grpc.ServiceError) => err,
  );

const balance = async () =>
  (await unary(asTransfer, asTransfer.getAccountForOwner, { ownerUserId: 'approval-owner', accountNumber })).account!.balance!.majorAmount;

let seq = 0;
const deposit = (ledger: LedgerServiceClient, won: bigint) =>
  unary(ledger, ledger.deposit, { idempotencyKey: `approval-test-${++seq}`, accountNumber, amount: krw(won), memo: 'test', events: [] });

beforeAll(async () => {
  services = await startTestServices(serviceModules, { name: 'operator-approval', env: { LOG_LEVEL: 'silent' }, serviceIdentity: true });
  asCasa = new LedgerServiceClient(services.internalAddress, services.identity!.as('casa'));
  asTransfer = new LedgerServiceClient(services.internalAddress, services.identity!.as('transfer'));
  clients.push(asCasa, asTransfer);
  const created = await unary(asCasa, asCasa.createAccount, {
    ownerUserId: 'approval-owner',
    accountName: 'approvals',
    currency: CurrencyCode.KRW,
    accountColor: '',
    idempotencyKey: 'approval-account',
    limitPerTransaction: undefined,
    limitPerDay: undefined,
  });
  accountNumber = created.account!.accountNumber;
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await services?.close();
});

describe('maker-checker', () => {
  it('posts a deposit up to the threshold at once, holds one above it until a second teller approves, then posts it once', async () => {
    const alice = await operator('teller-alice', ['teller']);
    const bob = await operator('teller-bob', ['teller']);
    const carol = await operator('kyc-carol', ['kyc-reviewer', 'auditor']);

    await deposit(alice.ledger, 1_000_000n);
    expect(await balance()).toBe(1_000_000n);

    const held = await refusal(deposit(alice.ledger, 2_000_000n));
    expect(held.code).toBe(grpc.status.FAILED_PRECONDITION);
    const approvalId = held.metadata.get(APPROVAL_ID_TRAILER)[0] as string;
    expect(approvalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await balance()).toBe(1_000_000n);

    const { requests } = await unary(carol.approvals, carol.approvals.listPendingApprovals, {});
    expect(requests.find((r) => r.approvalId === approvalId)).toMatchObject({
      method: '/kfrm.api.account.LedgerService/Deposit',
      maker: 'teller-alice',
      target: `account:${accountNumber}`,
      status: ApprovalStatus.APPROVAL_STATUS_PENDING,
    });

    // The maker cannot approve their own; an operator without the method's role cannot either.
    expect((await refusal(unary(alice.approvals, alice.approvals.approve, { approvalId }))).code).toBe(grpc.status.PERMISSION_DENIED);
    expect((await refusal(unary(carol.approvals, carol.approvals.approve, { approvalId }))).code).toBe(grpc.status.PERMISSION_DENIED);
    expect(await balance()).toBe(1_000_000n);

    const { request } = await unary(bob.approvals, bob.approvals.approve, { approvalId });
    expect(request).toMatchObject({ status: ApprovalStatus.APPROVAL_STATUS_EXECUTED, outcome: 'OK', decidedBy: 'teller-bob' });
    expect(await balance()).toBe(3_000_000n);

    // Once: approving again is refused and posts nothing.
    expect((await refusal(unary(bob.approvals, bob.approvals.approve, { approvalId }))).code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(await balance()).toBe(3_000_000n);
  });

  it('posts nothing for a rejected request, and one of two concurrent approvals wins', async () => {
    const alice = await operator('teller-alice', ['teller']);
    const bob = await operator('teller-bob', ['teller']);
    const dave = await operator('teller-dave', ['teller', 'support']);
    const before = await balance();

    const rejectedId = (await refusal(deposit(alice.ledger, 5_000_000n))).metadata.get(APPROVAL_ID_TRAILER)[0] as string;
    expect((await unary(bob.approvals, bob.approvals.reject, { approvalId: rejectedId })).request).toMatchObject({
      status: ApprovalStatus.APPROVAL_STATUS_REJECTED,
      decidedBy: 'teller-bob',
    });
    expect((await refusal(unary(dave.approvals, dave.approvals.approve, { approvalId: rejectedId }))).code).toBe(
      grpc.status.FAILED_PRECONDITION,
    );
    expect(await balance()).toBe(before);

    const raceId = (await refusal(deposit(alice.ledger, 1_500_000n))).metadata.get(APPROVAL_ID_TRAILER)[0] as string;
    const results = await Promise.allSettled([
      unary(bob.approvals, bob.approvals.approve, { approvalId: raceId }),
      unary(dave.approvals, dave.approvals.approve, { approvalId: raceId }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(await balance()).toBe(before + 1_500_000n);

    expect((await refusal(unary(alice.approvals, alice.approvals.approve, { approvalId: 'no-such-id' }))).code).toBe(grpc.status.NOT_FOUND);
  });

  it('records the hold and the approval in the audit log', async () => {
    const rows = await new AuditLog(services.database).list({ limit: 1000 });
    expect(rows.some((r) => r.action === 'ledger.deposit' && r.outcome === 'pending' && r.detail.approval_id)).toBe(true);
    expect(rows.some((r) => r.action === 'operator.approval' && r.actor === 'teller-bob' && r.outcome === 'ok')).toBe(true);
    // The approved deposit itself, executed as the user service's call.
    expect(rows.some((r) => r.action === 'ledger.deposit' && r.actorKind === 'service' && r.outcome === 'ok')).toBe(true);
    expect((await new AuditLog(services.database).verify()).ok).toBe(true);
  });
});
