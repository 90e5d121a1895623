/**
 * The sandbox's bank and members, and the inputs that trigger each result code. Seed 001 lists
 * its test cases by description only (no inputs), so these triggers are ours; the README has
 * the same table.
 */
import type { KonaplateResultCode } from '../result-codes';

export interface SandboxHolder {
  bankCode: string;
  bankAccount: string;
  /** The account holder's real name as the bank knows it. */
  holderName: string;
  /** yyyyMMdd */
  birthDate: string;
}

/** Accounts whose holder verification succeeds with exactly this name and birth date. */
export const SANDBOX_HOLDERS: readonly SandboxHolder[] = [
  { bankCode: '088', bankAccount: '110234567890', holderName: '홍길동', birthDate: '19800101' },
  { bankCode: '090', bankAccount: '3333051234567', holderName: '김하나', birthDate: '19920315' },
  { bankCode: '004', bankAccount: '94420201234567', holderName: '이민준', birthDate: '20010709' },
];

/**
 * Well-formed account numbers (any bank code of the seed's table, any name and birth date)
 * that answer a fixed result code (every error code of seed 001 that no ordinary input
 * reaches: bank-side and account-status answers).
 */
export const TRIGGER_ACCOUNTS: Readonly<Record<string, KonaplateResultCode>> = {
  '9000000002': '002_002',
  '9000000004': '002_004',
  '9000000006': '002_006',
  '9000000008': '002_008',
  '9000000009': '002_009',
};

/**
 * The sandbox bank's account-number rule (ASSUMED; Konaplate's is per bank and not public):
 * 8 to 16 digits. Shorter or longer numbers, up to the API's 20, answer 002_001.
 */
export const SANDBOX_ACCOUNT_DIGITS = { min: 8, max: 16 } as const;

/** Birth dates before this answer 000_002 (as do dates after today). */
export const SANDBOX_EARLIEST_BIRTH_DATE = '19000101';

/**
 * Self-service accounts for demos (ASSUMED, sandbox only): a 12-digit number starting with 99 at
 * any bank of the seed's table is opened by the sandbox's bank for whoever verifies it first (that
 * name and birth date become its holder; another name later answers 002_003). Like any verified
 * account it becomes the member's normal top-up account only through ARS registration
 * (ars-registration.ts; the sandbox's `answerArsCall`, or `arsAnswerAfterMs` in demos).
 */
export const SELF_SERVICE_ACCOUNT = /^99\d{10}$/;

/** A well-formed account number the sandbox's bank does not have: 002_007. */
export const UNKNOWN_ACCOUNT_EXAMPLE = '1234567890';

export interface SandboxRegisteredAccounts {
  normal?: SandboxHolder;
  auto?: SandboxHolder;
}

/** Members for the registered-accounts inquiry; any other userId has no account. */
export const SANDBOX_MEMBERS: Readonly<Record<string, SandboxRegisteredAccounts>> = {
  // A normal-recharge account only: isAutoRcgAccRegAllowed = true.
  '1000000001': { normal: SANDBOX_HOLDERS[0]! },
  // Both accounts: isAutoRcgAccRegAllowed = false.
  '1000000002': { normal: SANDBOX_HOLDERS[1]!, auto: SANDBOX_HOLDERS[1]! },
  // 19 digits, above 2^53: only an exact JSON number finds this member.
  '9007199254740993123': { normal: SANDBOX_HOLDERS[2]! },
};
