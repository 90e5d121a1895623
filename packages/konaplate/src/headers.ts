/**
 * The common X-KM-* request headers (seeds 001/002 and Konaplate's "Common HTTP Header" and
 * "X-KM-Tran-Token" guides), built here and checked by the sandbox with the same helpers, so
 * the two sides cannot drift apart silently.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const HEADER = {
  aspId: 'x-km-user-aspid',
  correlationId: 'x-km-correlation-id',
  accessKey: 'x-km-access-key',
  cryptoKeyId: 'x-km-crypto-key-id',
  tranToken: 'x-km-tran-token',
  tranTime: 'x-km-tran-time',
  timeZone: 'x-km-time-zone',
} as const;

/** Lengths from the header tables of the seeds. */
export const HEADER_LENGTH = {
  aspId: 15,
  correlationId: 20,
  accessKey: 40,
  cryptoKeyId: 32,
  tranTime: 14,
  timeZone: 3,
} as const;

/**
 * The seeds say "UTC, KST, ..." without a full list; these are the two we send and the sandbox
 * accepts. A zone is the offset used for every timestamp in the headers.
 */
export type KonaplateTimeZone = 'KST' | 'UTC';
export const TIME_ZONE_OFFSET_MS: Record<KonaplateTimeZone, number> = { KST: 9 * 3_600_000, UTC: 0 };

export function isTimeZone(value: string): value is KonaplateTimeZone {
  return value === 'KST' || value === 'UTC';
}

/** The digits of `at` in the zone: yyyyMMddHHmmssSSS (17). Prefixes give the other forms. */
export function timestampDigits(at: Date, zone: KonaplateTimeZone): string {
  const shifted = new Date(at.getTime() + TIME_ZONE_OFFSET_MS[zone]);
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  return (
    pad(shifted.getUTCFullYear(), 4) +
    pad(shifted.getUTCMonth() + 1, 2) +
    pad(shifted.getUTCDate(), 2) +
    pad(shifted.getUTCHours(), 2) +
    pad(shifted.getUTCMinutes(), 2) +
    pad(shifted.getUTCSeconds(), 2) +
    pad(shifted.getUTCMilliseconds(), 3)
  );
}

/**
 * Reads yyyyMMddHHmmss[SSS] written in `zone` back into an instant; undefined when the digits
 * are not a real calendar time (20250231…, hour 24).
 */
export function parseTimestampDigits(digits: string, zone: KonaplateTimeZone): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{3})?$/.exec(digits);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = match[7] === undefined ? 0 : Number(match[7]);
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  const check = new Date(utc);
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    check.getUTCHours() !== hour ||
    check.getUTCMinutes() !== minute ||
    check.getUTCSeconds() !== second
  ) {
    return undefined;
  }
  return new Date(utc - TIME_ZONE_OFFSET_MS[zone]);
}

/** X-KM-Tran-Time: yyyyMMddHHmmss (14). One seed page says length 16; the value has 14 digits. */
export function formatTranTime(at: Date, zone: KonaplateTimeZone): string {
  return timestampDigits(at, zone).slice(0, 14);
}

const CORRELATION_ID = /^(\d{12})-[0-9a-fA-F]{7}$/;

/** X-KM-Correlation-Id: yyMMddHHmmss-xxxxxxx (20), the suffix 7 random hex characters. */
export function createCorrelationId(at: Date, zone: KonaplateTimeZone): string {
  return `${timestampDigits(at, zone).slice(2, 14)}-${randomBytes(4).toString('hex').slice(0, 7)}`;
}

/** Format check only: 12 digits of a real date-time, a hyphen, 7 hex characters. */
export function isCorrelationId(value: string, zone: KonaplateTimeZone = 'KST'): boolean {
  const match = CORRELATION_ID.exec(value);
  if (!match) return false;
  // yyMMddHHmmss: the century does not matter for a calendar check except for 29 February,
  // and 2000-2099 covers every id this code will ever see.
  return parseTimestampDigits(`20${match[1]}`, zone) !== undefined;
}

