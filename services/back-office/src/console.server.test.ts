// The console's sign-in and request checks without a backend: OIDC authorization code + PKCE
// against a local stand-in for Keycloak (discovery, authorize, token, JWKS; Keycloak never runs
// here), the paste-a-token form, CSRF and cross-site POSTs, escaping.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, createCapturingDestination } from '@kfrm/logging';
import { operatorTokenVerifier } from '@kfrm/runtime';
import { exportJWK, generateKeyPair, SignJWT, createLocalJWKSet, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleCalls } from './console.calls';
import { createConsoleServer, type ConsoleServerOptions } from './console.server';
import { createSessionStore } from './console.sessions';
import { escapeHtml, html } from './html';
import { createOidcClient } from './oidc';

const CLIENT_ID = 'kfrm-back-office';
const AUDIENCE = 'kfrm-internal';

/** A minimal OIDC provider: one user, codes bound to the PKCE challenge, tokens signed ES256. */
async function startProvider() {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const codes = new Map<string, { challenge: string; nonce: string; redirectUri: string }>();
  const state = { issuer: '', wrongNonce: false, tokenCalls: 0 };
  const sign = (claims: Record<string, unknown>, audience: string) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(state.issuer)
      .setAudience(audience)
      .setSubject('3f2c-keycloak-user-id')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url!, state.issuer);
    if (url.pathname.endsWith('/.well-known/openid-configuration')) {
      res.setHeader('content-type', 'application/json');
      return res.end(
        JSON.stringify({
          issuer: state.issuer,
          authorization_endpoint: `${state.issuer}/auth`,
          token_endpoint: `${state.issuer}/token`,
          jwks_uri: `${state.issuer}/certs`,
        }),
      );
    }
    if (url.pathname.endsWith('/certs')) return res.end(JSON.stringify({ keys: [jwk] }));
    if (url.pathname.endsWith('/auth')) {
      // The user signs in at once: back to the client with a code.
      const q = url.searchParams;
      if (q.get('code_challenge_method') !== 'S256' || q.get('client_id') !== CLIENT_ID) return res.writeHead(400).end();
      const code = randomBytes(16).toString('hex');
      codes.set(code, { challenge: q.get('code_challenge')!, nonce: q.get('nonce')!, redirectUri: q.get('redirect_uri')! });
      return res.writeHead(302, { location: `${q.get('redirect_uri')}?code=${code}&state=${q.get('state')}` }).end();
    }
    if (url.pathname.endsWith('/token') && req.method === 'POST') {
      state.tokenCalls++;
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      const pending = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? '');
      const verifier = form.get('code_verifier') ?? '';
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      if (!pending || pending.challenge !== challenge || pending.redirectUri !== form.get('redirect_uri'))
        return res.writeHead(400).end('{"error":"invalid_grant"}');
      const idToken = await sign({ nonce: state.wrongNonce ? 'another' : pending.nonce }, CLIENT_ID);
      const accessToken = await sign({ realm_access: { roles: ['auditor', 'default-roles-kfrm'] }, azp: CLIENT_ID }, AUDIENCE);
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({ access_token: accessToken, id_token: idToken, token_type: 'Bearer' }));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/realms/kfrm`;
  return { server, state, jwk, sign };
}

let provider: Awaited<ReturnType<typeof startProvider>>;
let consoleServer: Server;
let origin = '';
const logs = createCapturingDestination();

const noCalls = new Proxy({} as ConsoleCalls, {
  get: () => () => Promise.reject(new Error('no backend in this test')),
});

beforeAll(async () => {
  provider = await startProvider();
  const options: ConsoleServerOptions = {
    calls: noCalls,
    sessions: createSessionStore({ idleMs: 60_000 }),
    logger: createLogger({ service: 'back-office-test', level: 'debug', destination: logs }),
    verifyOperator: operatorTokenVerifier({
      keys: createLocalJWKSet({ keys: [provider.jwk] }),
      issuer: provider.state.issuer,
      audience: AUDIENCE,
    }),
    oidc: undefined,
    tokenSignIn: true,
    publicOrigin: '',
    approvalThresholdKrw: 1_000_000,
  };
  consoleServer = createConsoleServer(options);
  await new Promise<void>((r) => consoleServer.listen(0, '127.0.0.1', () => r()));
  origin = `http://127.0.0.1:${(consoleServer.address() as AddressInfo).port}`;
  options.publicOrigin = origin;
  options.oidc = createOidcClient({ issuer: provider.state.issuer, clientId: CLIENT_ID, redirectUri: `${origin}/oidc/callback` });
});

afterAll(async () => {
  consoleServer?.closeAllConnections();
  provider?.server.closeAllConnections();
  await Promise.all([new Promise((r) => consoleServer?.close(r)), new Promise((r) => provider?.server.close(r))]);
});

const get = (path: string, cookie = '') => fetch(`${origin}${path}`, { headers: { cookie }, redirect: 'manual' });
const cookieOf = (res: Response, name: string) =>
  res.headers
    .getSetCookie()
    .find((c) => c.startsWith(`${name}=`))
    ?.split(';')[0];

