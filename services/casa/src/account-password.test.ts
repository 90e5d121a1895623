import { describe, expect, it } from 'vitest';
import { birthDateFromResidentId, evaluateAccountPassword } from './account-password';

describe('account password rules', () => {
  it('accepts exactly four ASCII digits only', () => {
    for (const bad of ['', '123', '12345', '12a4', ' 2468', '2468 ', '１３５７', '-135', '13.5', '٣٥٧٩']) {
      expect(evaluateAccountPassword(bad)).toEqual({ result: 'INVALID_ACCOUNT_PASSWORD' });
    }
    expect(evaluateAccountPassword(undefined as unknown as string)).toEqual({ result: 'INVALID_ACCOUNT_PASSWORD' });
    expect(evaluateAccountPassword('2580')).toEqual({ result: 'ok' });
    expect(evaluateAccountPassword('0392')).toEqual({ result: 'ok' });
  });

  it.each([
    ['1111', 'repeated-digit'],
    ['1110', 'repeated-digit'],
    ['0300', 'repeated-digit'],
    ['1234', 'sequence'],
    ['4321', 'sequence'],
    ['7890', 'sequence'],
    ['2109', 'sequence'],
    ['1212', 'repeated-pair'],
    ['9090', 'repeated-pair'],
    ['1221', 'repeated-pair'],
    ['7007', 'repeated-pair'],
  ] as const)('%s is weak (%s)', (password, rule) => {
    expect(evaluateAccountPassword(password)).toEqual({ result: 'WEAK_ACCOUNT_PASSWORD', rule });
  });

  it('refuses the birth date and the phone number when they are known', () => {
    const context = { birthDate: { year: 1990, month: 3, day: 15 }, phoneNumber: '010-1234-5678' };
    for (const p of ['0315', '1503', '9003', '1990']) {
      expect(evaluateAccountPassword(p, context)).toEqual({ result: 'WEAK_ACCOUNT_PASSWORD', rule: 'birth-date' });
      expect(evaluateAccountPassword(p).result).toBe('ok');
    }
    const phone = { phoneNumber: '+82 10 3816 2957' };
    expect(evaluateAccountPassword('2957', phone)).toEqual({ result: 'WEAK_ACCOUNT_PASSWORD', rule: 'phone-number' });
    expect(evaluateAccountPassword('3816', phone)).toEqual({ result: 'WEAK_ACCOUNT_PASSWORD', rule: 'phone-number' });
    expect(evaluateAccountPassword('2957').result).toBe('ok');
    expect(evaluateAccountPassword('2958', phone).result).toBe('ok');
  });

  it('rejects a small share of all values without context', () => {
    let weak = 0;
    for (let i = 0; i < 10_000; i++) if (evaluateAccountPassword(String(i).padStart(4, '0')).result !== 'ok') weak++;
    expect(weak / 10_000).toBeLessThan(0.06);
    expect(weak).toBeGreaterThan(0);
  });

  it('reads the birth date from a resident registration number', () => {
    expect(birthDateFromResidentId('900315-1234567')).toEqual({ year: 1990, month: 3, day: 15 });
    expect(birthDateFromResidentId('0502283234567')).toEqual({ year: 2005, month: 2, day: 28 });
    expect(birthDateFromResidentId('050229-3234567')).toBeUndefined();
    expect(birthDateFromResidentId('not an id')).toBeUndefined();
  });
});
