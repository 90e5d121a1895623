import { describe, expect, it } from 'vitest';
import { KakaocertValidationError, LOCAL_ERROR_CODE } from './errors';
import { validRequestCMS as validRequest } from './testing/cms.fixtures';
import { isValidBirthDay, validateClientCode, validateReceiptId, validateRequestCMS } from './validate-request-cms';

const TODAY = new Date('2025-03-01T01:00:00Z');

function failure(fn: () => unknown): KakaocertValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KakaocertValidationError);
    return err as KakaocertValidationError;
  }
  throw new Error('expected a validation error');
}

describe('validateRequestCMS', () => {
  it('accepts a valid request and defaults isAppUseYN to false, keeping falsy fields', () => {
    const out = validateRequestCMS(validRequest({ TMSMessage: '', PayLoad: '' }), TODAY);
    expect(out.isAppUseYN).toBe(false);
    expect(out.isAllowSimpleRegistYN).toBe(false);
    expect(out.TMSMessage).toBe('');
    expect(JSON.parse(JSON.stringify(out))).toMatchObject({ isAllowSimpleRegistYN: false, TMSMessage: '', PayLoad: '' });
  });

  it.each([
    'CallCenterNum',
    'Expires_in',
    'ReceiverBirthDay',
    'ReceiverHP',
    'ReceiverName',
    'BankAccountNum',
    'BankCode',
    'ClientUserID',
    'TMSTitle',
    'isAllowSimpleRegistYN',
    'isVerifyNameYN',
  ] as const)('requires %s', (field) => {
    const request = validRequest() as unknown as Record<string, unknown>;
    delete request[field];
    const err = failure(() => validateRequestCMS(request, TODAY));
    expect(err.field).toBe(field);
    expect(err.code).toBe(LOCAL_ERROR_CODE);
  });

  it('rejects blank required strings', () => {
    expect(failure(() => validateRequestCMS(validRequest({ ReceiverName: '  ' }), TODAY)).field).toBe('ReceiverName');
  });

  it.each([
    ['CallCenterNum', 20],
    ['ReceiverName', 20],
    ['BankAccountName', 20],
    ['ClientUserID', 40],
    ['TMSTitle', 40],
    ['TMSMessage', 500],
    ['SubClientID', 12],
    ['PayLoad', 200],
  ] as const)('limits %s to %i characters, counting Hangul as one each', (field, max) => {
    expect(() => validateRequestCMS(validRequest({ [field]: '가'.repeat(max) }), TODAY)).not.toThrow();
    expect(failure(() => validateRequestCMS(validRequest({ [field]: '가'.repeat(max + 1) }), TODAY)).field).toBe(field);
  });

  it('limits BankAccountNum to 31 and allows masking characters', () => {
    expect(() => validateRequestCMS(validRequest({ BankAccountNum: '371-02-6***85' }), TODAY)).not.toThrow();
    expect(failure(() => validateRequestCMS(validRequest({ BankAccountNum: '1'.repeat(32) }), TODAY)).field).toBe('BankAccountNum');
    expect(failure(() => validateRequestCMS(validRequest({ BankAccountNum: '1234 5678' }), TODAY)).field).toBe('BankAccountNum');
  });

  it.each([0, -1, 1001, 1.5, '300'])('rejects Expires_in %s', (value) => {
    expect(failure(() => validateRequestCMS(validRequest({ Expires_in: value }), TODAY)).field).toBe('Expires_in');
  });

  it('accepts Expires_in 1 and 1000', () => {
    expect(() => validateRequestCMS(validRequest({ Expires_in: 1 }), TODAY)).not.toThrow();
    expect(() => validateRequestCMS(validRequest({ Expires_in: 1000 }), TODAY)).not.toThrow();
  });

  it.each(['010-1234-5678', '0101234567a', '010123456', '010123456789'])('rejects ReceiverHP %s', (value) => {
    expect(failure(() => validateRequestCMS(validRequest({ ReceiverHP: value }), TODAY)).field).toBe('ReceiverHP');
  });

  it.each(['1980-01-01', '19801301', '19800230', '19810229', '18991231', '20250302', '1980011'])('rejects ReceiverBirthDay %s', (value) => {
    expect(failure(() => validateRequestCMS(validRequest({ ReceiverBirthDay: value }), TODAY)).field).toBe('ReceiverBirthDay');
  });

  it('accepts a leap day and a birthday that is today in Seoul', () => {
    expect(isValidBirthDay('20000229', TODAY)).toBe(true);
    // 2025-02-28T16:00Z is already 2025-03-01 in KST.
    expect(isValidBirthDay('20250301', new Date('2025-02-28T16:00:00Z'))).toBe(true);
    expect(isValidBirthDay('20250301', new Date('2025-02-28T14:00:00Z'))).toBe(false);
  });

  it('rejects wrong types, unknown keys and control characters', () => {
    expect(failure(() => validateRequestCMS(validRequest({ isVerifyNameYN: 'false' }), TODAY)).field).toBe('isVerifyNameYN');
    expect(failure(() => validateRequestCMS(validRequest({ ReceiverHP: 1012345678 }), TODAY)).field).toBe('ReceiverHP');
    expect(failure(() => validateRequestCMS({ ...validRequest(), receiverHP: '01012345678' }, TODAY)).field).toBe('receiverHP');
    expect(failure(() => validateRequestCMS(validRequest({ TMSTitle: 'a\u0000b' }), TODAY)).field).toBe('TMSTitle');
    expect(failure(() => validateRequestCMS(null, TODAY)).field).toBe('RequestCMS');
  });

  it('never puts the rejected value in the message', () => {
    const err = failure(() => validateRequestCMS(validRequest({ ReceiverHP: '010-9876-5432' }), TODAY));
    expect(err.message).not.toContain('9876');
  });
});

describe('client code and receipt id', () => {
  it('checks lengths and characters', () => {
    expect(() => validateClientCode('020040000001')).not.toThrow();
    expect(failure(() => validateClientCode('')).field).toBe('clientCode');
    expect(failure(() => validateClientCode('0200400000011')).field).toBe('clientCode');
    expect(() => validateReceiptId('02503010000000000001')).not.toThrow();
    expect(failure(() => validateReceiptId('025030100000000000012')).field).toBe('receiptId');
    expect(failure(() => validateReceiptId('../Verify/1')).field).toBe('receiptId');
    expect(failure(() => validateReceiptId('')).field).toBe('receiptId');
  });
});
