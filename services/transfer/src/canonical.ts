/**
 * The exact bytes of a transfer: what the authentication process is created with (its
 * transaction context) and what the app signs (docs/transfer-signing.md). Both are UTF-8 JSON
 * with a fixed key order and no white space, built by JSON.stringify over objects whose keys are
 * inserted in that order; every value is a string or the integer 1, so the text is unambiguous.
 */
import { InvalidArgumentError } from '@kfrm/errors';

export const INT64_MAX = 2n ** 63n - 1n;

export interface TransferTerms {
  sourceAccountNumber: string;
  targetInstitutionCode: string;
  targetAccountNumber: string;
  currency: 'KRW';
  /** Minor units (KRW has none: the amount in won). */
  amountMinor: bigint;
}

/** What the app signs: binds the transfer's terms to the one authentication process. */
export function signedContent(processId: string, t: TransferTerms): string {
  return JSON.stringify({
    v: 1,
    process_id: processId,
    source_account_number: t.sourceAccountNumber,
    target_institution_code: t.targetInstitutionCode,
    target_account_number: t.targetAccountNumber,
    currency: t.currency,
    amount_minor: t.amountMinor.toString(),
  });
}

/**
 * The TRANSFER process's context. The user service's policies read `amount.major_amount`
 * (decimal string, as proto JSON writes int64); `transfer_id` makes it unique to this transfer,
 * so the process can only ever be consumed for it.
 */
export function processContext(transferId: string, t: TransferTerms): string {
  return JSON.stringify({
    v: 1,
    transfer_id: transferId,
    source_account_number: t.sourceAccountNumber,
    target_institution_code: t.targetInstitutionCode,
    target_account_number: t.targetAccountNumber,
    amount: { currency_code: t.currency, major_amount: t.amountMinor.toString(), minor_amount: '0' },
  });
}

const ACCOUNT_NUMBER = /^[0-9][0-9-]{0,30}[0-9]$/;
const INSTITUTION_CODE = /^[0-9]{3}$/;

/** Account numbers are digits with optional dashes (at most 32 characters). */
export function isWellFormedAccountNumber(value: string): boolean {
  return ACCOUNT_NUMBER.test(value) && !value.includes('--');
}

export function isWellFormedInstitutionCode(value: string): boolean {
  return INSTITUTION_CODE.test(value);
}

/** A wire amount in KRW: positive, whole won, within int64. Anything else is INVALID_ARGUMENT. */
export function krwAmount(value: { currencyCode: 'KRW' | 'OTHER'; majorAmount: bigint; minorAmount: bigint } | undefined): bigint {
  if (!value) throw new InvalidArgumentError('amount is required');
  if (value.currencyCode !== 'KRW') throw new InvalidArgumentError('only KRW transfers are supported');
  if (value.minorAmount !== 0n) throw new InvalidArgumentError('KRW amounts have no fraction');
  if (value.majorAmount <= 0n) throw new InvalidArgumentError('amount must be positive');
  if (value.majorAmount > INT64_MAX) throw new InvalidArgumentError('amount is too large');
  return value.majorAmount;
}

/**
 * A holder name as banks show it to the sender: first and last character kept, the rest
 * starred (홍길동 → 홍*동, 남궁민수 → 남**수, 김철 → 김*). Counted in code points.
 */
export function maskName(name: string): string {
  const chars = Array.from(name.trim());
  if (chars.length === 0) return '';
  if (chars.length === 1) return '*';
  if (chars.length === 2) return `${chars[0]}*`;
  return `${chars[0]}${'*'.repeat(chars.length - 2)}${chars[chars.length - 1]}`;
}
