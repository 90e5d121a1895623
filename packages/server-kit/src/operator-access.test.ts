import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { DomainError, PermissionDeniedError } from '@kfrm/errors';
import { CALLER_SERVICE_HEADER, createInternalAccessGuard, type AccessRefusal, type OperatorTokenVerifier } from './operator-access';

const verify: OperatorTokenVerifier = async (token) => {
  if (token === 'good-teller-token-0123456789') return { subject: 'op-1', roles: ['teller'] };
  throw Object.assign(new Error('signature verification failed'), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
};
const md = (headers: Record<string, string>) => {
  const m = new Metadata();
  for (const [k, v] of Object.entries(headers)) m.set(k, v);
  return m;
};
const deposit = { path: '/kfrm.api.account.LedgerService/Deposit', operatorRoles: ['teller'] as const };

function setUp() {
  const refusals: AccessRefusal[] = [];
  const guard = createInternalAccessGuard({ verifyOperator: verify, onRefusal: (r) => void refusals.push(r) });
  return { guard, refusals };
}

describe('internal access guard', () => {
  it('serves methods without an operator policy as before, naming the calling service when it says', async () => {
    const { guard } = setUp();
    expect(await guard.authorize('internal', { metadata: md({}) }, { path: '/x/Y' })).toEqual({ level: 'internal' });
    expect(await guard.authorize('internal', { metadata: md({ [CALLER_SERVICE_HEADER]: 'auth' }) }, { path: '/x/Y' })).toEqual({
      level: 'internal',
      service: 'auth',
    });
    await expect(guard.authorize('session', { metadata: md({}) })).rejects.toBeInstanceOf(DomainError);
  });

  it('serves an operator method to services: in-process calls and calls naming a service', async () => {
    const { guard, refusals } = setUp();
    expect(await guard.authorize('internal', { metadata: md({}), inProcess: true }, deposit)).toEqual({
      level: 'internal',
      service: 'in-process',
    });
    expect(await guard.authorize('internal', { metadata: md({ [CALLER_SERVICE_HEADER]: 'funding' }) }, deposit)).toMatchObject({
      service: 'funding',
    });
    expect(refusals).toEqual([]);
  });

  it('refuses and reports a call with no identity, a bad token and a missing role', async () => {
    const { guard, refusals } = setUp();
    await expect(guard.authorize('internal', { metadata: md({}) }, deposit)).rejects.toMatchObject({ code: 'UNAUTHENTICATED_USER' });
    await expect(guard.authorize('internal', { metadata: md({ [CALLER_SERVICE_HEADER]: 'NOT A NAME' }) }, deposit)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED_USER',
    });
    const bad = md({ authorization: 'Bearer forged-token-0123456789' });
    await expect(guard.authorize('internal', { metadata: bad, inProcess: true }, deposit)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED_USER',
    });
    const teller = md({ authorization: 'Bearer good-teller-token-0123456789' });
    await expect(
      guard.authorize(
        'internal',
        { metadata: teller },
        { path: '/kfrm.api.user.UserAccountService/UpdateKyc', operatorRoles: ['kyc-reviewer'] },
      ),
    ).rejects.toBeInstanceOf(PermissionDeniedError);
    expect(await guard.authorize('internal', { metadata: teller }, deposit)).toEqual({
      level: 'internal',
      operator: { subject: 'op-1', roles: ['teller'] },
    });
    expect(refusals).toEqual([
      { kind: 'operator-authentication-failed', method: deposit.path, reason: 'no token' },
      { kind: 'operator-authentication-failed', method: deposit.path, reason: 'no token' },
      { kind: 'operator-authentication-failed', method: deposit.path, reason: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' },
      {
        kind: 'operator-call-refused',
        method: '/kfrm.api.user.UserAccountService/UpdateKyc',
        subject: 'op-1',
        reason: 'missing role kyc-reviewer',
      },
    ]);
    // Nothing of the token reaches the report.
    expect(JSON.stringify(refusals)).not.toContain('forged-token');
  });

  it('without a verifier, every operator token is refused', async () => {
    const guard = createInternalAccessGuard();
    await expect(
      guard.authorize('internal', { metadata: md({ authorization: 'Bearer good-teller-token-0123456789' }) }, deposit),
    ).rejects.toMatchObject({ code: 'UNAUTHENTICATED_USER' });
  });
});
