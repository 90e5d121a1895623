import { describe, expect, it } from 'vitest';
import { errorForResultCode, KonaplateAuthError, KonaplateError, KonaplateProtocolError, KonaplateUnknownCodeError } from './errors';
import { RESULT_CODES } from './result-codes';

describe('result code → error', () => {
  const failures = Object.entries(RESULT_CODES).filter(([, info]) => info.kind !== 'success');

  it.each(failures)('%s becomes an error of its kind with our own message', (code, info) => {
    const err = errorForResultCode(code, { httpStatus: info.httpStatus, serverDescription: 'server text' });
    expect(err).toBeInstanceOf(KonaplateError);
    expect(err.code).toBe(code);
    expect(err.kind).toBe(info.kind);
    expect(err.message).not.toContain('server text');
    expect(err.name).toMatch(/^Konaplate\w+Error$/);
    expect(Object.keys(err)).not.toContain('name');
  });

  it('any 401/403 is an authentication failure, whatever the code', () => {
    expect(errorForResultCode('123_456', { httpStatus: 403 })).toBeInstanceOf(KonaplateAuthError);
  });

  it('success on a failure status is a protocol error; unknown codes stay visible', () => {
    expect(errorForResultCode('000_000', { httpStatus: 400 })).toBeInstanceOf(KonaplateProtocolError);
    const unknown = errorForResultCode('004_001', { httpStatus: 400 });
    expect(unknown).toBeInstanceOf(KonaplateUnknownCodeError);
    expect(unknown.message).toContain('004_001');
  });
});
