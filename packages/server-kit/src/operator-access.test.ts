import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { DomainError, PermissionDeniedError } from '@kfrm/errors';
import { createInternalAccessGuard, serviceOfPeer, type AccessRefusal, type OperatorTokenVerifier } from './operator-access';

const verify: OperatorTokenVerifier = async (token) => {
  if (token === 'good-teller-token-0123456789') return { subject: 'op-1', roles: ['teller'] };
  throw Object.assign(new Error('signature verification failed'), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
};
const md = (headers: Record<string, string>) => {
  const m = new Metadata();
  for (const [k, v] of Object.entries(headers)) m.set(k, v);
  return m;
};
const deposit = { path: '/kfrm.api.account.LedgerService/Deposit', operatorRoles: ['teller'] as const, callers: ['funding', 'user'] };
const lookup = { path: '/kfrm.api.user.UserService/FindByUserId', callers: ['auth'] };
/** What grpc-js reports for a verified client certificate: the URI SANs among Node's subjectaltname. */
const cert = (service: string) => ({ peerUris: [`spiffe://kfrm/service/${service}`] });

function setUp() {
  const refusals: AccessRefusal[] = [];
  const guard = createInternalAccessGuard({ verifyOperator: verify, onRefusal: (r) => void refusals.push(r) });
  return { guard, refusals };
}

describe('internal access guard', () => {
  it('serves a service named in the method’s callers: by its certificate, or in-process by its composition root', async () => {
    const { guard, refusals } = setUp();
    expect(await guard.authorize('internal', { metadata: md({}), ...cert('auth') }, lookup)).toEqual({
      level: 'internal',
      service: 'auth',
    });
    expect(await guard.authorize('internal', { metadata: md({}), inProcess: true, inProcessCaller: 'auth' }, lookup)).toEqual({
      level: 'internal',
      service: 'auth',
    });
    expect(await guard.authorize('internal', { metadata: md({}), ...cert('funding') }, deposit)).toMatchObject({ service: 'funding' });
    expect(await guard.authorize('internal', { metadata: md({}), ...cert('casa') }, { path: '/x/Y', callers: ['*'] })).toMatchObject({
      service: 'casa',
    });
    await expect(guard.authorize('session', { metadata: md({}) })).rejects.toBeInstanceOf(DomainError);
    expect(refusals).toEqual([]);
  });

  it('ignores the caller-service header: a forged one is an unknown caller (UNAUTHENTICATED), audited', async () => {
    const { guard, refusals } = setUp();
    const forged = md({ 'x-kfrm-caller-service': 'auth' });
    await expect(guard.authorize('internal', { metadata: forged }, lookup)).rejects.toMatchObject({ code: 'UNAUTHENTICATED_USER' });
    await expect(guard.authorize('internal', { metadata: forged }, deposit)).rejects.toMatchObject({ code: 'UNAUTHENTICATED_USER' });
    // In this process, but without an identity from the composition root: unknown too.
    await expect(guard.authorize('internal', { metadata: forged, inProcess: true }, lookup)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED_USER',
    });
    expect(refusals).toEqual([
      { kind: 'caller-unknown', method: lookup.path, reason: 'no service certificate' },
      { kind: 'operator-authentication-failed', method: deposit.path, reason: 'no token' },
      { kind: 'caller-unknown', method: lookup.path, reason: 'no service certificate' },
    ]);
  });

  it('refuses a known service the method does not name (PERMISSION_DENIED), audited with its name', async () => {
    const { guard, refusals } = setUp();
    await expect(guard.authorize('internal', { metadata: md({}), ...cert('transfer') }, lookup)).rejects.toBeInstanceOf(
      PermissionDeniedError,
    );
    await expect(
      guard.authorize('internal', { metadata: md({}), inProcessCaller: 'casa', inProcess: true }, deposit),
    ).rejects.toBeInstanceOf(PermissionDeniedError);
    // A method no service may call (operators only).
    await expect(
      guard.authorize('internal', { metadata: md({}), ...cert('user') }, { path: '/a/B', operatorRoles: ['auditor'] }),
    ).rejects.toBeInstanceOf(PermissionDeniedError);
    expect(refusals).toEqual([
      { kind: 'service-call-refused', method: lookup.path, service: 'transfer', reason: 'caller not allowed' },
      { kind: 'service-call-refused', method: deposit.path, service: 'casa', reason: 'caller not allowed' },
      { kind: 'service-call-refused', method: '/a/B', service: 'user', reason: 'caller not allowed' },
    ]);
  });

  it('takes a service identity only from a service URI SAN (not the edge’s, not a malformed one)', () => {
    expect(serviceOfPeer(['spiffe://kfrm/service/account'])).toBe('account');
    expect(serviceOfPeer(['spiffe://kfrm/edge'])).toBeUndefined();
    expect(serviceOfPeer(['spiffe://kfrm/service/NOT A NAME'])).toBeUndefined();
    expect(serviceOfPeer(['spiffe://other/service/account'])).toBeUndefined();
    expect(serviceOfPeer(['spiffe://kfrm/service/a', 'spiffe://kfrm/service/b'])).toBeUndefined();
    expect(serviceOfPeer(undefined)).toBeUndefined();
  });

  it('refuses and reports a bad token and a missing role; a valid operator passes', async () => {
    const { guard, refusals } = setUp();
    const bad = md({ authorization: 'Bearer forged-token-0123456789' });
    await expect(
      guard.authorize('internal', { metadata: bad, inProcess: true, inProcessCaller: 'funding' }, deposit),
    ).rejects.toMatchObject({
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
    // A method without an operator policy: no operator may call it.
    await expect(guard.authorize('internal', { metadata: teller }, lookup)).rejects.toBeInstanceOf(PermissionDeniedError);
    expect(await guard.authorize('internal', { metadata: teller }, deposit)).toEqual({
      level: 'internal',
      operator: { subject: 'op-1', roles: ['teller'] },
    });
    expect(refusals).toEqual([
      { kind: 'operator-authentication-failed', method: deposit.path, reason: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' },
      {
        kind: 'operator-call-refused',
        method: '/kfrm.api.user.UserAccountService/UpdateKyc',
        subject: 'op-1',
        reason: 'missing role kyc-reviewer',
      },
      { kind: 'operator-call-refused', method: lookup.path, subject: 'op-1', reason: 'no operator may call this method' },
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
