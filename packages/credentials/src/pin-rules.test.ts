import { describe, expect, it } from 'vitest';
import { checkPin, COMMON_PINS, evaluatePin, type PinContext, type PinWeakness } from './pin-rules';

describe('checkPin: INVALID_USER_PIN', () => {
  it.each([
    ['', 'empty'],
    ['12345', 'five digits'],
    ['1234567', 'seven digits'],
    ['12a456', 'a letter'],
    [' 123456', 'leading space'],
    ['123456\n', 'trailing newline'],
    ['-12345', 'a sign'],
    ['１２３４５６', 'full-width digits'],
    ['١٢٣٤٥٦', 'Arabic-Indic digits'],
    ['12 456', 'inner space'],
  ])('%j (%s)', (pin) => {
    expect(checkPin(pin)).toBe('INVALID_USER_PIN');
  });

  it('non-strings are invalid, not a crash', () => {
    expect(checkPin(123456 as unknown as string)).toBe('INVALID_USER_PIN');
    expect(checkPin(undefined as unknown as string)).toBe('INVALID_USER_PIN');
  });
});

const birthDate = { year: 1990, month: 1, day: 15 };
const phoneNumber = '010-2468-1357';

const weakTable: Array<[PinWeakness, string[], PinContext?]> = [
  ['repeated-digit', ['111111', '000000', '999999', '101011', '900090', '111234', '290007', '345666']],
  ['progression', ['123456', '987654', '890123', '321098', '012345', '135791', '024680', '864208', '963074']],
  ['sequence-run', ['123490', '556789', '901274', '843210', '385678', '067890']],
  ['repeated-block', ['121212', '909090', '123123', '520520', '168168', '835835']],
  ['mirrored', ['123321', '583385', '112233', '557799', '998877']],
  ['birth-date', ['900115', '150190', '011590', '770115', '011577', '150177', '151990', '199047', '281990'], { birthDate }],
  ['phone-number', ['681357', '921357', '135792', '246892', '924683'], { phoneNumber }],
  ['common-pin', ['147258', '258369', '159753', '789456', '520131', '201314', '314159']],
];

describe('checkPin: WEAK_USER_PIN, by rule', () => {
  for (const [rule, pins, context] of weakTable) {
    it.each(pins)(`${rule}: %s`, (pin) => {
      expect(evaluatePin(pin, context)).toEqual({ result: 'WEAK_USER_PIN', rule });
      expect(checkPin(pin, context)).toBe('WEAK_USER_PIN');
    });
  }

  it('the birth-date and phone rules apply only when that context is given', () => {
    expect(checkPin('150190')).toBe('ok');
    expect(checkPin('150190', { phoneNumber })).toBe('ok');
    expect(checkPin('681357')).toBe('ok');
    expect(checkPin('681357', { birthDate })).toBe('ok');
  });

  it('phone numbers count by their digits only, whatever the format', () => {
    for (const format of ['01024681357', '+82 10-2468-1357', '+82 (10) 2468 1357']) {
      expect(evaluatePin('681357', { phoneNumber: format })).toEqual({ result: 'WEAK_USER_PIN', rule: 'phone-number' });
    }
  });

  it('every deny-list entry is a well-formed PIN that no structural rule already covers', () => {
    for (const pin of COMMON_PINS) expect(evaluatePin(pin)).toEqual({ result: 'WEAK_USER_PIN', rule: 'common-pin' });
  });
});

describe('checkPin: ok', () => {
  it.each(['385170', '204968', '739215', '481903', '062517', '917304'])('%s is accepted', (pin) => {
    expect(checkPin(pin, { birthDate, phoneNumber })).toBe('ok');
  });

  it('the rules reject a small share of all PINs (they must not shrink the space much)', () => {
    const counts = { ok: 0, WEAK_USER_PIN: 0, INVALID_USER_PIN: 0 };
    for (let i = 0; i < 1_000_000; i++) counts[checkPin(String(i).padStart(6, '0'))]++;
    const weak = counts.WEAK_USER_PIN;
    expect(counts.INVALID_USER_PIN).toBe(0);
    expect(weak).toBeGreaterThan(40_000);
    expect(weak).toBeLessThan(60_000);
  });
});
