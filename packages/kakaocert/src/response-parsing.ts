/**
 * Turning HTTP answers into typed results or errors, in one place. The public SDK calls
 * JSON.parse on every body and throws an uncaught exception on a non-JSON one (an HTML error
 * page from a proxy, an empty 502); here every shape of answer ends in a typed error.
 */
import { KakaocertError, KakaocertTransportError } from './errors';
import type { HttpResponse } from './http-transport';
import { CMS_STATE, type CmsState, type LinkhubToken, type ResultCMS, type VerifyResult } from './types';

/** kakaoCert and Linkhub error codes: "-" followed by 8 digits (seed 003 A.1). */
const ERROR_CODE = /^-[0-9]{8}$/;

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** A non-200 answer: `{code, message}` becomes KakaocertError, anything else a transport error. */
export function errorFromResponse(response: HttpResponse): KakaocertError | KakaocertTransportError {
  const parsed = parseJson(response.body) as { code?: unknown; message?: unknown } | undefined;
  const code = typeof parsed?.code === 'number' || typeof parsed?.code === 'string' ? Number(parsed.code) : NaN;
  if (parsed && Number.isInteger(code) && ERROR_CODE.test(String(code)) && typeof parsed.message === 'string') {
    return new KakaocertError(code, parsed.message, { httpStatus: response.status });
  }
  // The body is not echoed into the message: it may be a page full of internals.
  return new KakaocertTransportError('bad_response', `HTTP ${response.status} without a kakaoCert error body`, true, {
    httpStatus: response.status,
  });
}

/** A 200 answer that must be a JSON object. */
export function jsonObject(response: HttpResponse): Record<string, unknown> {
  const parsed = parseJson(response.body);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new KakaocertTransportError('bad_response', 'answer is not a JSON object', true, { httpStatus: response.status });
  }
  return parsed as Record<string, unknown>;
}

function badShape(what: string): KakaocertTransportError {
  return new KakaocertTransportError('bad_response', `answer lacks ${what}`, true, { httpStatus: 200 });
}

function str(body: Record<string, unknown>, key: string): string {
  const v = body[key];
  if (typeof v !== 'string' || v.length === 0) throw badShape(key);
  return v;
}

function optStr(body: Record<string, unknown>, key: string): string | null {
  const v = body[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw badShape(key);
  return v;
}

function bool(body: Record<string, unknown>, key: string): boolean {
  const v = body[key];
  if (typeof v !== 'boolean') throw badShape(key);
  return v;
}

export function parseToken(body: Record<string, unknown>): LinkhubToken {
  return { ...body, session_token: str(body, 'session_token'), expiration: str(body, 'expiration') } as LinkhubToken;
}

export function parseReceipt(body: Record<string, unknown>): string {
  return str(body, 'receiptId');
}

const STATES = new Set<number>(Object.values(CMS_STATE));

export function parseResultCMS(body: Record<string, unknown>): ResultCMS {
  const state = body.state;
  if (typeof state !== 'number' || !STATES.has(state)) throw badShape('a known state (0, 1 or 2)');
  const expiresIn = body.expires_in;
  if (typeof expiresIn !== 'number') throw badShape('expires_in');
  return {
    receiptID: str(body, 'receiptID'),
    clientCode: str(body, 'clientCode'),
    clientName: optStr(body, 'clientName') ?? '',
    subClientName: optStr(body, 'subClientName'),
    subClientCode: optStr(body, 'subClientCode'),
    state: state as CmsState,
    expires_in: expiresIn,
    callCenterNum: optStr(body, 'callCenterNum') ?? '',
    tmstitle: optStr(body, 'tmstitle') ?? '',
    tmsmessage: optStr(body, 'tmsmessage'),
    allowSimpleRegistYN: bool(body, 'allowSimpleRegistYN'),
    verifyNameYN: bool(body, 'verifyNameYN'),
    requestDT: optStr(body, 'requestDT'),
    expireDT: optStr(body, 'expireDT'),
    regDT: optStr(body, 'regDT'),
    viewDT: optStr(body, 'viewDT'),
    completeDT: optStr(body, 'completeDT'),
    verifyDT: optStr(body, 'verifyDT'),
    payload: optStr(body, 'payload'),
  };
}

const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

export function parseVerifyResult(body: Record<string, unknown>): VerifyResult {
  const signedData = str(body, 'signedData');
  if (!BASE64URL.test(signedData)) throw badShape('signedData in base64url');
  return { receiptId: str(body, 'receiptId'), signedData };
}

/**
 * ResultCMS date-times are yyyyMMddHHmmss without a zone. ASSUMPTION: Korea Standard Time
 * (UTC+9, no daylight saving), the zone of the service. Returns undefined for null or a
 * malformed value.
 */
export function parseKakaocertDateTime(value: string | null): Date | undefined {
  if (!value || !/^[0-9]{14}$/.test(value)) return undefined;
  const [y, mo, d, h, mi, s] = [0, 4, 6, 8, 10, 12].map((i, k) => Number(value.slice(i, i + (k === 0 ? 4 : 2)))) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Date.UTC(y, mo - 1, d, h - 9, mi, s);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}
