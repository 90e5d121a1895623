/**
 * Bank codes (KFTC standard, 3 digits) as listed in seed 001's table for bankCode. The list is
 * data, not a rule: the seed shows the common institutions only, so the client accepts any
 * well-formed 3-digit code and lets Konaplate answer for the ones it does not serve.
 */
import { KOREAN_BANK_CODES, type BankCodeEntry } from '@kfrm/bank-codes';

export type { BankCodeEntry };

export const SEED_BANK_CODES: readonly BankCodeEntry[] = KOREAN_BANK_CODES;

const BY_CODE = new Map(SEED_BANK_CODES.map((entry) => [entry.code, entry]));

export const BANK_CODE_PATTERN = /^\d{3}$/;

export function isWellFormedBankCode(code: string): boolean {
  return BANK_CODE_PATTERN.test(code);
}

/** Whether the code is in the seed's table (a well-formed code outside it is still allowed). */
export function isListedBankCode(code: string): boolean {
  return BY_CODE.has(code);
}

export function bankName(code: string): string | undefined {
  return BY_CODE.get(code)?.name;
}
