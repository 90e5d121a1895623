import { CurrencyCode, type MonetaryValue } from '@kfrm/proto/gen/kfrm/api/common/common';

/**
 * An account number as the demo prints it: the bank prefix and the last four digits kept, the
 * digits between hidden, dashes kept (3333-04718263590 → 3333-*******3590).
 */
export function maskAccountNumber(accountNumber: string): string {
  const digits = [...accountNumber].filter((c) => c >= '0' && c <= '9').length;
  let seen = 0;
  return [...accountNumber]
    .map((c) => {
      if (c < '0' || c > '9') return c;
      seen++;
      return seen <= 4 || seen > digits - 4 ? c : '*';
    })
    .join('');
}

/** 1200000 → "1,200,000" (bigint, no floats). */
export function groupDigits(value: bigint): string {
  const negative = value < 0n;
  const text = (negative ? -value : value).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return negative ? `-${text}` : text;
}

/** A MonetaryValue in words: "1,200,000 KRW", "12.34 USD". */
export function formatMoney(value: MonetaryValue | undefined): string {
  if (!value) return '(no amount)';
  const currency = CurrencyCode[value.currencyCode] ?? String(value.currencyCode);
  if (value.currencyCode === CurrencyCode.KRW) return `${groupDigits(value.majorAmount)} ${currency}`;
  return `${groupDigits(value.majorAmount)}.${value.minorAmount.toString().padStart(2, '0')} ${currency}`;
}

export const krw = (majorAmount: bigint): MonetaryValue => ({ currencyCode: CurrencyCode.KRW, majorAmount, minorAmount: 0n });

/** Milliseconds as the step lines show them: "85 ms", "1.42 s". */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
