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
 * birthDate: the seed gives the format yyyyMMdd but "length 6" beside it; an 8-digit date is the
 * only reading that fits the format (and what public client code sends), so we require 8 digits
 * of a real calendar date.
 */
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
