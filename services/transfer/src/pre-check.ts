/**
 * GetPreCheck: checks the transfer (source, institution, target, balance, limits), then starts
 * its TRANSFER authentication process and stores it PENDING.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@kfrm/logging';
import { autoTopUpCovers } from './auto-top-up';
import type { AuthenticationProcess } from '@kfrm/proto/gen/kfrm/api/common/common';
import { type AccountLookupDeps, holderTarget, interbankTarget, ownTarget, type Target } from './account-lookup';
import { isWellFormedAccountNumber, processContext, signedContent, type TransferTerms } from './canonical';
import { findInstitution, OWN_INSTITUTION_CODE } from './institutions';
import { preCheckFailed } from './transfer-errors';
import { insertPendingTransfer, type TransferDb } from './transfer.repository';
import type { PreCheckedTransfers } from './pre-checked-memory';
import type { FundingPort } from './upstream';
import { MAX_VISIBLE_MESSAGE_CHARS, visibleMessage } from './visible-message';

export interface PreCheckDeps extends AccountLookupDeps {
  db: TransferDb;
  logger: Logger;
  clock: () => Date;
  /** Automatic top-up of a shortfall (absent: none). */
  funding?: FundingPort;
  /** This process's memory of its pre-checks, for the first Execute (absent: none kept). */
  preChecked?: PreCheckedTransfers;
}

export interface PreCheckInput {
  sourceAccountNumber: string;
  targetAccountNumber: string;
  targetInstitutionCode: string;
  /** Already checked: positive whole KRW within int64 (canonical.krwAmount). */
  amountMinor: bigint;
  recipientVisibleMessage: string;
  selfVisibleMessage: string;
}

/**
 * What the checks after the target's would refuse, in the ledger's order, so that pre-check and
 * posting answer the same: the per-transaction limit, then the daily limit with what the ledger
 * counted today (posted transfers and withdrawals, read with the account: transfers pre-checked
 * and not yet posted are not in it, so this is the early answer only; the posting checks the
 * same counter under the account lock and cannot go over the limit), then the balance (a
 * shortfall an automatic top-up may still cover).
 */
function refusalAfterTarget(
  source: { limitPerTransactionMinor: bigint | null; limitPerDayMinor: bigint | null; debitedTodayMinor: bigint; balanceMinor: bigint },
  amount: bigint,
): 'transaction-limit' | 'daily-limit' | 'shortfall' | undefined {
  if (source.limitPerTransactionMinor !== null && amount > source.limitPerTransactionMinor) return 'transaction-limit';
  if (source.limitPerDayMinor !== null && source.debitedTodayMinor + amount > source.limitPerDayMinor) return 'daily-limit';
  if (amount > source.balanceMinor) return 'shortfall';
  return undefined;
}

/** Digits kept for logs: the last four. */
const tail = (accountNumber: string) => `…${accountNumber.slice(-4)}`;

/**
 * Checks the transfer and starts its TRANSFER authentication process. Errors:
 * INVALID_SOURCE_ACCOUNT, INVALID_TARGET_INSTITUTION, INVALID_TARGET_ACCOUNT,
 * INSUFFICIENT_BALANCE, TRANSFER_LIMIT_EXCEEDED (over the per-transaction limit, or with what
 * the ledger counted today over the daily limit), INVALID_VISIBLE_MESSAGE (visible-message.ts).
 */
