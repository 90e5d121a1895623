// define-service's compile-time check of `raises` against the method's ApiError enum. The
// `@ts-expect-error` lines are the test: `pnpm typecheck` fails when one of them compiles.
import { describe, expect, it } from 'vitest';
import { DomainError, failWith } from '@kfrm/errors';
import { GetKeyApiError, GetKeyApiError_ErrorCode, KeyServiceService } from '@kfrm/proto/gen/kfrm/api/key/key';
import { apiErrorType } from './api-error-type';
import { defineService, raises } from './define-service';

type GetKeyCode = 'PROVIDER_NOT_FOUND' | 'E2E_KEY_SESSION_EXPIRED';
const getKeyErrors = apiErrorType(GetKeyApiError, GetKeyApiError_ErrorCode);
const handlers = {};
const listKeys = { access: 'public' } as const;

describe('defineService', () => {
  it("accepts codes from the method's enum and CommonApiError", () => {
    const service = defineService(KeyServiceService, handlers, {
      listKeys,
      getKey: { access: 'public', errors: getKeyErrors, raises: raises<GetKeyCode>() },
    });
    expect(service.name).toBe('kfrm.api.key.KeyService');
    defineService(KeyServiceService, handlers, { listKeys, getKey: { access: 'public', raises: raises<'UNAUTHENTICATED_USER'>() } });
    defineService(KeyServiceService, handlers, { listKeys, getKey: { access: 'public', raises: raises() } });
  });

  it('rejects a code the method does not declare, at compile time', () => {
    defineService(KeyServiceService, handlers, {
      listKeys,
      // @ts-expect-error ACCOUNT_NOT_FOUND is not GetKey's: it would reach the client as INTERNAL.
      getKey: { access: 'public', errors: getKeyErrors, raises: raises<GetKeyCode | 'ACCOUNT_NOT_FOUND'>() },
    });
    // @ts-expect-error a method without an ApiError answers CommonApiError codes only.
    defineService(KeyServiceService, handlers, { listKeys, getKey: { access: 'public', raises: raises<'PROVIDER_NOT_FOUND'>() } });
  });

  it('types DomainError codes by the contract', () => {
    // @ts-expect-error not a seed code
    expect(new DomainError('NO_SUCH_CODE').code).toBe('NO_SUCH_CODE');
    const fail = failWith<GetKeyCode>();
    // @ts-expect-error a seed code, but not one this use case declares
    expect(fail('ACCOUNT_NOT_FOUND').code).toBe('ACCOUNT_NOT_FOUND');
    expect(fail('PROVIDER_NOT_FOUND', 'unknown provider')).toBeInstanceOf(DomainError);
  });
});
