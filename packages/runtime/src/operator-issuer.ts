import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { isOperatorRole, type OperatorIdentity, type OperatorRole, type OperatorTokenVerifier } from '@kfrm/server-kit';
import type { RuntimeConfig } from './runtime-config';

/**
 * Operator tokens (docs/operators.md). In compose and Kubernetes they come from the identity
 * provider (Keycloak) and are checked against its JWKS; in the embedded default, from a local
 * issuer: an EC P-256 key pair generated once into the data directory, whose public half is the
 * JWKS the backend trusts and whose private half `pnpm operator-token` signs with. Whoever can
 * read the data directory can mint tokens — the same person who can read the database there.
 */
export const LOCAL_OPERATOR_ISSUER = 'kfrm-local-operator-issuer';
export const LOCAL_OPERATOR_AUDIENCE = 'kfrm-internal';
const ALGORITHM = 'ES256';
/** Tokens the local issuer mints live this long unless asked otherwise. */
export const DEFAULT_OPERATOR_TOKEN_TTL_SECONDS = 15 * 60;
/** Clock difference tolerated between the identity provider and us. */
const CLOCK_TOLERANCE_SECONDS = 30;

const files = (dir: string) => ({ privateKey: join(dir, 'signing-key.jwk.json'), jwks: join(dir, 'jwks.json') });

/** The local issuer's key pair, generated on first use (private key file mode 0600). */
export async function ensureLocalOperatorIssuer(dir: string): Promise<{ privateJwk: JWK; jwks: JSONWebKeySet }> {
  const paths = files(dir);
  try {
    const [privateJwk, jwks] = await Promise.all([readFile(paths.privateKey, 'utf8'), readFile(paths.jwks, 'utf8')]);
    return { privateJwk: JSON.parse(privateJwk) as JWK, jwks: JSON.parse(jwks) as JSONWebKeySet };
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = await generateKeyPair(ALGORITHM, { extractable: true });
  const kid = randomUUID();
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: ALGORITHM, use: 'sig' };
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: ALGORITHM, use: 'sig' }] };
  // Written aside and renamed, so a concurrent first start never reads half a key.
  const suffix = `.${process.pid}.${kid}.tmp`;
  await writeFile(paths.privateKey + suffix, JSON.stringify(privateJwk), { mode: 0o600 });
  await writeFile(paths.jwks + suffix, JSON.stringify(jwks, null, 2), { mode: 0o644 });
  await rename(paths.jwks + suffix, paths.jwks);
  await rename(paths.privateKey + suffix, paths.privateKey);
  return ensureLocalOperatorIssuer(dir);
}

export interface MintOperatorTokenOptions {
  roles: readonly OperatorRole[];
  /** Default "local-operator". */
  subject?: string;
  ttlSeconds?: number;
  now?: Date;
}

/** A token of the local issuer (embedded default): what `pnpm operator-token` prints. */
export async function mintLocalOperatorToken(dir: string, options: MintOperatorTokenOptions): Promise<string> {
  const { privateJwk } = await ensureLocalOperatorIssuer(dir);
  const key = await importJWK(privateJwk, ALGORITHM);
  const nowSeconds = Math.floor((options.now ?? new Date()).getTime() / 1000);
  return new SignJWT({ roles: [...options.roles] })
    .setProtectedHeader({ alg: ALGORITHM, kid: privateJwk.kid!, typ: 'JWT' })
    .setIssuer(LOCAL_OPERATOR_ISSUER)
    .setAudience(LOCAL_OPERATOR_AUDIENCE)
    .setSubject(options.subject ?? 'local-operator')
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + (options.ttlSeconds ?? DEFAULT_OPERATOR_TOKEN_TTL_SECONDS))
    .setJti(randomUUID())
    .sign(key);
}

/**
 * The roles a token grants: our local issuer's `roles` claim, or Keycloak's realm roles
 * (`realm_access.roles`). Roles we do not know are ignored (Keycloak adds its own defaults).
 */
export function operatorRolesOf(payload: JWTPayload): OperatorRole[] {
  const direct = Array.isArray(payload.roles) ? payload.roles : [];
  const realm = (payload.realm_access as { roles?: unknown } | undefined)?.roles;
  return [...new Set([...direct, ...(Array.isArray(realm) ? realm : [])])].filter(isOperatorRole);
}

/** Verifies tokens against one JWKS, issuer and audience (ES256 or RS256 only: never `none`, never HMAC). */
export function operatorTokenVerifier(options: { keys: JWTVerifyGetKey; issuer: string; audience: string }): OperatorTokenVerifier {
  return async (token) => {
    const { payload } = await jwtVerify(token, options.keys, {
      issuer: options.issuer,
      audience: options.audience,
      algorithms: ['ES256', 'RS256'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['sub', 'exp'],
    });
    const identity: OperatorIdentity = { subject: payload.sub!, roles: operatorRolesOf(payload) };
    return identity;
  };
}

/**
 * The process's operator verifier: the identity provider's (KFRM_OPERATOR_JWKS_URL, ISSUER,
 * AUDIENCE) when configured; a JWKS file's (KFRM_OPERATOR_JWKS_FILE, e.g. start:split's local
 * issuer); else the local issuer's in the embedded default; undefined in real mode without any
 * (operator-only methods then serve services only, and every operator call is UNAUTHENTICATED).
 */
export async function createOperatorVerifier(config: RuntimeConfig): Promise<OperatorTokenVerifier | undefined> {
  if (config.operatorJwksUrl && config.operatorIssuer && config.operatorAudience) {
    return operatorTokenVerifier({
      keys: createRemoteJWKSet(new URL(config.operatorJwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 }),
      issuer: config.operatorIssuer,
      audience: config.operatorAudience,
    });
  }
  if (config.operatorJwksFile) {
    const jwks = JSON.parse(await readFile(config.operatorJwksFile, 'utf8')) as JSONWebKeySet;
    return operatorTokenVerifier({
      keys: createLocalJWKSet(jwks),
      issuer: config.operatorIssuer ?? LOCAL_OPERATOR_ISSUER,
      audience: config.operatorAudience ?? LOCAL_OPERATOR_AUDIENCE,
    });
  }
  if (config.mode !== 'embedded') return undefined;
  return localOperatorVerifier(config.operatorIssuerDir);
}

/** Verifies tokens of the local issuer in `issuerDir` (made on first use). */
export async function localOperatorVerifier(issuerDir: string): Promise<OperatorTokenVerifier> {
  const { jwks } = await ensureLocalOperatorIssuer(issuerDir);
  return operatorTokenVerifier({ keys: createLocalJWKSet(jwks), issuer: LOCAL_OPERATOR_ISSUER, audience: LOCAL_OPERATOR_AUDIENCE });
}
