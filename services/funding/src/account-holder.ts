/** Use case: the Konaplate real-name check that lets an account be linked at all. */
import { isListedBankCode, SEED_BANK_CODES } from '@kfrm/konaplate';
import { maskAccountNumber } from '@kfrm/logging';
import { checkAccountInput, type AccountInputCode } from './account-input';
import { fromKonaplate, fundingError } from './external-errors';
import type { FundingContext } from './funding.context';
import { konaplateMemberId } from './konaplate-member';
import { upsertHolderVerified, type LinkedAccountRow } from './funding.repository';
import type { FindUserCode } from './user-directory';

const BANK_NAMES = new Map(SEED_BANK_CODES.map((b) => [b.code, b.name]));

/** The seed codes `verifyAccountHolder` raises: the input check, the user lookup and Konaplate's answers. */
export type VerifyAccountHolderCode =
  | AccountInputCode
  | FindUserCode
  | 'ACCOUNT_HOLDER_MISMATCH'
  | 'BANK_ACCOUNT_NOT_FOUND'
  | 'BANK_ACCOUNT_NOT_USABLE'
  | 'BANK_NOT_SUPPORTED'
  | 'BANK_UNAVAILABLE'
  | 'OUTCOME_UNKNOWN'
  | 'EXTERNAL_SERVICE_FAILED';

/** Konaplate real-name check with the user's name and birth date from their record. */
export async function verifyAccountHolder(
  deps: Pick<FundingContext, 'db' | 'konaplate' | 'users' | 'log' | 'now'>,
  userId: string,
  bankCode: string,
  accountNumber: string,
): Promise<LinkedAccountRow> {
  const { log } = deps;
  checkAccountInput(bankCode, accountNumber);
  // Konaplate documents no code for an institution outside its list (seed 001's test data names
  // the case without a code), so a bank outside the seed's table is refused here, never sent.
  if (!isListedBankCode(bankCode)) throw fundingError('BANK_NOT_SUPPORTED');
  const user = await deps.users.findUser(userId);
  let verified;
  try {
    // Konaplate knows its own members only: the id it issued, never ours.
    const memberId = await konaplateMemberId(deps, user);
    verified = await deps.konaplate.verifyAccountHolder({
      userId: memberId,
      userName: user.name,
      birthDate: user.birthDate,
      bankCode,
      bankAccount: accountNumber,
    });
  } catch (err) {
    log.info(
      { bank_code: bankCode, account_number: maskAccountNumber(accountNumber), code: (err as { code?: unknown }).code },
      'account holder not verified',
    );
    throw fromKonaplate<VerifyAccountHolderCode>(err, [
      'ACCOUNT_HOLDER_MISMATCH',
      'INVALID_BANK_ACCOUNT',
      'BANK_ACCOUNT_NOT_FOUND',
      'BANK_ACCOUNT_NOT_USABLE',
      'BANK_NOT_SUPPORTED',
      'BANK_UNAVAILABLE',
      'USER_PROFILE_INCOMPLETE',
      'OUTCOME_UNKNOWN',
      'EXTERNAL_SERVICE_UNAVAILABLE',
    ]);
  }
  const account = await upsertHolderVerified(deps.db, {
    userId,
    bankCode,
    accountNumber,
    bankName: BANK_NAMES.get(bankCode) ?? '',
    correlationId: verified.correlationId,
    at: deps.now(),
  });
  log.info(
    { linked_account_id: account.id, bank_code: bankCode, account_number: maskAccountNumber(accountNumber) },
    'account holder verified',
  );
  return account;
}
