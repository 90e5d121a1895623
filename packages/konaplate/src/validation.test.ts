import { describe, expect, it } from 'vitest';
import { validateAccountHolderVerification, validateBankAccountInquiry, type AccountHolderVerificationRequest } from './validation';

const valid: AccountHolderVerificationRequest = {
  userId: '1000000001',
  userName: '홍길동',
  birthDate: '19800101',
  bankCode: '088',
  bankAccount: '110234567890',
};

describe('holder verification request', () => {
  it('accepts a request within every documented limit, unknown well-formed bank codes included', () => {
    expect(validateAccountHolderVerification(valid)).toEqual([]);
    expect(
      validateAccountHolderVerification({ ...valid, userId: '9999999999999999999', bankCode: '999', bankAccount: '1'.repeat(20) }),
    ).toEqual([]);
    expect(validateAccountHolderVerification({ ...valid, userName: '가'.repeat(100) })).toEqual([]);
  });

  it.each([
    ['userId', { userId: '0' }],
    ['userId', { userId: '10000000000000000000' }],
    ['userId', { userId: '-1' }],
    ['userId', { userId: '01' }],
    ['userName', { userName: '' }],
    ['userName', { userName: '   ' }],
    ['userName', { userName: '가'.repeat(101) }],
    ['userName', { userName: '홍\n길동' }],
    ['birthDate', { birthDate: '800101' }],
    ['birthDate', { birthDate: '19800230' }],
    ['birthDate', { birthDate: '1980-01-01' }],
    ['bankCode', { bankCode: '88' }],
    ['bankCode', { bankCode: '08a' }],
    ['bankAccount', { bankAccount: '' }],
    ['bankAccount', { bankAccount: '1'.repeat(21) }],
    ['bankAccount', { bankAccount: '110-234-567890' }],
  ])('names %s when it breaks a rule (%j)', (field, change) => {
    const issues = validateAccountHolderVerification({ ...valid, ...change });
    expect(issues.map((issue) => issue.field)).toEqual([field]);
    // The value itself never appears in the issue.
    for (const value of Object.values(change)) if (value.trim().length > 2) expect(JSON.stringify(issues)).not.toContain(value);
  });

  it('reports every broken rule at once', () => {
    const issues = validateAccountHolderVerification({ userId: 'x', userName: '', birthDate: '', bankCode: '', bankAccount: 'x' });
    expect(issues.map((issue) => issue.field)).toEqual(['userId', 'userName', 'birthDate', 'bankCode', 'bankAccount']);
  });
});

describe('inquiry request', () => {
  it('takes a userId of 1 to 19 digits', () => {
    expect(validateBankAccountInquiry({ userId: '1' })).toEqual([]);
    expect(validateBankAccountInquiry({ userId: '9007199254740993123' })).toEqual([]);
    expect(validateBankAccountInquiry({ userId: '1.5' })).toHaveLength(1);
  });
});
