/**
 * What of a CMS request may appear in a log line: names as 홍*동, phones as 010-****-1234,
 * birth dates as 1980****, account numbers by their last four digits, signedData only by its
 * length and a hash prefix. Keys are chosen so that @kfrm/logging's key-based redaction
 * leaves the already-masked values readable (it would blank a key named `birthday`).
 */
import { createHash } from 'node:crypto';
import { maskAccountNumber, maskName, maskPhone } from '@kfrm/logging';
import type { RequestCMS } from './types';

export { maskAccountNumber, maskName, maskPhone };

/** 19800101 → 1980****. */
export function maskBirthDate(value: string): string {
  return value.length >= 4 ? `${value.slice(0, 4)}${'*'.repeat(Math.max(0, value.length - 4))}` : '****';
}

export function maskedRequestFields(request: RequestCMS): Record<string, unknown> {
  return {
    receiver_name_masked: maskName(request.ReceiverName),
    receiver_phone: maskPhone(request.ReceiverHP),
    receiver_birth_masked: maskBirthDate(request.ReceiverBirthDay),
    account_number: maskAccountNumber(request.BankAccountNum),
    ...(request.BankAccountName === undefined ? {} : { holder_name: maskName(request.BankAccountName) }),
    bank_code: request.BankCode,
    expires_in_s: request.Expires_in,
  };
}

/** For logs: enough to match a stored evidence file, nothing that reproduces it. */
export function signedDataFingerprint(signedData: string): { signed_data_length: number; signed_data_sha256_prefix: string } {
  return {
    signed_data_length: signedData.length,
    signed_data_sha256_prefix: createHash('sha256').update(signedData).digest('hex').slice(0, 12),
  };
}
