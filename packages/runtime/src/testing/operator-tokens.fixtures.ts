/**
 * `@kfrm/runtime/testing/operator-tokens.fixtures`: operator tokens for tests — good ones from the
 * embedded default's local issuer, and the bad ones a verifier must refuse (expired, signed by
 * another key, another issuer or audience). Not for production code.
 */
import { exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import type { OperatorRole } from '@kfrm/server-kit';
import { ensureLocalOperatorIssuer, LOCAL_OPERATOR_AUDIENCE, LOCAL_OPERATOR_ISSUER, mintLocalOperatorToken } from '../operator-issuer';

export interface BadTokenOptions {
  roles: readonly OperatorRole[];
  subject?: string;
  issuer?: string;
  audience?: string;
  /** Seconds from now; negative for an expired token. */
  expiresInSeconds?: number;
  /** Sign with a fresh key the backend never saw. */
  foreignKey?: boolean;
}

/** A token of the local issuer in `issuerDir` (the running backend's `config.operatorIssuerDir`). */
export const operatorToken = (issuerDir: string, roles: readonly OperatorRole[], subject = 'test-operator') =>
  mintLocalOperatorToken(issuerDir, { roles, subject });

/** A token like the local issuer's, with one thing wrong. */
export async function tamperedOperatorToken(issuerDir: string, options: BadTokenOptions): Promise<string> {
  const { privateJwk } = await ensureLocalOperatorIssuer(issuerDir);
  const key = options.foreignKey ? (await generateKeyPair('ES256')).privateKey : await importJWK(privateJwk, 'ES256');
  const kid = options.foreignKey ? ((await exportJWK((await generateKeyPair('ES256')).publicKey)).kid ?? privateJwk.kid!) : privateJwk.kid!;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: [...options.roles] })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
    .setIssuer(options.issuer ?? LOCAL_OPERATOR_ISSUER)
    .setAudience(options.audience ?? LOCAL_OPERATOR_AUDIENCE)
    .setSubject(options.subject ?? 'test-operator')
    .setIssuedAt(now - 3600)
    .setExpirationTime(now + (options.expiresInSeconds ?? 600))
    .sign(key);
}

/** gRPC metadata for a bearer token, in the form `unary(..., { metadata })` takes. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
