/**
 * Request checks against seeds 001/002, run before anything is sent: a request that breaks a
 * documented rule fails here with every broken rule named and no value echoed.
 */
import { isWellFormedBankCode } from './bank-codes';
import type { ValidationIssue } from './errors';

export interface AccountHolderVerificationRequest {
  /** Konaplate member id: 1 … 9999999999999999999, kept as decimal text to stay exact. */
  userId: string;
  /** Member's real name, 1-100 characters. */
  userName: string;
  /** yyyyMMdd. */
  birthDate: string;
  /** 3 digits (KFTC). */
  bankCode: string;
  /** Digits only, 1-20. */
  bankAccount: string;
}

export interface BankAccountInquiryRequest {
  userId: string;
}

/**
 * userId: "number, min 1, max 9999999999999999999" (seed 001). Seed 002 writes the inquiry's
 * maximum as 999999999999999 (15 digits) while every other Konaplate page uses 19 digits for
 * the same member id; we accept 19 digits for both, since a member whose id has 16-19 digits
 * must still be able to list their accounts.
 */
const USER_ID = /^[1-9]\d{0,18}$/;
const DIGITS = /^\d+$/;
// Control characters (C0, DEL, C1) never belong in a name.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function checkUserId(userId: unknown, issues: ValidationIssue[]): void {
  if (typeof userId !== 'string' || !USER_ID.test(userId)) {
    issues.push({ field: 'userId', rule: 'must be an integer from 1 to 9999999999999999999 written as decimal digits' });
  }
}

/**
 * birthDate on the wire. Seed 001 gives the format yyyyMMdd but "length 6" beside it. Our
 * reading is yyyyMMdd (docs/external-apis.md, "Where the seeds disagree"); `yyMMdd` is the other
 * reading, one client option and one sandbox option away. Callers always give yyyyMMdd: the
 * client writes the configured form.
 */
export type BirthDateForm = 'yyyyMMdd' | 'yyMMdd';
export const DEFAULT_BIRTH_DATE_FORM: BirthDateForm = 'yyyyMMdd';

/** A yyyyMMdd date in the wire form. */
export function birthDateOnWire(yyyyMMdd: string, form: BirthDateForm): string {
  return form === 'yyMMdd' ? yyyyMMdd.slice(2) : yyyyMMdd;
}

/** Whether `value` is a real date written in `form` (yyMMdd: a real date in 19xx or 20xx). */
export function isBirthDateOnWire(value: string, form: BirthDateForm): boolean {
  if (form === 'yyyyMMdd') return isCalendarDate(value);
  return /^\d{6}$/.test(value) && (isCalendarDate(`19${value}`) || isCalendarDate(`20${value}`));
}

/** 8 digits of a real calendar date (yyyyMMdd). */
export function isCalendarDate(value: string): boolean {
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(value);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

export function validateAccountHolderVerification(request: AccountHolderVerificationRequest): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  checkUserId(request.userId, issues);

  const name = request.userName;
  const nameLength = typeof name === 'string' ? Array.from(name).length : 0;
  if (typeof name !== 'string' || name.trim().length === 0 || nameLength > 100 || CONTROL.test(name)) {
    issues.push({ field: 'userName', rule: 'must have 1 to 100 characters, not blank, without control characters' });
  }

  if (typeof request.birthDate !== 'string' || !isCalendarDate(request.birthDate)) {
    issues.push({ field: 'birthDate', rule: 'must be a calendar date written yyyyMMdd' });
  }

  if (typeof request.bankCode !== 'string' || !isWellFormedBankCode(request.bankCode)) {
    issues.push({ field: 'bankCode', rule: 'must be 3 digits' });
  }

  // 002_001 says the server refuses non-digits, so there is no point in sending them.
  const account = request.bankAccount;
  if (typeof account !== 'string' || account.length < 1 || account.length > 20 || !DIGITS.test(account)) {
    issues.push({ field: 'bankAccount', rule: 'must be 1 to 20 digits' });
  }
  return issues;
}

export function validateBankAccountInquiry(request: BankAccountInquiryRequest): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  checkUserId(request.userId, issues);
  return issues;
}
