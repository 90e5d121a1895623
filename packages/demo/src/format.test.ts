import { describe, expect, it } from 'vitest';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { formatDuration, formatMoney, groupDigits, maskAccountNumber } from './format';

describe('format', () => {
  it('masks every account digit but the first and last four, keeping dashes', () => {
    expect(maskAccountNumber('3333-04718263590')).toBe('3333-*******3590');
    expect(maskAccountNumber('110-234-567890')).toBe('110-2**-**7890');
    expect(maskAccountNumber('12345678')).toBe('12345678');
  });

  it('groups digits of bigints without floats, beyond 2^53 too', () => {
    expect(groupDigits(0n)).toBe('0');
    expect(groupDigits(1_200_000n)).toBe('1,200,000');
    expect(groupDigits(-999n)).toBe('-999');
    expect(groupDigits(9_223_372_036_854_775_807n)).toBe('9,223,372,036,854,775,807');
  });

  it('formats KRW without and other currencies with two decimals', () => {
    expect(formatMoney({ currencyCode: CurrencyCode.KRW, majorAmount: 3_000_000n, minorAmount: 0n })).toBe('3,000,000 KRW');
    expect(formatMoney({ currencyCode: CurrencyCode.USD, majorAmount: 12n, minorAmount: 5n })).toBe('12.05 USD');
    expect(formatMoney(undefined)).toBe('(no amount)');
  });

  it('formats durations', () => {
    expect(formatDuration(85.4)).toBe('85 ms');
    expect(formatDuration(1420)).toBe('1.42 s');
  });
});
