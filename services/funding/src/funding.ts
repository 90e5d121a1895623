/**
 * The funding use cases: verify an account holder, register it by ARS, list registered accounts, request, poll and
 * confirm an auto-debit (CMS) consent, and register a linked account for automatic top-up.
 * Each lives in its own step module taking its dependencies explicitly; this is only their wiring.
 *
 * Rules (docs/reliability.md item 9):
 * - Nothing is stored as linked until the external step succeeded: an account row appears only
 *   after Konaplate verified its holder, and becomes LINKED only in the transaction that stores
 *   the consent's signedData.
 * - Every consent step is a state change in one statement before or after the external call, so
 *   a crash between steps leaves a state the next call resumes from (see consent-state notes).
 * - VerifyCMS is called only after claiming the consent (→ VERIFYING), never twice blindly: a
 *   lost answer makes the consent VERIFY_UNKNOWN, and the next call asks GetCMSState first.
 */
import { verifyAccountHolder } from './account-holder';
import { getArsVerification, startArsVerification } from './ars-verification';
import { registerAutoTopUpAccount } from './auto-top-up';
import { confirmAutoDebitConsent } from './consent-confirm';
import { requestAutoDebitConsent } from './consent-request';
import { getAutoDebitConsent } from './consent-status';
import { fundingContext, type FundingDeps } from './funding.context';
import { autoTopUp, autoTopUpAllowance, resolvePendingMovements, topUp, withdraw, type MoneyMovementInput } from './money-movement';
import { reconcileDay, reconcilePreviousDay } from './reconciliation';
import { listRegisteredAccounts } from './registered-accounts';

export type { ConsentRow, LinkedAccountRow } from './funding.repository';
export type { ArsVerificationRow } from './ars-verification.repository';
export type { FundingDeps } from './funding.context';
export type { RegisteredAccounts } from './registered-accounts';
export type { ConfirmedConsent } from './consent-confirm';
export { DEFAULT_CONSENT_EXPIRES_IN_SECONDS } from './consent-request';
export type { MoneyMovementRow } from './money-movement.repository';
export type { MoneyMovementInput } from './money-movement';
export type { ReconciliationMismatch, ReconciliationMismatchKind, ReconciliationReport } from './reconciliation';

export function createFunding(deps: FundingDeps) {
  const ctx = fundingContext(deps);
  return {
    verifyAccountHolder: (userId: string, bankCode: string, accountNumber: string) =>
      verifyAccountHolder(ctx, userId, bankCode, accountNumber),
    listRegisteredAccounts: (userId: string) => listRegisteredAccounts(ctx, userId),
    startArsVerification: (userId: string, bankCode: string, accountNumber: string) =>
      startArsVerification(ctx, userId, bankCode, accountNumber),
    getArsVerification: (userId: string, id: string) => getArsVerification(ctx, userId, id),
    requestAutoDebitConsent: (userId: string, bankCode: string, accountNumber: string, expiresInSeconds?: number) =>
      requestAutoDebitConsent(ctx, userId, bankCode, accountNumber, expiresInSeconds),
    getAutoDebitConsent: (userId: string, consentId: string) => getAutoDebitConsent(ctx, userId, consentId),
    confirmAutoDebitConsent: (userId: string, consentId: string) => confirmAutoDebitConsent(ctx, userId, consentId),
    registerAutoTopUpAccount: (userId: string, linkedAccountId: bigint) => registerAutoTopUpAccount(ctx, userId, linkedAccountId),
    topUp: (userId: string, input: MoneyMovementInput) => topUp(ctx, userId, input),
    withdraw: (userId: string, input: MoneyMovementInput) => withdraw(ctx, userId, input),
    /** Internal (transfers): automatic top-up, and what it may still add today. */
    autoTopUpAllowance: (userId: string) => autoTopUpAllowance(ctx, userId),
    autoTopUp: (userId: string, accountNumber: string, amount: MoneyMovementInput['amount'], key: string) =>
      autoTopUp(ctx, userId, accountNumber, amount, key),
    /** Background job: drives pending top-ups and withdrawals nobody touched for retryAfterMs. */
    resolvePendingMovements: (options: { retryAfterMs: number; maxRows: number }) => resolvePendingMovements(ctx, options),
    /** Compares one Asia/Seoul day (yyyy-MM-dd) with Konaplate and the recorded ledger postings. */
    reconcileDay: (day: string) => reconcileDay(ctx, day),
    /** Background job: reconciles yesterday (Asia/Seoul) once across instances, under a lease. */
    reconcilePreviousDay: (leaseMs: number) => reconcilePreviousDay(ctx, leaseMs),
  };
}

export type Funding = ReturnType<typeof createFunding>;
