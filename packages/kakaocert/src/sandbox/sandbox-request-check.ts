/**
 * The sandbox's own check of a RequestCMS body, as the real server presumably does it (types,
 * required keys, seed lengths, Expires_in range). Deliberately separate from the client's
 * validation: the client checks before sending, this catches what a client failed to send
 * (e.g. `isVerifyNameYN: false` dropped by the public SDK's JSON replacer).
 */
import type { SandboxErrorName } from './sandbox-error-codes';

export interface CheckedRequestCMS {
  CallCenterNum: string;
  Expires_in: number;
  ReceiverBirthDay: string;
  ReceiverHP: string;
  ReceiverName: string;
  BankAccountName: string | null;
  BankAccountNum: string;
  BankCode: string;
  ClientUserID: string;
  TMSTitle: string;
  TMSMessage: string | null;
  SubClientID: string | null;
  isAllowSimpleRegistYN: boolean;
  isVerifyNameYN: boolean;
  PayLoad: string | null;
  isAppUseYN: boolean;
}

type Spec = [key: keyof CheckedRequestCMS, type: 'string' | 'number' | 'boolean', required: boolean, max?: number, pattern?: RegExp];

const SPECS: Spec[] = [
  ['CallCenterNum', 'string', true, 20],
  ['Expires_in', 'number', true],
  ['ReceiverBirthDay', 'string', true, 8, /^[0-9]{8}$/],
  ['ReceiverHP', 'string', true, 11, /^[0-9]+$/],
  ['ReceiverName', 'string', true, 20],
  ['BankAccountName', 'string', false, 20],
  ['BankAccountNum', 'string', true, 31],
  ['BankCode', 'string', true, 10],
  ['ClientUserID', 'string', true, 40],
  ['TMSTitle', 'string', true, 40],
  ['TMSMessage', 'string', false, 500],
  ['SubClientID', 'string', false, 12],
  ['isAllowSimpleRegistYN', 'boolean', true],
  ['isVerifyNameYN', 'boolean', true],
  ['PayLoad', 'string', false, 200],
  ['isAppUseYN', 'boolean', false],
];

export type RequestCheck = { ok: true; value: CheckedRequestCMS } | { ok: false; error: SandboxErrorName; field?: string };

export function checkRequestCMS(body: unknown): RequestCheck {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, error: 'BODY_NOT_JSON' };
  const input = body as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, type, required, max, pattern] of SPECS) {
    const value = input[key];
    if (value === undefined || value === null || value === '') {
      if (required) return { ok: false, error: 'FIELD_REQUIRED', field: key };
      out[key] = type === 'boolean' ? false : null;
      continue;
    }
    if (typeof value !== type) return { ok: false, error: 'FIELD_INVALID', field: key };
    if (typeof value === 'string' && ((max !== undefined && Array.from(value).length > max) || (pattern && !pattern.test(value)))) {
      return { ok: false, error: 'FIELD_INVALID', field: key };
    }
    out[key] = value;
  }
  const expiresIn = out.Expires_in as number;
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > 1000) return { ok: false, error: 'FIELD_INVALID', field: 'Expires_in' };
  return { ok: true, value: out as unknown as CheckedRequestCMS };
}
