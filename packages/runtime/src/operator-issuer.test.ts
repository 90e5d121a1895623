import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ensureLocalOperatorIssuer,
  localOperatorVerifier,
  mintLocalOperatorToken,
  operatorRolesOf,
  operatorTokenVerifier,
} from './operator-issuer';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
const scratch = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kfrm-operator-issuer-'));
  dirs.push(dir);
  return join(dir, 'operator-issuer');
};

describe('local operator issuer', () => {
  it('makes its key pair once (private key readable by the owner only) and verifies what it mints', async () => {
    const dir = await scratch();
    const first = await ensureLocalOperatorIssuer(dir);
    expect((await ensureLocalOperatorIssuer(dir)).jwks).toEqual(first.jwks);
    expect((await stat(join(dir, 'signing-key.jwk.json'))).mode & 0o077).toBe(0);
    expect(JSON.stringify(first.jwks)).not.toContain('"d"');
    const token = await mintLocalOperatorToken(dir, { roles: ['teller', 'support'], subject: 'alice' });
    expect(await (await localOperatorVerifier(dir))(token)).toEqual({ subject: 'alice', roles: ['teller', 'support'] });
  });

  it('refuses an expired token, another issuer key, and unsigned or HMAC tokens', async () => {
    const dir = await scratch();
    const verify = await localOperatorVerifier(dir);
    const expired = await mintLocalOperatorToken(dir, { roles: ['teller'], now: new Date(Date.now() - 3_600_000) });
    await expect(verify(expired)).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
    const other = await mintLocalOperatorToken(await scratch(), { roles: ['teller'] });
    await expect(verify(other)).rejects.toBeDefined();
    const unsigned = new UnsecuredJWT({ roles: ['teller'] })
      .setIssuer('kfrm-local-operator-issuer')
      .setAudience('kfrm-internal')
      .setSubject('x')
      .setExpirationTime('5m')
      .encode();
    await expect(verify(unsigned)).rejects.toBeDefined();
    const hmac = await new SignJWT({ roles: ['teller'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('kfrm-local-operator-issuer')
      .setAudience('kfrm-internal')
      .setSubject('x')
      .setExpirationTime('5m')
      .sign(new Uint8Array(32));
    await expect(verify(hmac)).rejects.toBeDefined();
  });
});

describe('identity provider tokens (Keycloak shape)', () => {
  it('take the realm roles, ignore roles we do not know, and check issuer and audience', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'kc-1', alg: 'RS256', use: 'sig' };
    const verify = operatorTokenVerifier({
      keys: createLocalJWKSet({ keys: [jwk] }),
      issuer: 'http://localhost:8080/realms/kfrm',
      audience: 'kfrm-internal',
    });
    const keycloakToken = (issuer: string, audience: string[]) =>
      new SignJWT({ realm_access: { roles: ['default-roles-kfrm', 'kyc-reviewer', 'offline_access'] }, preferred_username: 'dev-operator' })
        .setProtectedHeader({ alg: 'RS256', kid: 'kc-1', typ: 'JWT' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject('6f1c2a3e-1b7d-4c55-9a51-0d5c6a2b7e01')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
    expect(await verify(await keycloakToken('http://localhost:8080/realms/kfrm', ['kfrm-internal', 'account']))).toEqual({
      subject: '6f1c2a3e-1b7d-4c55-9a51-0d5c6a2b7e01',
      roles: ['kyc-reviewer'],
    });
    await expect(verify(await keycloakToken('http://localhost:8080/realms/other', ['kfrm-internal']))).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
    });
    await expect(verify(await keycloakToken('http://localhost:8080/realms/kfrm', ['account']))).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
    });
  });

  it('operatorRolesOf merges both claims without duplicates', () => {
    expect(operatorRolesOf({ roles: ['teller', 'admin'], realm_access: { roles: ['teller', 'auditor'] } })).toEqual(['teller', 'auditor']);
    expect(operatorRolesOf({ roles: 'teller' })).toEqual([]);
  });
});
