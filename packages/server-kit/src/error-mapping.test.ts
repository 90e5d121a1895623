import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ConcurrentUpdateError, DependencyUnavailableError, DomainError, InvalidArgumentError, RateLimitedError } from '@kfrm/errors';
import { GetKeyApiError, GetKeyApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/key/key';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import { apiErrorType } from './api-error-type';
import { apiErrorCode, decodeStatusDetails } from './error-details';
import { mapError } from './error-mapping';
import { ERROR_STATUS } from './error-status-table';

const getKeyErrors = apiErrorType(GetKeyApiError, GetKeyApiError_ErrorCode);

function listGenerated(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listGenerated(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('ERROR_STATUS', () => {
  it('has a row for every code of every ApiError enum in the contract', async () => {
    const genDir = join(import.meta.dirname, '../../proto/src/gen/kfrm');
    const missing: string[] = [];
    let enums = 0;
    for (const file of listGenerated(genDir)) {
      const mod = (await import(file)) as Record<string, unknown>;
      for (const [name, value] of Object.entries(mod)) {
        if (!name.endsWith('ApiError_ErrorCode') || typeof value !== 'object' || value === null) continue;
        enums++;
        for (const code of Object.keys(value)) {
          if (/^-?\d+$/.test(code) || code === 'UNRECOGNIZED') continue;
          if (ERROR_STATUS[code] === undefined) missing.push(`${name}.${code}`);
        }
      }
    }
    expect(enums).toBeGreaterThan(30);
    expect(missing).toEqual([]);
  });
});

describe('mapError', () => {
  it("puts the method's seed code into google.rpc.Status details", () => {
    const { error, unexpected } = mapError(new DomainError('PROVIDER_NOT_FOUND', 'unknown provider'), getKeyErrors);
    expect(unexpected).toBe(false);
    expect(error.code).toBe(status.NOT_FOUND);
    expect(error.details).toBe('unknown provider');
    expect(apiErrorCode(error, GetKeyApiError)).toBe(GetKeyApiError_ErrorCode.PROVIDER_NOT_FOUND);
    expect(decodeStatusDetails(error)?.details[0]?.typeName).toBe('kfrm.api.key.GetKeyApiError');
  });

  it('uses CommonApiError for cross-cutting codes', () => {
    const { error } = mapError(new DomainError('E2E_DECRYPTION_FAILED'), getKeyErrors);
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(apiErrorCode(error, CommonApiError)).toBe(CommonApiError_ErrorCode.E2E_DECRYPTION_FAILED);
    expect(apiErrorCode(error, GetKeyApiError)).toBeUndefined();
  });

  it('turns a code the method does not declare into INTERNAL without leaking it', () => {
    const { error, unexpected } = mapError(new DomainError('INSUFFICIENT_BALANCE', 'balance 12 < 30'), getKeyErrors);
    expect(unexpected).toBe(true);
    expect(error.code).toBe(status.INTERNAL);
    expect(error.details).toBe('internal error');
  });

  it('hides unknown errors behind a generic INTERNAL', () => {
    const { error, unexpected } = mapError(new Error('password=hunter2 at db.ts:12'), getKeyErrors);
    expect(unexpected).toBe(true);
    expect(error.code).toBe(status.INTERNAL);
    expect(error.details).toBe('internal error');
    expect(JSON.stringify(decodeStatusDetails(error))).not.toContain('hunter2');
    expect(apiErrorCode(error, CommonApiError)).toBe(CommonApiError_ErrorCode.UNKNOWN_ERROR);
  });

  it('maps infrastructure errors by base class: an outage is UNAVAILABLE, conflicts ABORTED', () => {
    class StoreDown extends DependencyUnavailableError {}
    const down = new StoreDown('connect ECONNREFUSED');
    expect(mapError(down, undefined).error.code).toBe(status.UNAVAILABLE);
    // The name no longer decides: an error that only borrows an outage's name is a bug (INTERNAL).
    expect(mapError(Object.assign(new Error('x'), { name: 'StoreUnavailableError' }), undefined).error.code).toBe(status.INTERNAL);
    const conflict = new (class extends ConcurrentUpdateError {})('40001');
    expect(mapError(conflict, undefined).error.code).toBe(status.ABORTED);
    // An outage is logged as a failure; contention and throttling are expected rejections.
    expect(mapError(down, undefined).unexpected).toBe(true);
    expect(mapError(conflict, undefined).unexpected).toBe(false);
    const throttled = new (class DeviceThrottled extends RateLimitedError {})('rate limit');
    expect(mapError(throttled, undefined)).toMatchObject({ error: { code: status.RESOURCE_EXHAUSTED }, unexpected: false });
  });

  it('maps bad input without a seed code to INVALID_ARGUMENT', () => {
    expect(mapError(new InvalidArgumentError('page_size must be <= 100'), undefined).error.code).toBe(status.INVALID_ARGUMENT);
  });
});

describe('mapError: database data exceptions', () => {
  const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'ERROR' });

  it('answers INVALID_ARGUMENT for SQLSTATE class 22 (a request value the database cannot hold), also wrapped', () => {
    for (const err of [
      pgError('22003', 'value "18446744073709551615" is out of range for type bigint'),
      new Error('wrapped', { cause: pgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00') }),
    ]) {
      const mapped = mapError(err, undefined);
      expect(mapped.error.code).toBe(status.INVALID_ARGUMENT);
      expect(mapped.error.details).not.toContain('bigint');
      expect(mapped.unexpected).toBe(false);
    }
  });

  it('keeps other database errors INTERNAL', () => {
    expect(mapError(pgError('23505', 'duplicate key'), undefined).error.code).toBe(status.INTERNAL);
    expect(mapError(Object.assign(new Error('x'), { code: '22003' }), undefined).error.code).toBe(status.INTERNAL); // no severity: not a database error
  });
});
