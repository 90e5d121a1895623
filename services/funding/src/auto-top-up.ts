/** Use case: make a linked account the user's automatic top-up account. */
import { failWith } from '@kfrm/errors';
import type { RegisteredBankAccount } from '@kfrm/konaplate';
import { maskAccountNumber } from '@kfrm/logging';
import { fromKonaplate } from './external-errors';
import type { FundingContext } from './funding.context';
import { knownKonaplateMemberId } from './konaplate-member';
import { findLinkedAccount, registerAutoTopUp, type LinkedAccountRow } from './funding.repository';

/** The seed codes `registerAutoTopUpAccount` raises. */
export type RegisterAutoTopUpAccountCode =
  | 'LINKED_ACCOUNT_NOT_FOUND'
  | 'ACCOUNT_NOT_LINKED'
  | 'AUTO_TOP_UP_NOT_ALLOWED'
  | 'BANK_UNAVAILABLE'
  | 'EXTERNAL_SERVICE_UNAVAILABLE'
  | 'EXTERNAL_SERVICE_FAILED';

const registerFailed = failWith<RegisterAutoTopUpAccountCode>();

/**
 * Registers a linked account for automatic top-up, when Konaplate allows it: the account is
 * the member's normal top-up account and no automatic one exists there yet, or it already is
 * the automatic one. Idempotent.
 */
export async function registerAutoTopUpAccount(
  deps: Pick<FundingContext, 'db' | 'konaplate' | 'log' | 'now'>,
  userId: string,
  linkedAccountId: bigint,
): Promise<LinkedAccountRow> {
  const { db } = deps;
  const account = await findLinkedAccount(db, userId, linkedAccountId);
  if (!account) throw registerFailed('LINKED_ACCOUNT_NOT_FOUND', 'The linked account was not found.');
  if (account.state !== 'LINKED') throw registerFailed('ACCOUNT_NOT_LINKED', 'Confirm an auto-debit consent for the account first.');
  if (account.autoTopUpRegisteredAt) return account;
  const memberId = await knownKonaplateMemberId(deps, userId);
  // A linked account was holder-verified, which registered the member; without one Konaplate
  // has no account of this user to allow.
  if (memberId === undefined) throw registerFailed('AUTO_TOP_UP_NOT_ALLOWED', 'This account cannot be registered for automatic top-up.');
  let inquiry;
  try {
    inquiry = await deps.konaplate.inquireBankAccounts({ userId: memberId });
  } catch (err) {
    throw fromKonaplate<RegisterAutoTopUpAccountCode>(err, ['BANK_UNAVAILABLE', 'EXTERNAL_SERVICE_UNAVAILABLE']);
  }
  const same = (a: RegisteredBankAccount | undefined) =>
    a !== undefined && a.bankCode === account.bankCode && a.bankAccount === account.accountNumber;
  const alreadyAuto = same(inquiry.bankAccForAutoRcg);
  if (!alreadyAuto && !(inquiry.isAutoRcgAccRegAllowed && same(inquiry.bankAccForNormalRcg))) {
    throw registerFailed('AUTO_TOP_UP_NOT_ALLOWED', 'This account cannot be registered for automatic top-up.');
  }
  const registered = await registerAutoTopUp(db, userId, account.id, deps.now());
  deps.log.info(
    {
      linked_account_id: account.id,
      bank_code: account.bankCode,
      account_number: maskAccountNumber(account.accountNumber),
      already_at_konaplate: alreadyAuto,
    },
    'account registered for automatic top-up',
  );
  return registered;
}
