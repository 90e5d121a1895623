import { failWith } from '@kfrm/errors';

/** ISO 4217 codes the bank keeps accounts in. */
export type Currency = 'KRW' | 'USD' | 'THB';
export const CURRENCIES: readonly Currency[] = ['KRW', 'USD', 'THB'];

/** Minor units per major unit: KRW has none (1 won is the smallest unit), USD and THB have cents / satang. */
const MINOR_PER_MAJOR: Record<Currency, bigint> = { KRW: 1n, USD: 100n, THB: 100n };

export const INT64_MAX = 2n ** 63n - 1n;
export const INT64_MIN = -(2n ** 63n);

/** An amount as the wire carries it (MonetaryValue without protobuf types). */
export interface MajorMinor {
  currency: Currency;
  major: bigint;
  minor: bigint;
}

export interface Money {
  currency: Currency;
  /** Integer minor units (won, cents, satang). Never a float. */
  minor: bigint;
}

/** What turning a wire amount into Money raises (the methods that take an amount list it). */
export type AmountCode = 'INVALID_AMOUNT';
const invalidAmount = (message: string) => failWith<AmountCode>()('INVALID_AMOUNT', message);

/**
 * A wire amount in minor units, refused (INVALID_AMOUNT) when it is negative, has a fraction the
 * currency does not have (any minor part for KRW, 100 or more cents), or does not fit int64.
 * `allowZero` is for limits, where zero means "no limit"; amounts to move must be positive.
 */
export function toMinor(value: MajorMinor, options: { allowZero?: boolean } = {}): Money {
  const per = MINOR_PER_MAJOR[value.currency];
  if (per === undefined) throw invalidAmount('unsupported currency');
  if (value.major < 0n || value.minor < 0n) throw invalidAmount('amount must not be negative');
  if (value.minor >= per) throw invalidAmount(per === 1n ? `${value.currency} has no minor unit` : 'minor amount out of range');
  const minor = value.major * per + value.minor;
  if (minor > INT64_MAX) throw invalidAmount('amount too large');
  if (minor === 0n && !options.allowZero) throw invalidAmount('amount must be positive');
  return { currency: value.currency, minor };
}

/** Minor units back to the wire's major/minor pair (both carry the sign of a negative balance). */
export function fromMinor(money: Money): MajorMinor {
  const per = MINOR_PER_MAJOR[money.currency];
  return { currency: money.currency, major: money.minor / per, minor: money.minor % per };
}
