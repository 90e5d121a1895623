/**
 * The seed codes Transfers answers, the ledger's refusals and how Execute answers each, and the
 * errors every step shares.
 */
import { ConcurrentUpdateError, type DomainError, failWith } from '@kfrm/errors';
import type { TransferRow } from './transfer.repository';
import type { LedgerRefusalCode } from './upstream';

/** Another call is executing the same transfer right now (ABORTED: retry the call). */
export class TransactionConflictError extends ConcurrentUpdateError {
  override name = 'TransactionConflictError';
}

/*
 * The seed codes each use case raises. The handlers' policies check every union against the
 * method's ApiError enum (plus CommonApiError) at compile time, and each use case throws through
 * a maker bound to its union, so a code a method cannot answer does not compile.
 */
export type SourceAccountCode = 'INVALID_SOURCE_ACCOUNT';
/** TransferLimitApiError (extension): GetTransferLimit, PrepareChangeTransferLimit, ChangeTransferLimit. */
export type TransferLimitCode =
  | 'INVALID_SOURCE_ACCOUNT'
  | 'INVALID_TRANSFER_LIMIT'
  | 'TRANSFER_LIMIT_ABOVE_MAXIMUM'
  | 'STEP_UP_AUTHENTICATION_REQUIRED';
export type TargetAccountCode = 'NOT_VALID_ACCOUNT' | 'BLOCKED_ACCOUNT';
export type PreCheckCode =
  | 'INVALID_SOURCE_ACCOUNT'
  | 'INVALID_TARGET_INSTITUTION'
  | 'INVALID_TARGET_ACCOUNT'
  | 'INSUFFICIENT_BALANCE'
  | 'TRANSFER_LIMIT_EXCEEDED'
  | 'INVALID_VISIBLE_MESSAGE';
export type ExecuteCode =
  | 'DIGITAL_SIGNATURE_VERIFICATION_FAILED'
  | 'INSUFFICIENT_BALANCE'
  | 'TRANSFER_LIMIT_EXCEEDED'
  | 'INVALID_SOURCE_ACCOUNT'
  | 'INVALID_TARGET_ACCOUNT'
  | 'UNKNOWN'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'INVALID_VISIBLE_MESSAGE';

export const sourceFailed = failWith<SourceAccountCode>();
export const targetFailed = failWith<TargetAccountCode>();
export const preCheckFailed = failWith<PreCheckCode>();
export const executeFailed = failWith<ExecuteCode>();
export const limitFailed = failWith<TransferLimitCode>();

/**
 * Every reason an Execute is not authorised answers the same (CommonApiError
 * DIGITAL_SIGNATURE_VERIFICATION_FAILED, PERMISSION_DENIED): unknown process, another user's,
 * not DONE, signature_info not matching the transfer, signature not verifying. One answer, so
 * nobody learns which processes exist.
 */
export const notAuthorised = () => executeFailed('DIGITAL_SIGNATURE_VERIFICATION_FAILED', 'the transfer could not be authorised');

/**
 * Every refusal of the ledger's PostTransfer, and how Execute answers it. `final`: the transfer
 * ends FAILED (the ledger posted nothing). A record, so a code the ledger gains does not compile
 * until someone decides what Execute says for it.
 */
export const LEDGER_REFUSALS: Readonly<Record<LedgerRefusalCode, { answer: ExecuteCode; final: boolean }>> = {
  INSUFFICIENT_BALANCE: { answer: 'INSUFFICIENT_BALANCE', final: true },
  // Its own code (an extension of the seed enum): over a limit is not a matter of balance.
  TRANSFER_LIMIT_EXCEEDED: { answer: 'TRANSFER_LIMIT_EXCEEDED', final: true },
  INVALID_SOURCE_ACCOUNT: { answer: 'INVALID_SOURCE_ACCOUNT', final: true },
  INVALID_TARGET_ACCOUNT: { answer: 'INVALID_TARGET_ACCOUNT', final: true },
  INVALID_AMOUNT: { answer: 'UNKNOWN', final: true },
  // A posting under this transfer's id with another body: money may have moved (see runLeased in leased-drive.ts).
  IDEMPOTENCY_KEY_REUSED: { answer: 'IDEMPOTENCY_KEY_REUSED', final: false },
};

/** The answer for a transfer recorded FAILED with the ledger's `code` (as stored). */
function failureError(code: string): DomainError<ExecuteCode> {
  const refusal = LEDGER_REFUSALS[code as LedgerRefusalCode] as (typeof LEDGER_REFUSALS)[LedgerRefusalCode] | undefined;
  return executeFailed(refusal?.final ? refusal.answer : 'UNKNOWN', 'the transfer was refused');
}

/** The answer of a transfer that has ended: a FAILED one throws its refusal again. */
export function outcome(t: TransferRow): 'done' {
  if (t.state === 'FAILED') throw failureError(t.failure_code ?? 'UNKNOWN');
  return 'done';
}
