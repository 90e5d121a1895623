import { fundingErrorsOf } from './external-errors';

export type AccountInputCode = 'INVALID_BANK_ACCOUNT';

const inputFailed = fundingErrorsOf<AccountInputCode>();

/** Checked before anything is sent, so malformed input never reaches Konaplate or kakaoCert. */
export function checkAccountInput(bankCode: string, accountNumber: string): void {
  if (!/^\d{3}$/.test(bankCode) || !/^\d{1,20}$/.test(accountNumber)) {
    throw inputFailed('INVALID_BANK_ACCOUNT');
  }
}
