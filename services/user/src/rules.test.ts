import { describe, expect, it } from 'vitest';
import { residentIdBirthDate } from './resident-id';
import { stepFor } from './processes';
import type { StoredAuthentication, UserStatusName } from './user.table';
import { isAllowedTransition } from './user-status';

const NOW = new Date('2026-11-24T00:00:00Z');

describe('resident id', () => {
  it.each([
    ['900115-1234567', '1990-01-15'],
    ['000229-3234567', '2000-02-29'],
    ['051231-4234567', '2005-12-31'],
    ['900115-5234567', '1990-01-15'],
    ['261124-3234567', '2026-11-24'],
  ])('%s is born %s', (id, date) => {
    expect(residentIdBirthDate(id, NOW)?.toISOString().slice(0, 10)).toBe(date);
  });

  it.each([
    ['no hyphen', '9001151234567'],
    ['short', '900115-123456'],
    ['letters', '90011A-1234567'],
    ['month 13', '901315-1234567'],
    ['day 0', '900100-1234567'],
    ['30 February', '900230-1234567'],
    ['29 February of a common year', '010229-3234567'],
    ['born tomorrow', '261125-3234567'],
    ['born in 2030', '300101-3234567'],
    ['born in 1850 (older than 130)', '500101-9234567'],
    ['full-width digits', '９００１１５-1234567'],
  ])('refuses %s', (_name, id) => {
    expect(residentIdBirthDate(id, NOW)).toBeUndefined();
  });
});

describe('user status transitions', () => {
  const S: UserStatusName[] = ['CREATED', 'AGREED', 'ACTIVATED', 'BLOCKED', 'DEACTIVATED'];
  // from → the statuses it may move to without / with the unlock flag
  const allowed: Record<UserStatusName, [UserStatusName[], UserStatusName[]]> = {
    CREATED: [
      ['AGREED', 'BLOCKED', 'DEACTIVATED'],
      ['AGREED', 'BLOCKED', 'DEACTIVATED'],
    ],
    AGREED: [
      ['ACTIVATED', 'BLOCKED', 'DEACTIVATED'],
      ['ACTIVATED', 'BLOCKED', 'DEACTIVATED'],
    ],
    ACTIVATED: [
      ['BLOCKED', 'DEACTIVATED'],
      ['BLOCKED', 'DEACTIVATED'],
    ],
    BLOCKED: [
      ['BLOCKED', 'DEACTIVATED'],
      ['ACTIVATED', 'BLOCKED', 'DEACTIVATED'],
    ],
    DEACTIVATED: [[], []],
  };
  for (const from of S) {
    for (const unlock of [false, true]) {
      it(`${from}${unlock ? ' (unlock)' : ''} → ${allowed[from][unlock ? 1 : 0].join(', ') || 'nothing'}`, () => {
        expect(S.filter((to) => isAllowedTransition(from, to, unlock))).toEqual(allowed[from][unlock ? 1 : 0]);
      });
    }
  }
});

describe('which step a factor completes', () => {
  const ready = (type: StoredAuthentication['type'], fallback: StoredAuthentication['fallback']): StoredAuthentication => ({
    type,
    fallback,
    status: 'READY',
  });
  it('prefers a step of that type over one where it is the fallback', () => {
    expect(stepFor([ready('BIO', 'PIN'), ready('PIN', 'NONE')], 'PIN')).toBe(1);
  });
  it('uses the fallback when no step has the type', () => {
    expect(stepFor([ready('BIO', 'PIN')], 'PIN')).toBe(0);
  });
  it('skips done steps and refuses an unrelated factor', () => {
    expect(stepFor([{ ...ready('PIN', 'NONE'), status: 'DONE' }, ready('BIO', 'NONE')], 'PIN')).toBe(-1);
    expect(stepFor([ready('PIN', 'NONE')], 'PATTERN')).toBe(-1);
  });
});
