/**
 * Redaction applied to every log record before it is written. pino's own `redact` option only
 * matches fixed paths, and secrets turn up at any depth (a request object inside an error inside
 * a context), so we walk the record and decide by key name.
 */

// Keys whose values are secrets: never written, not even in part.
const SECRET_KEY =
  /^(pin|pins|pattern|patterns|password|passwd|secret|.*_?secret|.*secret_?key|.*token|.*tokens|authorization|cookie|private_?key|.*privatekey|key_?material|pepper|signed_?data|signeddata|signature|enc_?data|encdata|csr|otp|cvc|cvv|kyc_?data|kycdata|resident_?id(_?(un)?sealed)?|residentid(un)?sealed|residentid|ssn|birth_?date|birthdate|birthday)$/i;

// Keys whose values identify an account: only the last four characters are kept.
const ACCOUNT_KEY = /(account_?number|accountnumber|acc_?no|account_?num|bank_?acc.*|iban)$/i;

// Keys with a person's name or phone number: partly masked.
const NAME_KEY = /^(name|user_?name|username|holder_?name|holdername|customer_?name)$/i;
const PHONE_KEY = /(phone|phone_?number|phonenumber|mobile)$/i;

export const REDACTED = '[REDACTED]';

export function maskAccountNumber(value: string): string {
  const digits = value.replace(/\s/g, '');
  if (digits.length <= 4) return '****';
  return `${'*'.repeat(Math.min(digits.length - 4, 12))}${digits.slice(-4)}`;
}

/** 홍길동 → 홍*동, Alice → A***e. */
export function maskName(value: string): string {
  const chars = Array.from(value);
  if (chars.length <= 1) return '*';
  if (chars.length === 2) return `${chars[0]}*`;
  return `${chars[0]}${'*'.repeat(chars.length - 2)}${chars[chars.length - 1]}`;
}

/** 010-1234-5678 → 010-****-5678. */
export function maskPhone(value: string): string {
  const digits = value.replace(/\D/g, '');
  if (digits.length < 7) return '****';
  return `${digits.slice(0, 3)}-****-${digits.slice(-4)}`;
}

const MAX_DEPTH = 8;

export function redactValue(key: string, value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return value;
  if (SECRET_KEY.test(key)) return REDACTED;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint') {
    const text = String(value);
    if (ACCOUNT_KEY.test(key)) return maskAccountNumber(text);
    if (NAME_KEY.test(key)) return maskName(text);
    if (PHONE_KEY.test(key)) return maskPhone(text);
    return typeof value === 'bigint' ? text : value;
  }
  if (typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[depth limit]';
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (Array.isArray(value)) return value.map((item) => redactValue(key, item, depth + 1));
  if (value instanceof Error) return redactError(value, depth + 1);
  if (value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactValue(k, v, depth + 1);
  return out;
}

function redactError(err: Error, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.name, message: err.message, stack: err.stack };
  // An own `name` (a class that sets it as a field) is the type already written: not a person's name.
  for (const [k, v] of Object.entries(err)) if (k !== 'name') out[k] = redactValue(k, v, depth);
  if (err.cause !== undefined) out.cause = redactValue('cause', err.cause, depth);
  return out;
}

export function redactRecord(record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) out[k] = redactValue(k, v, 0);
  return out;
}
