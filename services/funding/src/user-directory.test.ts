import { describe, expect, it } from 'vitest';
import { DomainError } from '@kfrm/errors';
import { birthDateFromResidentId, userRecordFrom } from './user-directory';

describe('birth date from the resident id', () => {
  it('takes the century from the first digit of the second half', () => {
    expect(birthDateFromResidentId('800101-1234567')).toBe('19800101');
    expect(birthDateFromResidentId('920315-2234567')).toBe('19920315');
    expect(birthDateFromResidentId('010709-3234567')).toBe('20010709');
    expect(birthDateFromResidentId('050228-4234567')).toBe('20050228');
    expect(birthDateFromResidentId('800101-5234567')).toBe('19800101'); // foreign resident, 1900s
    expect(birthDateFromResidentId('100101-7234567')).toBe('20100101'); // foreign resident, 2000s
    expect(birthDateFromResidentId('991231-9234567')).toBe('18991231');
    expect(birthDateFromResidentId('8001011234567')).toBe('19800101');
  });

  it('refuses malformed ids and impossible dates', () => {
    for (const id of ['', '800101', '800101-123456', '800132-1234567', '010229-3234567', 'abcdef-1234567', '800101-12345678']) {
      expect(birthDateFromResidentId(id)).toBeUndefined();
    }
    expect(birthDateFromResidentId('000229-3234567')).toBe('20000229');
  });
});

describe('user record', () => {
  it('keeps the digits of the phone number and the birth date, never the resident id', () => {
    const record = userRecordFrom({ userId: '7', userName: ' 홍길동 ', phoneNumber: '010-1234-5678', residentId: '800101-1234567' });
    expect(record).toEqual({ userId: '7', name: '홍길동', phone: '01012345678', birthDate: '19800101' });
  });

  it('reports a record that cannot serve a real-name check as USER_PROFILE_INCOMPLETE', () => {
    const base = { userId: '7', userName: '홍길동', phoneNumber: '01012345678', residentId: '800101-1234567' };
    for (const broken of [{ userName: '' }, { residentId: '8001' }, { phoneNumber: '12' }]) {
      let error: unknown;
      try {
        userRecordFrom({ ...base, ...broken });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(DomainError);
      expect((error as DomainError).code).toBe('USER_PROFILE_INCOMPLETE');
    }
  });
});