export async function preCheckTransfer(
  deps: PreCheckDeps,
  userId: string,
  input: PreCheckInput,
): Promise<{ transferId: string; process: AuthenticationProcess }> {
  const { db, ledger, users, logger, clock } = deps;
  const recipientMessage = visibleMessage(input.recipientVisibleMessage);
  const selfMessage = visibleMessage(input.selfVisibleMessage);
  if (recipientMessage === undefined || selfMessage === undefined) {
    throw preCheckFailed(
      'INVALID_VISIBLE_MESSAGE',
      `a visible message is longer than ${MAX_VISIBLE_MESSAGE_CHARS} characters or holds control characters`,
    );
  }
  if (!isWellFormedAccountNumber(input.sourceAccountNumber))
    throw preCheckFailed('INVALID_SOURCE_ACCOUNT', 'the source account is not valid');
  if (!findInstitution(input.targetInstitutionCode))
    throw preCheckFailed('INVALID_TARGET_INSTITUTION', 'the target institution is not valid');
  const internal = input.targetInstitutionCode === OWN_INSTITUTION_CODE;
  const wellFormedTarget = isWellFormedAccountNumber(input.targetAccountNumber);
  // Both of our accounts in one ledger call (one read there): a malformed or another
  // institution's target is not asked for.
  const parties = await ledger.getTransferParties(
    userId,
    input.sourceAccountNumber,
    internal && wellFormedTarget ? input.targetAccountNumber : undefined,
  );
  const source = parties.source;
  if (source?.currency !== 'KRW' || source.closed) throw preCheckFailed('INVALID_SOURCE_ACCOUNT', 'the source account is not valid');
  if (internal && input.targetAccountNumber === input.sourceAccountNumber)
    throw preCheckFailed('INVALID_TARGET_ACCOUNT', 'the target account is not valid');
  const amount = input.amountMinor;
  const later = refusalAfterTarget(source, amount);
  let target: Target = { ok: false, code: 'NOT_VALID_ACCOUNT' };
  // The holder's own name when the target is one of the caller's own accounts: the sender's name too.
  let ownName: string | undefined;
  // One of our members as the target, when nothing after the target's check would refuse: their
  // standing and name are read by the process's creation, which creates nothing for a recipient
  // who is not ACTIVE (ADR 0019). Otherwise the target is looked up first, so that
  // INVALID_TARGET_ACCOUNT still comes before the limits and the balance.
  let recipientUserId: string | undefined;
  if (wellFormedTarget && internal) {
    if (parties.target?.currency === 'KRW' && later === undefined) recipientUserId = parties.target.ownerUserId;
    else {
      const own = await ownTarget(deps, parties.target);
      target = own.target;
      if (parties.target?.ownerUserId === userId) ownName = own.holderName;
    }
  } else if (wellFormedTarget) {
    target = await interbankTarget(deps, input.targetInstitutionCode, input.targetAccountNumber);
  }
  if (recipientUserId === undefined && !target.ok) throw preCheckFailed('INVALID_TARGET_ACCOUNT', 'the target account is not valid');

  if (later === 'transaction-limit') throw preCheckFailed('TRANSFER_LIMIT_EXCEEDED', 'the amount is over the per-transaction limit');
  if (later === 'daily-limit') throw preCheckFailed('TRANSFER_LIMIT_EXCEEDED', 'the amount is over the daily limit');
  // A shortfall that the user's automatic top-up covers today is topped up at Execute.
  if (later === 'shortfall' && !(await autoTopUpCovers(deps, userId, amount - source.balanceMinor)))
    throw preCheckFailed('INSUFFICIENT_BALANCE', 'the balance is not sufficient');

  const now = clock();
  const terms: TransferTerms = {
    sourceAccountNumber: source.accountNumber,
    targetInstitutionCode: input.targetInstitutionCode,
    targetAccountNumber: input.targetAccountNumber,
    currency: 'KRW',
    amountMinor: amount,
  };
  const transferId = randomUUID();
  const context = processContext(transferId, terms);
  const created = await users.createTransferProcess(userId, context, recipientUserId);
  if (recipientUserId !== undefined) {
    // A user service that predates ADR 0019 answers no recipient and created the process anyway
    // (it expires unused when the recipient is refused).
    const holder = created.recipient !== undefined ? created.recipient : await users.findHolder(recipientUserId);
    target = holderTarget(holder, recipientUserId);
    if (recipientUserId === userId) ownName = holder?.name;
  }
  // No process: the recipient was not ACTIVE (target is refused then too).
  const process = created.process;
  if (!target.ok || !process) throw preCheckFailed('INVALID_TARGET_ACCOUNT', 'the target account is not valid');
  // The sender's name, for the credit memo when the recipient message is empty: as the process's
  // creation read it (ADR 0018); looked up only from a user service that does not answer it.
  const senderName = recipientMessage === '' ? (created.userName ?? ownName ?? (await users.findUserName(userId)) ?? '') : '';
  const signed = signedContent(process.processId, terms);
  await insertPendingTransfer(db, {
    id: transferId,
    userId,
    ...terms,
    targetHolderName: target.holderName,
    targetOwnerUserId: target.ownerUserId,
    debitMemo: selfMessage || target.holderName,
    creditMemo: recipientMessage || senderName,
    processId: process.processId,
    processContext: context,
    signedContent: signed,
    createdAt: now,
  });
  // Only once the row is written: a remembered transfer always exists (until purged, which the
  // decision's conditional UPDATE notices).
  deps.preChecked?.remember({
    id: transferId,
    userId,
    ...terms,
    processId: process.processId,
    processContext: context,
    signedContent: signed,
    targetOwnerUserId: target.ownerUserId,
  });
  logger.info(
    {
      transfer_id: transferId,
      user_id: userId,
      source: tail(source.accountNumber),
      institution: terms.targetInstitutionCode,
      internal,
    },
    'transfer pre-checked',
  );
  return { transferId, process };
}
