/**
 * Checks of RequestCMS before anything is sent, per seed 003 A.2 (lengths, required fields)
 * and the rules the seed states in prose (Expires_in ≤ 1000, YYYYMMDD, no hyphens in the phone).
 * Lengths count characters (code points), not bytes: the seed says "한글 기준 최대 20자".
 * Messages name the field and the rule, never the value (they may be shown and logged).
 */
import { KakaocertValidationError } from './errors';
import type { RequestCMS } from './types';

interface StringRule {
  kind: 'string';
  required: boolean;
  max: number;
  /** Optional format beyond the length. */
  pattern?: RegExp;
  patternText?: string;
}
interface OtherRule {
  kind: 'boolean' | 'expires';
  required: boolean;
}
type Rule = StringRule | OtherRule;

const RULES: Record<keyof RequestCMS, Rule> = {
  CallCenterNum: { kind: 'string', required: true, max: 20 },
  Expires_in: { kind: 'expires', required: true },
  ReceiverBirthDay: { kind: 'string', required: true, max: 8 },
  // ASSUMPTION: Korean mobile numbers have 10 or 11 digits; the seed gives only "11, no hyphens".
  ReceiverHP: { kind: 'string', required: true, max: 11, pattern: /^[0-9]{10,11}$/, patternText: 'must be 10 or 11 digits, no hyphens' },
  ReceiverName: { kind: 'string', required: true, max: 20 },
  BankAccountName: { kind: 'string', required: false, max: 20 },
  // Digits, hyphens and '*' (the seed allows masking part of the number, e.g. 371-02-6***85).
  BankAccountNum: { kind: 'string', required: true, max: 31, pattern: /^[0-9*-]+$/, patternText: 'may contain only digits, hyphens and *' },
  // ASSUMPTION: participant codes are digits (KFTC: 3 digits, up to 10 allowed by the seed).
  BankCode: { kind: 'string', required: true, max: 10, pattern: /^[0-9]+$/, patternText: 'must be digits' },
  ClientUserID: { kind: 'string', required: true, max: 40 },
  TMSTitle: { kind: 'string', required: true, max: 40 },
  TMSMessage: { kind: 'string', required: false, max: 500 },
  SubClientID: { kind: 'string', required: false, max: 12 },
  isAllowSimpleRegistYN: { kind: 'boolean', required: true },
  isVerifyNameYN: { kind: 'boolean', required: true },
  PayLoad: { kind: 'string', required: false, max: 200 },
  isAppUseYN: { kind: 'boolean', required: false },
};

export const MAX_EXPIRES_IN_SECONDS = 1000;

// eslint-disable-next-line no-control-regex -- control characters have no place in these fields
const CONTROL_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function fail(field: string, rule: string): never {
  throw new KakaocertValidationError(field, `${field} ${rule}`);
}

/** YYYYMMDD that is a real calendar date, not before 1900 and not after `today`. */
export function isValidBirthDay(value: string, today: Date): boolean {
  if (!/^[0-9]{8}$/.test(value)) return false;
  const year = Number(value.slice(0, 4));
  const month = Number(value.slice(4, 6));
  const day = Number(value.slice(6, 8));
  if (year < 1900 || month < 1 || month > 12 || day < 1) return false;
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return false;
  // Compare as YYYYMMDD in KST, the user's calendar (a birthday "today" in Seoul is valid).
  return value <= kstDateDigits(today);
}

function kstDateDigits(at: Date): string {
  const kst = new Date(at.getTime() + 9 * 3600_000);
  return `${kst.getUTCFullYear()}${String(kst.getUTCMonth() + 1).padStart(2, '0')}${String(kst.getUTCDate()).padStart(2, '0')}`;
}

/** Client code as registered with kakaoCert: required, at most 12 characters (seed 003). */
export function validateClientCode(clientCode: unknown): asserts clientCode is string {
  if (typeof clientCode !== 'string' || clientCode.length === 0) fail('clientCode', 'is required');
  if (clientCode.length > 12) fail('clientCode', 'must be at most 12 characters');
  // It travels in a JSON body only, but keep it printable so it is safe in logs and headers.
  if (!/^[0-9A-Za-z_-]+$/.test(clientCode)) fail('clientCode', 'may contain only letters, digits, - and _');
}

/**
 * Receipt id: required, at most 20 characters (seed 003). It goes into the URL path, so only
 * letters and digits are accepted (real ids are digits): nothing can escape the path segment.
 */
export function validateReceiptId(receiptId: unknown): asserts receiptId is string {
  if (typeof receiptId !== 'string' || receiptId.length === 0) fail('receiptId', 'is required');
  if (receiptId.length > 20) fail('receiptId', 'must be at most 20 characters');
  if (!/^[0-9A-Za-z]+$/.test(receiptId)) fail('receiptId', 'may contain only letters and digits');
}

/**
 * Throws KakaocertValidationError (code -99999999) on the first problem; returns the object to
 * send with every given field kept as given (false, 0 and '' included) and isAppUseYN defaulted.
 */
export function validateRequestCMS(request: unknown, today: Date): RequestCMS {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) fail('RequestCMS', 'is required');
  const input = request as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    // An unknown key is most likely a misspelling (receiverHP for ReceiverHP) that the server
    // would silently ignore; refuse it instead of sending a request without the field.
    if (!Object.hasOwn(RULES, key)) fail(key, 'is not a RequestCMS field');
  }
  for (const [field, rule] of Object.entries(RULES) as [keyof RequestCMS, Rule][]) {
    const value = input[field];
    if (value === undefined || value === null) {
      if (rule.required) fail(field, 'is required');
      continue;
    }
    switch (rule.kind) {
      case 'boolean':
        if (typeof value !== 'boolean') fail(field, 'must be true or false');
        break;
      case 'expires':
        if (typeof value !== 'number' || !Number.isInteger(value)) fail(field, 'must be a whole number of seconds');
        if (value <= 0 || value > MAX_EXPIRES_IN_SECONDS) fail(field, `must be between 1 and ${MAX_EXPIRES_IN_SECONDS} seconds`);
        break;
      case 'string': {
        if (typeof value !== 'string') fail(field, 'must be a string');
        if (rule.required && value.trim().length === 0) fail(field, 'is required');
        if (Array.from(value).length > rule.max) fail(field, `must be at most ${rule.max} characters`);
        if (CONTROL_CHARS.test(value)) fail(field, 'must not contain control characters');
        if (rule.pattern && !rule.pattern.test(value)) fail(field, rule.patternText ?? 'has an invalid format');
        break;
      }
    }
  }
  const birthDay = input.ReceiverBirthDay as string;
  if (!isValidBirthDay(birthDay, today)) fail('ReceiverBirthDay', 'must be a real date as YYYYMMDD');

  const out = { ...(input as unknown as RequestCMS) };
  if (out.isAppUseYN === undefined) out.isAppUseYN = false;
  return out;
}
