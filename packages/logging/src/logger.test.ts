import { describe, expect, it } from 'vitest';
import { createCapturingDestination, createLogger } from './logger';
import { maskAccountNumber, maskName, maskPhone } from './redact';

describe('createLogger', () => {
  it('writes JSON with service, level and message', () => {
    const dest = createCapturingDestination();
    createLogger({ service: 'test', destination: dest }).info({ request_id: 'r1' }, 'hello');
    const line = JSON.parse(dest.lines[0]!);
    expect(line).toMatchObject({ service: 'test', level: 'info', msg: 'hello', request_id: 'r1' });
  });

  it('never writes secrets at any depth, also inside errors', () => {
    const dest = createCapturingDestination();
    const log = createLogger({ service: 'test', destination: dest });
    const secrets = [
      '123456',
      'tok-abc',
      'refresh-xyz',
      'pw-1',
      '900101-1234567',
      'PRIVATEKEYDATA',
      'MIIBsig',
      'SEALED-RRN-1',
      'SEALED-RRN-2',
      '900101-7654321',
    ];
    const err = Object.assign(new Error('boom'), { request: { pin: secrets[0] } });
    log.error(
      {
        err,
        request: {
          pin: { message: secrets[0] },
          user_token: secrets[1],
          nested: { refreshToken: secrets[2], password: secrets[3], residentId: secrets[4] },
          keys: [{ privateKey: secrets[5] }],
          signed_data: secrets[6],
          row: { resident_id_sealed: secrets[7], residentIdSealed: secrets[8], residentIdUnsealed: secrets[9] },
        },
      },
      'failed',
    );
    const text = dest.text();
    for (const s of secrets) expect(text).not.toContain(s);
    expect(text).toContain('[REDACTED]');
    expect(text).toContain('boom');
  });

  it("writes an error's class name as its type, once and readable, also when the class sets `name` as a field", () => {
    class UpstreamUnavailableError extends Error {
      override name = 'UpstreamUnavailableError';
    }
    const dest = createCapturingDestination();
    createLogger({ service: 'test', destination: dest }).warn(
      { err: new UpstreamUnavailableError('down', { cause: Object.assign(new TypeError('inner'), { name: 'TypeError' }) }) },
      'failed',
    );
    const line = JSON.parse(dest.lines[0]!);
    expect(line.err.type).toBe('UpstreamUnavailableError');
    expect(line.err).not.toHaveProperty('name');
    expect(line.err.cause.type).toBe('TypeError');
    expect(line.err.cause).not.toHaveProperty('name');
    // A person's name elsewhere in the record is still masked.
    expect(dest.text()).not.toContain('"name":"U');
  });

  it('masks account numbers, names and phones', () => {
    const dest = createCapturingDestination();
    createLogger({ service: 'test', destination: dest }).info(
      { account_number: '1002003004005', target: { accountNumber: '3333012345678' }, name: '홍길동', phone_number: '01012345678' },
      'masked',
    );
    const line = JSON.parse(dest.lines[0]!);
    expect(line.account_number).toBe('*********4005');
    expect(line.target.accountNumber).toBe('*********5678');
    expect(line.name).toBe('홍*동');
    expect(line.phone_number).toBe('010-****-5678');
    expect(dest.text()).not.toContain('1002003004005');
  });
});

describe('masks', () => {
  it('mask short and long values', () => {
    expect(maskAccountNumber('12')).toBe('****');
    expect(maskName('Kim')).toBe('K*m');
    expect(maskName('이')).toBe('*');
    expect(maskPhone('010-1234-5678')).toBe('010-****-5678');
  });
});
