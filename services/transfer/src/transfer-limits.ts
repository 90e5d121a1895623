/**
 * Transfer limits: view and change (extension; the seed shows a limit only as CasaAccount's
 * transfer_limit). The limits live on the ledger account, which enforces them at every posting;
 * this module decides whether a change is allowed:
 * - both limits are given, whole KRW, 1 ≤ per-transaction ≤ per-day, each at most the bank's
 *   maximum (KFRM_TRANSFER_MAX_LIMIT_PER_TRANSACTION_KRW / _PER_DAY_KRW);
 * - lowering (or keeping) both applies at once: it only takes power away;
 * - raising either needs step-up: a CHANGE_TRANSFER_LIMIT authentication process (PIN, the user
 *   service's policy) whose context names exactly this account and these limits, DONE, and
 *   consumed here (single use). Whether a change raises is decided against the limits in force
 *   when ChangeTransferLimit runs, not when it was prepared.
 */
import type { Logger } from '@kfrm/logging';
import type { AuthenticationProcess } from '@kfrm/proto/gen/kfrm/api/common/common';
import { isWellFormedAccountNumber } from './canonical';
import { limitFailed } from './transfer-errors';
import type { LedgerPort, OwnAccount, UserPort } from './upstream';

export interface TransferLimitMaxima {
  perTransactionMinor: bigint;
  perDayMinor: bigint;
}

/** The maximums when not configured: 100,000,000 KRW a transfer, 500,000,000 KRW a day. */
export const DEFAULT_MAX_LIMITS: TransferLimitMaxima = { perTransactionMinor: 100_000_000n, perDayMinor: 500_000_000n };

export interface TransferLimitDeps {
  ledger: LedgerPort;
  users: UserPort;
  logger: Logger;
  maxima: TransferLimitMaxima;
}

export interface TransferLimitView {
  accountNumber: string;
  /** null: the account has no such limit. */
  perTransactionMinor: bigint | null;
  perDayMinor: bigint | null;
  sentTodayMinor: bigint;
  /** null: unlimited. */
  remainingTodayMinor: bigint | null;
  maxima: TransferLimitMaxima;
}

export interface LimitChange {
  accountNumber: string;
  /** undefined: missing or not a whole, positive KRW amount (the handler could not read it). */
  perTransactionMinor: bigint | undefined;
  perDayMinor: bigint | undefined;
}

const tail = (accountNumber: string) => `…${accountNumber.slice(-4)}`;

async function ownKrwAccount(deps: TransferLimitDeps, userId: string, accountNumber: string): Promise<OwnAccount> {
  const account = isWellFormedAccountNumber(accountNumber) ? await deps.ledger.getAccountForOwner(userId, accountNumber) : undefined;
  if (account?.currency !== 'KRW' || account.closed) throw limitFailed('INVALID_SOURCE_ACCOUNT', 'the account is not valid');
  return account;
}

function checkedLimits(deps: TransferLimitDeps, change: LimitChange): { perTransactionMinor: bigint; perDayMinor: bigint } {
  const { perTransactionMinor, perDayMinor } = change;
  if (perTransactionMinor === undefined || perDayMinor === undefined || perTransactionMinor <= 0n || perDayMinor <= 0n)
    throw limitFailed('INVALID_TRANSFER_LIMIT', 'both limits are required, in whole KRW, above zero');
  if (perTransactionMinor > perDayMinor) throw limitFailed('INVALID_TRANSFER_LIMIT', 'the per-transaction limit is over the daily limit');
  if (perTransactionMinor > deps.maxima.perTransactionMinor || perDayMinor > deps.maxima.perDayMinor)
    throw limitFailed('TRANSFER_LIMIT_ABOVE_MAXIMUM', 'a limit is over the maximum');
  return { perTransactionMinor, perDayMinor };
}

/** A limit goes up: null (no limit) is above every number. */
function raises(current: OwnAccount, wanted: { perTransactionMinor: bigint; perDayMinor: bigint }): boolean {
  const up = (now: bigint | null, next: bigint) => now !== null && next > now;
  return up(current.limitPerTransactionMinor, wanted.perTransactionMinor) || up(current.limitPerDayMinor, wanted.perDayMinor);
}

/** The process context: the exact change, in a fixed key order (ConsumeProcess compares bytes). */
function changeContext(accountNumber: string, wanted: { perTransactionMinor: bigint; perDayMinor: bigint }): string {
  return JSON.stringify({
    account_number: accountNumber,
    limit_per_transaction: { currency: 'KRW', major_amount: wanted.perTransactionMinor.toString() },
    limit_per_day: { currency: 'KRW', major_amount: wanted.perDayMinor.toString() },
  });
}

export async function getTransferLimit(deps: TransferLimitDeps, userId: string, accountNumber: string): Promise<TransferLimitView> {
  const account = await ownKrwAccount(deps, userId, accountNumber);
  // The ledger's own counter, read with the account: what the pre-check and the posting count too.
  const sentToday = account.debitedTodayMinor;
  const leftOfDay =
    account.limitPerDayMinor === null ? null : account.limitPerDayMinor > sentToday ? account.limitPerDayMinor - sentToday : 0n;
  const perTx = account.limitPerTransactionMinor;
  const remaining = leftOfDay === null ? perTx : perTx === null ? leftOfDay : leftOfDay < perTx ? leftOfDay : perTx;
  return {
    accountNumber: account.accountNumber,
    perTransactionMinor: perTx,
    perDayMinor: account.limitPerDayMinor,
    sentTodayMinor: sentToday,
    remainingTodayMinor: remaining,
    maxima: deps.maxima,
  };
}

/** Whether the change needs step-up and, if so, its CHANGE_TRANSFER_LIMIT process. Nothing changes yet. */
export async function prepareTransferLimitChange(
  deps: TransferLimitDeps,
  userId: string,
  change: LimitChange,
): Promise<{ stepUpRequired: boolean; process?: AuthenticationProcess }> {
  const account = await ownKrwAccount(deps, userId, change.accountNumber);
  const wanted = checkedLimits(deps, change);
  if (!raises(account, wanted)) return { stepUpRequired: false };
  const process = await deps.users.createLimitChangeProcess(userId, changeContext(account.accountNumber, wanted));
  return { stepUpRequired: true, process };
}

/** Applies the change: at once when it lowers, with the consumed step-up process when it raises. */
export async function changeTransferLimit(
  deps: TransferLimitDeps,
  userId: string,
  change: LimitChange & { processId: string },
): Promise<{ perTransactionMinor: bigint; perDayMinor: bigint }> {
  const account = await ownKrwAccount(deps, userId, change.accountNumber);
  const wanted = checkedLimits(deps, change);
  const raising = raises(account, wanted);
  if (raising) {
    const stepUp = () => limitFailed('STEP_UP_AUTHENTICATION_REQUIRED', 'raising a limit needs its authentication process done');
    if (change.processId === '') throw stepUp();
    const consumed = await deps.users.consumeLimitChangeProcess({
      processId: change.processId,
      userId,
      context: changeContext(account.accountNumber, wanted),
    });
    if (consumed !== 'consumed') throw stepUp();
  }
  const updated = await deps.ledger.setTransferLimits({ ownerUserId: userId, accountNumber: account.accountNumber, ...wanted });
  if (!updated) throw limitFailed('INVALID_SOURCE_ACCOUNT', 'the account is not valid');
  deps.logger.info({ user_id: userId, account: tail(account.accountNumber), raised: raising, step_up: raising }, 'transfer limits changed');
  return wanted;
}
