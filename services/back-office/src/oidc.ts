import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';

/**
 * Operator sign-in through the identity provider (Keycloak's realm in deploy/keycloak): the
 * OpenID Connect authorization-code flow with PKCE (S256), a public client (no secret in the
 * console). The ID token is verified with jose against the provider's JWKS (issuer, audience =
 * our client id, nonce); the access token is what the console then sends to the services, and
 * is verified there (and at sign-in) like any operator token.
 */
export interface OidcSettings {
  /** The provider's issuer (`iss`), e.g. http://localhost:8080/realms/kfrm. */
  issuer: string;
  /** Where the console reads the discovery document; default `<issuer>/.well-known/openid-configuration`. */
  discoveryUrl?: string;
  clientId: string;
  /** The console's callback, as the browser reaches it: `<public url>/oidc/callback`. */
  redirectUri: string;
  fetch?: typeof fetch;
}

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
}

export class OidcError extends Error {
  override name = 'OidcError';
}

const base64url = (bytes: Buffer) => bytes.toString('base64url');

export function createOidcClient(settings: OidcSettings) {
  const doFetch = settings.fetch ?? fetch;
  let discovered: Promise<{ discovery: Discovery; keys: JWTVerifyGetKey }> | undefined;

  async function discover() {
    const url = settings.discoveryUrl ?? `${settings.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const response = await doFetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) throw new OidcError(`discovery answered ${response.status}`);
    const discovery = (await response.json()) as Discovery;
    // The document must name the issuer we were configured with: a document of another issuer
    // would make us trust its keys for ours.
    if (discovery.issuer !== settings.issuer) throw new OidcError('the discovery document names another issuer');
    for (const field of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
      if (typeof discovery[field] !== 'string' || !/^https?:\/\//.test(discovery[field])) throw new OidcError(`discovery lacks ${field}`);
    }
    return { discovery, keys: createRemoteJWKSet(new URL(discovery.jwks_uri), { cooldownDuration: 30_000 }) };
  }
  const ready = () => {
    discovered ??= discover().catch((err: unknown) => {
      discovered = undefined; // try again on the next sign-in
      throw err;
    });
    return discovered;
  };

  return {
    /** Where to send the browser, and what to remember until the callback. */
    async start(): Promise<{ url: string; state: string; nonce: string; codeVerifier: string }> {
      const { discovery } = await ready();
      const state = base64url(randomBytes(32));
      const nonce = base64url(randomBytes(32));
      const codeVerifier = base64url(randomBytes(32));
      const challenge = base64url(createHash('sha256').update(codeVerifier).digest());
      const url = new URL(discovery.authorization_endpoint);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: settings.clientId,
        redirect_uri: settings.redirectUri,
        scope: 'openid',
        state,
        nonce,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }).toString();
      return { url: url.toString(), state, nonce, codeVerifier };
    },

    /** Exchanges the code (with the PKCE verifier) and checks the ID token; returns the access token. */
    async finish(input: { code: string; codeVerifier: string; nonce: string }): Promise<{ accessToken: string }> {
      const { discovery, keys } = await ready();
      const response = await doFetch(discovery.token_endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: input.code,
          redirect_uri: settings.redirectUri,
          client_id: settings.clientId,
          code_verifier: input.codeVerifier,
        }).toString(),
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) throw new OidcError(`token endpoint answered ${response.status}`);
      const tokens = (await response.json()) as { access_token?: unknown; id_token?: unknown };
      if (typeof tokens.access_token !== 'string' || typeof tokens.id_token !== 'string') throw new OidcError('no access or ID token');
      const { payload } = await jwtVerify(tokens.id_token, keys, {
        issuer: settings.issuer,
        audience: settings.clientId,
        algorithms: ['ES256', 'RS256'],
        clockTolerance: 30,
      });
      if (payload.nonce !== input.nonce) throw new OidcError('ID token nonce does not match');
      return { accessToken: tokens.access_token };
    },
  };
}

export type OidcClient = ReturnType<typeof createOidcClient>;
