import { DomainError } from '@kfrm/errors';
import { describe, expect, it } from 'vitest';
import { isCustomerAccountNumber, newAccountNumber } from './account-number';
import { parseAmount } from './deposit-cli';
import { fromMinor, INT64_MAX, toMinor } from './money';

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (err) {
    return err instanceof DomainError ? err.code : String(err);
  }
}

describe('money', () => {
  it('maps KRW without a minor unit and USD/THB with two decimals, exactly', () => {
    expect(toMinor({ currency: 'KRW', major: 5_000n, minor: 0n })).toEqual({ currency: 'KRW', minor: 5_000n });
    expect(toMinor({ currency: 'USD', major: 12n, minor: 34n })).toEqual({ currency: 'USD', minor: 1_234n });
    expect(toMinor({ currency: 'THB', major: 0n, minor: 1n })).toEqual({ currency: 'THB', minor: 1n });
    // Beyond 2^53 stays exact: bigint all the way.
    expect(toMinor({ currency: 'KRW', major: 2n ** 53n + 1n, minor: 0n }).minor).toBe(9_007_199_254_740_993n);
    expect(fromMinor({ currency: 'USD', minor: 1_234n })).toEqual({ currency: 'USD', major: 12n, minor: 34n });
    expect(fromMinor({ currency: 'KRW', minor: 7n })).toEqual({ currency: 'KRW', major: 7n, minor: 0n });
    expect(toMinor({ currency: 'USD', major: INT64_MAX / 100n, minor: INT64_MAX % 100n }).minor).toBe(INT64_MAX);
  });

  it('refuses zero, negative, fractional and beyond-int64 amounts with INVALID_AMOUNT', () => {
    const cases = [
      { currency: 'KRW', major: 0n, minor: 0n },
      { currency: 'KRW', major: -1n, minor: 0n },
      { currency: 'USD', major: 1n, minor: -1n },
      { currency: 'KRW', major: 1n, minor: 1n },
      { currency: 'USD', major: 1n, minor: 100n },
      { currency: 'KRW', major: INT64_MAX + 1n, minor: 0n },
      { currency: 'USD', major: INT64_MAX / 100n, minor: 8n },
    ] as const;
    for (const c of cases)
      expect(
        codeOf(() => toMinor(c)),
        JSON.stringify(c, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
      ).toBe('INVALID_AMOUNT');
    expect(toMinor({ currency: 'KRW', major: 0n, minor: 0n }, { allowZero: true }).minor).toBe(0n);
  });

  it('parses operator amounts as exact decimals', () => {
    expect(parseAmount('50000', 'KRW')).toEqual({ majorAmount: 50_000n, minorAmount: 0n });
    expect(parseAmount('12.3', 'USD')).toEqual({ majorAmount: 12n, minorAmount: 30n });
    expect(() => parseAmount('1.5', 'KRW')).toThrow();
    expect(() => parseAmount('1.234', 'USD')).toThrow();
    expect(() => parseAmount('-1', 'KRW')).toThrow();
    expect(() => parseAmount('1e3', 'KRW')).toThrow();
  });
});

describe('account numbers', () => {
  it('are 3333- and eleven digits with a Luhn check digit', () => {
    for (let i = 0; i < 200; i++) {
      const n = newAccountNumber();
      expect(n).toMatch(/^3333-\d{11}$/);
      expect(isCustomerAccountNumber(n)).toBe(true);
      // Any single changed digit breaks the check digit.
      const last = Number(n.at(-1));
      expect(isCustomerAccountNumber(n.slice(0, -1) + String((last + 1) % 10))).toBe(false);
    }
    expect(isCustomerAccountNumber('0000-SETTLEMENT-KRW')).toBe(false);
    expect(isCustomerAccountNumber('3333-1234')).toBe(false);
  });
});
