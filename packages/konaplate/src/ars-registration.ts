/**
 * Konaplate bank-account registration by ARS: the second of the two linking steps seed 001 names
 * ("1. 계좌 예금주 실명 검증 2. ARS 인증 … 계좌가 등록되며"), after which the account is the member's
 * normal top-up account (and `isAutoRcgAccRegAllowed` of seed 002 may become true).
 *
 * ASSUMED, all of it: the seeds list "ARS 인증 전 인증코드 생성", "PG를 통한 은행 계좌 등록" and
 * "계좌 등록 상태 조회" in their menu but give no page. The three calls follow the documented
 * conventions of seeds 001/002 — a POST with the common X-KM-* headers, `userId` the member id as a
 * JSON number, the `response` envelope, `NNN_NNN` codes with 000_002/000_003 for a refused field,
 * the account fields of holder verification, the response encrypted like the inquiry's — and live
 * in this one module (plus the sandbox endpoints) so they can be replaced when the real pages
 * arrive (docs/external-apis.md, "Konaplate account registration by ARS (assumed)").
 *
 * The flow: (1) issue a code for an account whose holder was verified; the app shows it;
 * (2) ask Konaplate to register the account through its PG, which places the ARS call to the
 * member's phone, where the member keys in the code; (3) ask the registration's status until it
 * is REGISTERED, FAILED or EXPIRED. Nothing calls back: the seeds say callbacks exist but name
 * none for these calls, and the menu has the status inquiry, so the status is polled.
 *
 * Idempotency: `regTranId` is ours, generated once per attempt and stored before the first call.
 * Issuing a code again under the same regTranId with the same account answers the same code;
 * with another account it is refused (000_002). Asking to register again answers the current
 * status without a second phone call. So all three calls are safe to retry.
 */
import type { ValidationIssue } from './errors';
import { isJsonObject, JsonNumber, type JsonValue } from './lossless-json';
import { TRAN_ID_PATTERN } from './money-movement';

export const ARS_REGISTRATION_PATHS = {
  issueArsCode: '/api/v1/bankaccounts/ars/authcode',
  registerBankAccount: '/api/v1/bankaccounts/pg/register',
  inquireAccountRegistration: '/api/v1/bankaccounts/register/status',
} as const;

/** The code the member keys in during the ARS call: 2 digits (ASSUMED, as Korean ARS checks use). */
export const ARS_CODE_PATTERN = /^\d{2}$/;

export interface ArsCodeRequest {
  /** The Konaplate member id (up to 19 digits, kept as text). */
  userId: string;
  /** Ours, one per registration attempt: the idempotency key at Konaplate (20-40 letters or digits). */
  regTranId: string;
  /** 3 digits (KFTC), as in holder verification. */
  bankCode: string;
  /** Digits only, 1-20, as in holder verification. */
  bankAccount: string;
}

export interface ArsCodeIssued {
  regTranId: string;
  /** Shown to the member, keyed in on the ARS call. */
  authCode: string;
  /** How long the code (and the registration it starts) stays valid. */
  validSeconds: number;
  correlationId: string;
}

export interface AccountRegistrationRequest {
  userId: string;
  regTranId: string;
}

/** Why an ARS registration failed (a status, not a result code: the call itself succeeded). */
export type ArsFailReason = 'CODE_MISMATCH' | 'NO_ANSWER' | 'CANCELLED';
export const ARS_FAIL_REASONS: readonly ArsFailReason[] = ['CODE_MISMATCH', 'NO_ANSWER', 'CANCELLED'];

export type AccountRegistrationStatus =
  /** The code was issued; no registration asked yet. */
  | { status: 'CODE_ISSUED' }
  /** The ARS call is under way (or about to be placed). */
  | { status: 'CALLING' }
  /** The member keyed in the code: the account is their normal top-up account. */
  | { status: 'REGISTERED' }
  /** The call ended without registration. */
  | { status: 'FAILED'; failReason: ArsFailReason }
  /** Not completed within the code's validity. */
  | { status: 'EXPIRED' }
  /** Konaplate has no registration under this regTranId for this member. */
  | { status: 'NOT_FOUND' };

const USER_ID = /^[1-9]\d{0,18}$/;

export function validateArsRegistration(request: AccountRegistrationRequest): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (typeof request.userId !== 'string' || !USER_ID.test(request.userId)) {
    issues.push({ field: 'userId', rule: 'must be an integer of 1 to 19 digits' });
  }
  if (typeof request.regTranId !== 'string' || !TRAN_ID_PATTERN.test(request.regTranId)) {
    issues.push({ field: 'regTranId', rule: 'must be 20 to 40 letters or digits' });
  }
  return issues;
}

export function validateArsCodeRequest(request: ArsCodeRequest): ValidationIssue[] {
  const issues = validateArsRegistration(request);
  if (typeof request.bankCode !== 'string' || !/^\d{3}$/.test(request.bankCode)) {
    issues.push({ field: 'bankCode', rule: 'must be 3 digits' });
  }
  if (typeof request.bankAccount !== 'string' || !/^\d{1,20}$/.test(request.bankAccount)) {
    issues.push({ field: 'bankAccount', rule: 'must be 1 to 20 digits' });
  }
  return issues;
}

export function arsCodePayload(request: ArsCodeRequest): Record<string, JsonValue> {
  return {
    userId: new JsonNumber(request.userId),
    regTranId: request.regTranId,
    bankCode: request.bankCode,
    bankAccount: request.bankAccount,
  };
}

export function arsRegistrationPayload(request: AccountRegistrationRequest): Record<string, JsonValue> {
  return { userId: new JsonNumber(request.userId), regTranId: request.regTranId };
}

/** The code answer; undefined when it does not have the documented shape. */
export function readArsCode(data: { [key: string]: JsonValue }, regTranId: string): Omit<ArsCodeIssued, 'correlationId'> | undefined {
  if (!isJsonObject(data) || data.regTranId !== regTranId) return undefined;
  const { authCode, validSeconds } = data;
  if (typeof authCode !== 'string' || !ARS_CODE_PATTERN.test(authCode)) return undefined;
  if (!(validSeconds instanceof JsonNumber) || !/^[1-9]\d{0,5}$/.test(validSeconds.raw)) return undefined;
  return { regTranId, authCode, validSeconds: Number(validSeconds.raw) };
}

/** The status answer (of the registration request or the inquiry); undefined when malformed. */
export function readRegistrationStatus(data: { [key: string]: JsonValue }, regTranId: string): AccountRegistrationStatus | undefined {
  if (!isJsonObject(data)) return undefined;
  const { status } = data;
  if (status === 'NOT_FOUND') return { status };
  // Any other answer is about our regTranId, or it is about something else.
  if (data.regTranId !== regTranId) return undefined;
  if (status === 'CODE_ISSUED' || status === 'CALLING' || status === 'REGISTERED' || status === 'EXPIRED') return { status };
  if (status === 'FAILED') {
    const reason = data.failReason;
    return typeof reason === 'string' && (ARS_FAIL_REASONS as readonly string[]).includes(reason)
      ? { status, failReason: reason as ArsFailReason }
      : undefined;
  }
  return undefined;
}
