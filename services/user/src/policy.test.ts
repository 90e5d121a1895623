import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@kfrm/errors';
import {
  evaluateCondition,
  InvalidPolicyError,
  parseCondition,
  parseRequiredAuthentications,
  parseTransactionContext,
  selectPolicy,
} from './policy';

const amountAtLeast = (value: number | string) => ({ path: 'amount.major_amount', op: '>=', value });

describe('evaluateCondition', () => {
  const cases: Array<[string, unknown, unknown, boolean]> = [
    ['null condition always holds', null, {}, true],
    ['>= on a number', amountAtLeast(1_000_000), { amount: { major_amount: 1_000_000 } }, true],
    ['>= just below', amountAtLeast(1_000_000), { amount: { major_amount: 999_999 } }, false],
    ['>= on a decimal string (proto JSON int64)', amountAtLeast(1_000_000), { amount: { major_amount: '1000000' } }, true],
    ['>= beyond 2^53 as a string stays exact', amountAtLeast('9007199254740993'), { amount: { major_amount: '9007199254740992' } }, false],
    [
      '>= beyond 2^53 as a string stays exact (equal)',
      amountAtLeast('9007199254740993'),
      { amount: { major_amount: '9007199254740993' } },
      true,
    ],
    ['a float is not an integer', amountAtLeast(1), { amount: { major_amount: 1.5 } }, false],
    ['an unsafe JSON number is not an integer', amountAtLeast(1), { amount: { major_amount: 2 ** 60 } }, false],
    ['a non-numeric string is not an integer', amountAtLeast(1), { amount: { major_amount: '12a' } }, false],
    ['a missing path is false', amountAtLeast(0), {}, false],
    ['null is missing', amountAtLeast(0), { amount: { major_amount: null } }, false],
    ['< holds', { path: 'n', op: '<', value: 5 }, { n: 4 }, true],
    ['<= holds at equality', { path: 'n', op: '<=', value: 5 }, { n: 5 }, true],
    ['> fails at equality', { path: 'n', op: '>', value: 5 }, { n: 5 }, false],
    ['== on strings', { path: 'c', op: '==', value: 'KRW' }, { c: 'KRW' }, true],
    ['== number vs decimal string', { path: 'n', op: '==', value: 7 }, { n: '7' }, true],
    ['== on booleans', { path: 'b', op: '==', value: true }, { b: true }, true],
    ['== boolean vs string', { path: 'b', op: '==', value: true }, { b: 'true' }, false],
    ['!= holds for another value', { path: 'c', op: '!=', value: 'KRW' }, { c: 'USD' }, true],
    ['!= is false on a missing path', { path: 'c', op: '!=', value: 'KRW' }, {}, false],
    ['!= is false on an object', { path: 'c', op: '!=', value: 'KRW' }, { c: { x: 1 } }, false],
    ['in', { path: 'c', op: 'in', value: ['KRW', 'USD'] }, { c: 'USD' }, true],
    ['in, absent', { path: 'c', op: 'in', value: ['KRW'] }, { c: 'THB' }, false],
    ['exists', { path: 'a.b', op: 'exists' }, { a: { b: 0 } }, true],
    ['exists on missing', { path: 'a.b', op: 'exists' }, { a: {} }, false],
    ['array index', { path: 'xs.1', op: '==', value: 'b' }, { xs: ['a', 'b'] }, true],
    ['inherited properties are not looked up', { path: 'constructor', op: 'exists' }, {}, false],
    ['__proto__ is not looked up', { path: '__proto__', op: 'exists' }, {}, false],
    [
      'all, both hold',
      { all: [amountAtLeast(0), { path: 'amount.major_amount', op: '<', value: 10 }] },
      { amount: { major_amount: 3 } },
      true,
    ],
    [
      'all, one fails',
      { all: [amountAtLeast(0), { path: 'amount.major_amount', op: '<', value: 10 }] },
      { amount: { major_amount: 30 } },
      false,
    ],
    ['all of nothing holds', { all: [] }, {}, true],
    [
      'any, one holds',
      {
        any: [
          { path: 'a', op: '==', value: 1 },
          { path: 'b', op: '==', value: 2 },
        ],
      },
      { b: 2 },
      true,
    ],
    ['any of nothing fails', { any: [] }, {}, false],
    ['not', { not: { path: 'a', op: 'exists' } }, {}, true],
  ];
  it.each(cases)('%s', (_name, raw, context, expected) => {
    expect(evaluateCondition(parseCondition(raw), context)).toBe(expected);
  });
});

