/**
 * Konaplate member registration (회원 가입): the call that issues the member id every other API
 * takes as `userId` ("회원가입 시 부여되는 회원의 고유 ID", seeds 001/002).
 *
 * ASSUMED, all of it: the seeds list "회원 가입" in their menu but give no page. Everything here
 * follows the documented conventions of seeds 001/002 — a POST with the common X-KM-* headers,
 * request and response encrypted like the other personal-data calls, the `response` envelope,
 * `NNN_NNN` codes with 000_002/000_003 for a refused field — and lives in this one module (plus
 * the sandbox endpoint) so it can be replaced when the real page arrives
 * (docs/external-apis.md, "Konaplate member registration (assumed)").
 *
 * Idempotency: `loginId` is ours, generated once per KFRM user and stored before the first call.
 * Konaplate login ids are unique per service provider, so a second registration with the same
 * loginId and the same personal data answers the member already issued (ASSUMED; the sandbox
 * does exactly that) and a retry after a timeout cannot create a second member. The same loginId
 * with other personal data is refused (000_002): it is not a retry.
 */
import type { ValidationIssue } from './errors';
import { isJsonObject, JsonNumber, type JsonValue } from './lossless-json';
import { birthDateOnWire, isCalendarDate, type BirthDateForm } from './validation';

export const MEMBER_REGISTRATION_PATH = '/api/v1/users/register';

/** Letters, digits, `_`, `-`, 6 to 40 characters (ASSUMED, like a login id). */
export const LOGIN_ID_PATTERN = /^[A-Za-z0-9_-]{6,40}$/;
/** Mobile number without hyphens (the same rule as kakaoCert's ReceiverHP). */
export const PHONE_NUMBER_PATTERN = /^01\d{8,9}$/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export interface MemberRegistrationRequest {
  /** Ours, stable per KFRM user: the idempotency key of the registration. */
  loginId: string;
  /** Real name, 1-100 characters. */
  userName: string;
  /** yyyyMMdd (written on the wire in the configured BirthDateForm). */
  birthDate: string;
  /** Digits only, 010…. */
  phoneNumber: string;
}

export interface MemberRegistered {
  /** The Konaplate member id: the `userId` of every other call (up to 19 digits, kept as text). */
  userId: string;
  correlationId: string;
}

export function validateMemberRegistration(request: MemberRegistrationRequest): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (typeof request.loginId !== 'string' || !LOGIN_ID_PATTERN.test(request.loginId)) {
    issues.push({ field: 'loginId', rule: 'must be 6 to 40 letters, digits, _ or -' });
  }
  const name = request.userName;
  if (typeof name !== 'string' || name.trim().length === 0 || Array.from(name).length > 100 || CONTROL.test(name)) {
    issues.push({ field: 'userName', rule: 'must have 1 to 100 characters, not blank, without control characters' });
  }
  if (typeof request.birthDate !== 'string' || !isCalendarDate(request.birthDate)) {
    issues.push({ field: 'birthDate', rule: 'must be a calendar date written yyyyMMdd' });
  }
  if (typeof request.phoneNumber !== 'string' || !PHONE_NUMBER_PATTERN.test(request.phoneNumber)) {
    issues.push({ field: 'phoneNumber', rule: 'must be a mobile number of 10 or 11 digits without hyphens' });
  }
  return issues;
}

/** The request payload (before encryption). */
export function memberRegistrationPayload(request: MemberRegistrationRequest, birthDateForm: BirthDateForm): Record<string, JsonValue> {
  return {
    loginId: request.loginId,
    userName: request.userName,
    birthDate: birthDateOnWire(request.birthDate, birthDateForm),
    phoneNumber: request.phoneNumber,
  };
}

/** The issued member id from a success answer; undefined when the answer has none. */
export function readIssuedMemberId(data: { [key: string]: JsonValue }): string | undefined {
  const userId = isJsonObject(data) ? data.userId : undefined;
  return userId instanceof JsonNumber && /^[1-9]\d{0,18}$/.test(userId.raw) ? userId.raw : undefined;
}