/** Runs the browser's part: console → provider → console callback. */
async function oidcRoundTrip() {
  const start = await get('/login/oidc');
  expect(start.status).toBe(303);
  const loginCookie = cookieOf(start, '__Host-kfrm-bo-login')!;
  expect(start.headers.getSetCookie().join()).toMatch(/__Host-kfrm-bo-login=[^;]+; Path=\/; HttpOnly; Secure; SameSite=Lax/);
  const authorize = new URL(start.headers.get('location')!);
  expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
  const back = await fetch(authorize, { redirect: 'manual' });
  const callback = new URL(back.headers.get('location')!);
  return { loginCookie, callback: `${callback.pathname}${callback.search}` };
}

describe('OIDC sign-in (authorization code + PKCE)', () => {
  it('signs in with the provider: ID token checked, access token verified, session cookie Strict', async () => {
    const { loginCookie, callback } = await oidcRoundTrip();
    const done = await get(callback, loginCookie);
    expect(done.status).toBe(200);
    expect(done.headers.get('refresh')).toBe('0;url=/');
    const session = cookieOf(done, '__Host-kfrm-bo')!;
    expect(done.headers.getSetCookie().join()).toMatch(/__Host-kfrm-bo=[^;]+; Path=\/; HttpOnly; Secure; SameSite=Strict/);
    const home = await get('/', session);
    const page = await home.text();
    expect(page).toContain('3f2c-keycloak-user-id');
    expect(page).toContain('auditor');
    expect(page).not.toContain('default-roles-kfrm');
    // The callback is used once: the same code and login cookie again sign nobody in.
    expect((await get(callback, loginCookie)).status).toBe(400);
  });

  it('refuses a callback with another state, without the login cookie, or an ID token with another nonce', async () => {
    const first = await oidcRoundTrip();
    expect((await get(first.callback.replace(/state=[^&]+/, 'state=forged'), first.loginCookie)).status).toBe(400);
    const second = await oidcRoundTrip();
    expect((await get(second.callback)).status).toBe(400);
    const third = await oidcRoundTrip();
    provider.state.wrongNonce = true;
    try {
      const refused = await get(third.callback, third.loginCookie);
      expect(refused.status).toBe(401);
      expect(cookieOf(refused, '__Host-kfrm-bo')).toBeUndefined();
    } finally {
      provider.state.wrongNonce = false;
    }
    expect(logs.lines.join('\n')).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
  });
});

describe('token sign-in, CSRF and headers', () => {
  async function signInForm() {
    const page = await get('/login');
    const cookie = cookieOf(page, '__Host-kfrm-bo')!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    return { cookie, csrf, headers: page.headers };
  }
  const post = (path: string, cookie: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${origin}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', origin, ...headers },
      body: new URLSearchParams(form).toString(),
    });

  it('serves a strict CSP and no-store on every page', async () => {
    const { headers } = await signInForm();
    expect(headers.get('content-security-policy')).toBe(
      "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(headers.get('cache-control')).toBe('no-store');
    expect(headers.get('x-frame-options')).toBe('DENY');
  });

  it('signs in with a valid token and rotates the session id; refuses an expired one', async () => {
    const form = await signInForm();
    const token = await provider.sign({ realm_access: { roles: ['teller'] } }, AUDIENCE);
    const ok = await post('/login', form.cookie, { _csrf: form.csrf, token });
    expect([ok.status, ok.headers.get('location')]).toEqual([303, '/']);
    const session = cookieOf(ok, '__Host-kfrm-bo')!;
    expect(session).not.toBe(form.cookie);
    expect((await get('/', session)).status).toBe(200);
    // The anonymous session's id is worth nothing afterwards.
    expect((await get('/', form.cookie)).headers.get('location')).toBe('/login');

    const again = await signInForm();
    const expired = await new SignJWT({ realm_access: { roles: ['teller'] } })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(provider.state.issuer)
      .setAudience(AUDIENCE)
      .setSubject('x')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 600)
      .sign((await generateKeyPair('ES256')).privateKey);
    const refused = await post('/login', again.cookie, { _csrf: again.csrf, token: expired });
    expect(refused.headers.get('location')).toBe('/login');
    expect(await (await get('/login', again.cookie)).text()).toContain('was not accepted');
  });

  it('refuses a POST without the session CSRF token, or from another origin', async () => {
    const form = await signInForm();
    const token = await provider.sign({ realm_access: { roles: ['teller'] } }, AUDIENCE);
    expect((await post('/login', form.cookie, { token })).status).toBe(403);
    expect((await post('/login', form.cookie, { _csrf: 'guess', token })).status).toBe(403);
    expect((await post('/login', form.cookie, { _csrf: form.csrf, token }, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await post('/login', form.cookie, { _csrf: form.csrf, token }, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await post('/login', '', { _csrf: form.csrf, token })).status).toBe(403);
  });

  it('escapes every interpolated value', () => {
    expect(escapeHtml(`<script>alert("x")</script>&'`)).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;');
    const name = '<img src=x onerror=alert(1)>';
    expect(html`<td>${name}</td>`.text).toBe('<td>&lt;img src=x onerror=alert(1)&gt;</td>');
    expect(html`<p>${html`<b>${name}</b>`}</p>`.text).toBe('<p><b>&lt;img src=x onerror=alert(1)&gt;</b></p>');
  });
});