/**
 * Whether the Tran-Token signature is written with base64 padding. Konaplate's guide computes
 * base64(HMAC-SHA256) (44 characters with one "=", so the token has 67 characters, as in the
 * guide's own sample) while the header tables say length 66, which is the same token without
 * the "=". We send the padded form by default; the sandbox accepts both.
 */
export type TranTokenForm = 'padded' | 'unpadded';

/**
 * X-KM-Tran-Token = "KMV1:" + yyyyMMddHHmmssSSS + ":" + base64(HMAC-SHA256(secretKey, body)).
 * ASSUMED: the key is the UTF-8 bytes of the issued secret key string (the guide says
 * "SHA256HMAC(secretKey, message)" and public client code does exactly that), and the message
 * is exactly the bytes of the request body as sent (the encrypted envelope when encrypting).
 */
export function computeTranToken(
  secretKey: string,
  body: string | Uint8Array,
  timestamp17: string,
  form: TranTokenForm = 'padded',
): string {
  const signature = hmacBase64(secretKey, body);
  return `KMV1:${timestamp17}:${form === 'padded' ? signature : signature.replace(/=+$/, '')}`;
}

function hmacBase64(secretKey: string, body: string | Uint8Array): string {
  return createHmac('sha256', Buffer.from(secretKey, 'utf8')).update(body).digest('base64');
}

export interface ParsedTranToken {
  timestamp17: string;
  signature: Buffer;
  form: TranTokenForm;
}

const TRAN_TOKEN = /^KMV1:(\d{17}):([A-Za-z0-9+/]{43})(=?)$/;

/** Splits a Tran-Token of either form (66 or 67 characters); undefined when malformed. */
export function parseTranToken(token: string): ParsedTranToken | undefined {
  const match = TRAN_TOKEN.exec(token);
  if (!match) return undefined;
  const signature = Buffer.from(match[2]!, 'base64');
  if (signature.length !== 32) return undefined;
  return { timestamp17: match[1]!, signature, form: match[3] === '=' ? 'padded' : 'unpadded' };
}

/** Constant-time comparison of a token's signature with the HMAC of `body`. */
export function verifyTranTokenSignature(secretKey: string, body: string | Uint8Array, token: ParsedTranToken): boolean {
  const expected = Buffer.from(hmacBase64(secretKey, body), 'base64');
  return expected.length === token.signature.length && timingSafeEqual(expected, token.signature);
}

export interface Credentials {
  /** X-KM-User-AspId, 15 characters, given with the contract. */
  aspId: string;
  /** X-KM-Access-Key, 40 characters, from the project's credentials page. */
  accessKey: string;
  /** Signs X-KM-Tran-Token; never sent, never logged. */
  secretKey: string;
}

export interface SignedHeaderInput {
  credentials: Credentials;
  body: string;
  at: Date;
  timeZone: KonaplateTimeZone;
  correlationId: string;
  cryptoKeyId?: string;
  tranTokenForm?: TranTokenForm;
}

/** Every X-KM-* header of one request, timestamps taken from the same instant. */
export function buildSignedHeaders(input: SignedHeaderInput): Record<string, string> {
  const timestamp17 = timestampDigits(input.at, input.timeZone);
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=UTF-8',
    accept: 'application/json',
    [HEADER.aspId]: input.credentials.aspId,
    [HEADER.correlationId]: input.correlationId,
    [HEADER.accessKey]: input.credentials.accessKey,
    [HEADER.tranToken]: computeTranToken(input.credentials.secretKey, input.body, timestamp17, input.tranTokenForm),
    [HEADER.tranTime]: timestamp17.slice(0, 14),
    [HEADER.timeZone]: input.timeZone,
  };
  if (input.cryptoKeyId !== undefined) headers[HEADER.cryptoKeyId] = input.cryptoKeyId;
  return headers;
}
