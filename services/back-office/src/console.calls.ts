import * as grpc from '@grpc/grpc-js';
import { UpstreamRefusal, UpstreamUnavailableError } from '@kfrm/errors';
import { DepositApiError, DepositApiError_ErrorCode, LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { CredentialServiceClient, UnlockUserApiError, UnlockUserApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/auth/auth_internal';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { AuditLogServiceClient, type AuditLogEntry } from '@kfrm/proto/gen/kfrm/api/user/audit_log_internal';
import {
  ApproveApiError,
  ApproveApiError_ErrorCode,
  OperatorApprovalServiceClient,
  RejectApiError,
  RejectApiError_ErrorCode,
  type ApprovalRequest,
} from '@kfrm/proto/gen/kfrm/api/user/operator_approval_internal';
import { KycStatus } from '@kfrm/proto/gen/kfrm/api/user/user';
import {
  GetKycDataApiError,
  GetKycDataApiError_ErrorCode,
  LookupCustomerApiError,
  LookupCustomerApiError_ErrorCode,
  UpdateKycApiError,
  UpdateKycApiError_ErrorCode,
  UserAccountServiceClient,
  type CustomerSummary,
  type GetKycDataResponse,
  type KycReview,
} from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { grpcStatusOf, unaryCall, type InternalClients } from '@kfrm/runtime';
import { APPROVAL_ID_TRAILER, apiErrorType } from '@kfrm/server-kit';

/**
 * The console's calls: the existing internal gRPC methods, made with the signed-in operator's
 * bearer token, so the methods' roles, maker-checker and audit rows apply exactly as for any
 * other operator tool. Nothing here decides who may do what.
 */
export type CallResult<T> =
  | { kind: 'ok'; value: T }
  /** Held for a second operator (maker-checker): the approval's id. */
  | { kind: 'pending'; approvalId: string }
  /** Refused by the method: its seed code, or the gRPC status name. */
  | { kind: 'refused'; code: string; message: string }
  /** The operator's token no longer verifies: sign in again. */
  | { kind: 'signed-out' };

const errors = {
  deposit: apiErrorType(DepositApiError, DepositApiError_ErrorCode),
  unlockUser: apiErrorType(UnlockUserApiError, UnlockUserApiError_ErrorCode),
  approve: apiErrorType(ApproveApiError, ApproveApiError_ErrorCode),
  reject: apiErrorType(RejectApiError, RejectApiError_ErrorCode),
  getKycData: apiErrorType(GetKycDataApiError, GetKycDataApiError_ErrorCode),
  lookupCustomer: apiErrorType(LookupCustomerApiError, LookupCustomerApiError_ErrorCode),
  updateKyc: apiErrorType(UpdateKycApiError, UpdateKycApiError_ErrorCode),
};

async function settle<T>(call: Promise<T>): Promise<CallResult<T>> {
  try {
    return { kind: 'ok', value: await call };
  } catch (err) {
    if (err instanceof UpstreamRefusal) return { kind: 'refused', code: String(err.code), message: err.message };
    if (err instanceof UpstreamUnavailableError)
      return { kind: 'refused', code: 'UNAVAILABLE', message: 'the service did not answer; try again' };
    const status = grpcStatusOf(err);
    if (status === undefined) throw err;
    if (status === grpc.status.UNAUTHENTICATED) return { kind: 'signed-out' };
    const approvalId = (err as grpc.ServiceError).metadata?.get(APPROVAL_ID_TRAILER)[0];
    if (status === grpc.status.FAILED_PRECONDITION && typeof approvalId === 'string') return { kind: 'pending', approvalId };
    return { kind: 'refused', code: grpc.status[status] ?? String(status), message: (err as grpc.ServiceError).details ?? '' };
  }
}

/** The KYC decisions a reviewer may take from the console. */
export const KYC_DECISIONS = { VERIFIED: KycStatus.VERIFIED, REJECTED: KycStatus.REJECTED, ON_HOLD: KycStatus.ON_HOLD } as const;
export type KycDecision = keyof typeof KYC_DECISIONS;

/** "1,500,000" or "1500000" won → 1500000n; undefined when not a positive whole number of won. */
export function parseKrw(text: string): bigint | undefined {
  const digits = text.trim().replace(/[,_\s]/g, '');
  if (!/^[0-9]{1,15}$/.test(digits)) return undefined;
  const value = BigInt(digits);
  return value > 0n ? value : undefined;
}

export function createConsoleCalls(clients: InternalClients, options: { timeoutMs?: number } = {}) {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const as = (token: string) => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    return { metadata, timeoutMs };
  };
  const users = () => clients.get(UserAccountServiceClient);
  const approvals = () => clients.get(OperatorApprovalServiceClient);
  const audit = () => clients.get(AuditLogServiceClient);
  return {
    listKycReviews: (token: string): Promise<CallResult<KycReview[]>> =>
      settle(unaryCall(users(), 'listKycReviews', { limit: 100 }, as(token)).then((r) => r.reviews)),
    getKycData: (token: string, userId: bigint): Promise<CallResult<GetKycDataResponse>> =>
      settle(unaryCall(users(), 'getKycData', { userId }, { ...as(token), errors: errors.getKycData })),
    decideKyc: (token: string, userId: bigint, decision: KycDecision, reason: string): Promise<CallResult<unknown>> =>
      settle(
        unaryCall(
          users(),
          'updateKyc',
          { userId, kycStatus: KYC_DECISIONS[decision], reason, kycData: '' },
          { ...as(token), errors: errors.updateKyc },
        ),
      ),
    lookupCustomer: (token: string, key: { userId: bigint } | { customerId: string }): Promise<CallResult<CustomerSummary | undefined>> =>
      settle(unaryCall(users(), 'lookupCustomer', key, { ...as(token), errors: errors.lookupCustomer }).then((r) => r.customer)),
    unlockUser: (token: string, userId: bigint, reason: string): Promise<CallResult<unknown>> =>
      settle(
        unaryCall(clients.get(CredentialServiceClient), 'unlockUser', { userId, reason }, { ...as(token), errors: errors.unlockUser }),
      ),
    deposit: (
      token: string,
      input: { accountNumber: string; amountKrw: bigint; memo: string; idempotencyKey: string },
    ): Promise<CallResult<{ entryId: bigint; balanceAfter: string }>> =>
      settle(
        unaryCall(
          clients.get(LedgerServiceClient),
          'deposit',
          {
            idempotencyKey: input.idempotencyKey,
            accountNumber: input.accountNumber,
            amount: { currencyCode: CurrencyCode.KRW, majorAmount: input.amountKrw, minorAmount: 0n },
            memo: input.memo,
            events: [],
          },
          { ...as(token), errors: errors.deposit },
        ).then((r) => ({ entryId: r.entryId, balanceAfter: (r.balanceAfter?.majorAmount ?? 0n).toString() })),
      ),
    listPendingApprovals: (token: string): Promise<CallResult<ApprovalRequest[]>> =>
      settle(unaryCall(approvals(), 'listPendingApprovals', {}, as(token)).then((r) => r.requests)),
    approve: (token: string, approvalId: string): Promise<CallResult<ApprovalRequest | undefined>> =>
      settle(unaryCall(approvals(), 'approve', { approvalId }, { ...as(token), errors: errors.approve }).then((r) => r.request)),
    reject: (token: string, approvalId: string): Promise<CallResult<ApprovalRequest | undefined>> =>
      settle(unaryCall(approvals(), 'reject', { approvalId }, { ...as(token), errors: errors.reject }).then((r) => r.request)),
    listAuditLog: (token: string, beforeSeq: bigint): Promise<CallResult<AuditLogEntry[]>> =>
      settle(unaryCall(audit(), 'listAuditLogEntries', { beforeSeq, limit: 50 }, as(token)).then((r) => r.entries)),
    verifyAuditLog: (token: string) => settle(unaryCall(audit(), 'verifyAuditLog', {}, as(token))),
  };
}

export type ConsoleCalls = ReturnType<typeof createConsoleCalls>;