describe('parseCondition refuses malformed conditions', () => {
  const bad: Array<[string, unknown]> = [
    ['not an object', 'amount > 5'],
    ['unknown op', { path: 'a', op: '=~', value: 'x' }],
    ['unknown key', { path: 'a', op: '==', value: 1, extra: true }],
    ['bad path segment', { path: 'a..b', op: 'exists' }],
    ['path with spaces', { path: 'a b', op: 'exists' }],
    ['ordering with a non-integer', { path: 'a', op: '<', value: 'x' }],
    ['ordering with a float', { path: 'a', op: '<', value: 1.5 }],
    ['in without a list', { path: 'a', op: 'in', value: 'x' }],
    ['exists with a value', { path: 'a', op: 'exists', value: 1 }],
    ['object value', { path: 'a', op: '==', value: { x: 1 } }],
    ['all without a list', { all: {} }],
    ['too deep', [...Array(10).keys()].reduce<unknown>((c) => ({ not: c }), { path: 'a', op: 'exists' })],
    ['too many nodes', { all: Array.from({ length: 70 }, () => ({ path: 'a', op: 'exists' })) }],
  ];
  it.each(bad)('%s', (_name, raw) => {
    expect(() => parseCondition(raw)).toThrow(InvalidPolicyError);
  });
});

describe('parseRequiredAuthentications', () => {
  it('reads types and fallbacks, NONE by default', () => {
    expect(parseRequiredAuthentications([{ type: 'PIN' }, { type: 'BIO', fallback: 'PATTERN' }])).toEqual([
      { type: 'PIN', fallback: 'NONE' },
      { type: 'BIO', fallback: 'PATTERN' },
    ]);
    expect(parseRequiredAuthentications([])).toEqual([]);
  });
  it.each([
    ['NA is not a factor', [{ type: 'NA' }]],
    ['unknown type', [{ type: 'OTP' }]],
    ['fallback equal to the type', [{ type: 'PIN', fallback: 'PIN' }]],
    ['not a list', { type: 'PIN' }],
  ])('refuses %s', (_name, raw) => {
    expect(() => parseRequiredAuthentications(raw)).toThrow(InvalidPolicyError);
  });
});

describe('parseTransactionContext', () => {
  it('takes an empty string as {} and parses an object', () => {
    expect(parseTransactionContext('')).toEqual({});
    expect(parseTransactionContext('{"amount":{"major_amount":"5"}}')).toEqual({ amount: { major_amount: '5' } });
  });
  it.each([
    ['not JSON', '{amount: 5}'],
    ['an array', '[1,2]'],
    ['a number', '5'],
    ['null', 'null'],
    ['over 4 KiB', JSON.stringify({ pad: 'x'.repeat(4100) })],
    ['over 4 KiB in UTF-8 bytes though under 4096 characters', JSON.stringify({ pad: '가'.repeat(1400) })],
  ])('refuses %s with INVALID_ARGUMENT', (_name, text) => {
    expect(() => parseTransactionContext(text)).toThrow(InvalidArgumentError);
  });
});

describe('selectPolicy', () => {
  const transfer = [
    {
      id: '2',
      priority: 20,
      condition: { all: [amountAtLeast(0), { path: 'amount.major_amount', op: '<', value: 1_000_000 }] },
      authentications: [{ type: 'BIO', fallback: 'PIN' }],
    },
    { id: '1', priority: 10, condition: amountAtLeast(1_000_000), authentications: [{ type: 'PIN' }, { type: 'BIO' }] },
  ];
  it.each([
    ['1,000,000 needs PIN and BIO', { amount: { major_amount: '1000000' } }, '1'],
    ['999,999 needs BIO or PIN', { amount: { major_amount: 999_999 } }, '2'],
    ['0 needs BIO or PIN', { amount: { major_amount: 0 } }, '2'],
    ['no amount matches nothing', {}, undefined],
    ['a negative amount matches nothing', { amount: { major_amount: -1 } }, undefined],
  ])('%s', (_name, context, expected) => {
    expect(selectPolicy(transfer, context)?.id).toBe(expected);
  });

  it('fails closed on a malformed policy it reaches instead of skipping to a weaker one', () => {
    const broken = [{ id: '1', priority: 1, condition: { path: 'a', op: 'bogus' }, authentications: [] }, ...transfer];
    expect(() => selectPolicy(broken, { amount: { major_amount: 5 } })).toThrow(InvalidPolicyError);
  });
});
