/** Use case: send the auto-debit (CMS) consent request to the user's KakaoTalk. */
import { randomUUID } from 'node:crypto';
import { DomainError, failWith, InvalidArgumentError } from '@kfrm/errors';
import { maskAccountNumber } from '@kfrm/logging';
import { checkAccountInput, type AccountInputCode } from './account-input';
import { logConsent, moveConsent } from './consent-state';
import { fromKakaocert } from './external-errors';
import type { FundingContext } from './funding.context';
import { findConsent, findLinkedAccountByNumber, insertConsent, type ConsentRow } from './funding.repository';
import type { FindUserCode } from './user-directory';

export const DEFAULT_CONSENT_EXPIRES_IN_SECONDS = 300;
const CONSENT_TITLE = '자동충전 출금동의';

/** The seed codes `requestAutoDebitConsent` raises: the input check, the user lookup and kakaoCert's answers. */
export type RequestAutoDebitConsentCode =
  | AccountInputCode
  | FindUserCode
  | 'ACCOUNT_HOLDER_NOT_VERIFIED'
  | 'ARS_VERIFICATION_REQUIRED'
  | 'CONSENT_REQUEST_REFUSED'
  | 'OUTCOME_UNKNOWN'
  | 'EXTERNAL_SERVICE_FAILED';

const requestFailed = failWith<RequestAutoDebitConsentCode>();

/**
 * Sends the consent request for an account whose holder was verified. The consent row is
 * written (REQUESTING) before the call, so a crash leaves a trace; its id travels as PayLoad.
 */
export async function requestAutoDebitConsent(
  deps: Pick<FundingContext, 'db' | 'consents' | 'users' | 'log' | 'now'>,
  userId: string,
  bankCode: string,
  accountNumber: string,
  expiresInSeconds = 0,
): Promise<ConsentRow> {
  const { db, consents, now } = deps;
  checkAccountInput(bankCode, accountNumber);
  if (expiresInSeconds < 0 || expiresInSeconds > 1000 || !Number.isInteger(expiresInSeconds)) {
    throw new InvalidArgumentError('expires_in_seconds must be 1..1000 (0 for the default)');
  }
  const expiresIn = expiresInSeconds || DEFAULT_CONSENT_EXPIRES_IN_SECONDS;
  const account = await findLinkedAccountByNumber(db, userId, bankCode, accountNumber);
  if (!account) {
    throw requestFailed('ACCOUNT_HOLDER_NOT_VERIFIED', 'Verify the account holder first.');
  }
  // Seed 001's second step: only an account Konaplate registered by ARS can be debited for top-ups.
  if (!account.arsVerifiedAt) {
    throw requestFailed('ARS_VERIFICATION_REQUIRED', 'Register the account by ARS first.');
  }
  const user = await deps.users.findUser(userId);
  const consentId = randomUUID();
  await insertConsent(db, { id: consentId, userId, linkedAccountId: account.id, provider: consents.provider, at: now() });
  let requesting = (await findConsent(db, userId, consentId))!;
  logConsent(deps, requesting, 'consent requested', {
    bank_code: bankCode,
    account_number: maskAccountNumber(accountNumber),
    expires_in_s: expiresIn,
  });
  let receiptId: string;
  let signedContent: Uint8Array;
  const sentAt = now();
  try {
    ({ receiptId, signedContent } = await consents.requestConsent({
      receiverName: user.name,
      receiverPhone: user.phone,
      receiverBirthDate: user.birthDate,
      bankCode,
      bankAccountNumber: accountNumber,
      bankAccountHolderName: user.name,
      payerId: userId,
      title: CONSENT_TITLE,
      expiresInSeconds: expiresIn,
      memo: consentId,
    }));
  } catch (err) {
    const mapped = fromKakaocert<RequestAutoDebitConsentCode>(err, [
      'INVALID_BANK_ACCOUNT',
      'USER_PROFILE_INCOMPLETE',
      'CONSENT_REQUEST_REFUSED',
      'OUTCOME_UNKNOWN',
      'EXTERNAL_SERVICE_UNAVAILABLE',
    ]);
    // A lost RequestCMS answer cannot be reconciled (no receipt id): the message, if sent,
    // expires unsigned, and the user asks again.
    requesting = await moveConsent(deps, requesting, ['REQUESTING'], {
      state: 'REQUEST_FAILED',
      failure: mapped instanceof DomainError ? mapped.code : 'UNEXPECTED',
    });
    throw mapped;
  }
  return moveConsent(deps, requesting, ['REQUESTING'], {
    state: 'REQUESTED',
    receiptId,
    // Kept with the receipt: the signature checked at confirmation must cover exactly this.
    expectedSignedContent: signedContent,
    expiresAt: new Date(sentAt.getTime() + expiresIn * 1000),
  });
}
