import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '@kfrm/logging';
import type { OperatorTokenVerifier } from '@kfrm/server-kit';
import { decodeJwt } from 'jose';
import type { CallResult, ConsoleCalls, KycDecision } from './console.calls';
import { KYC_DECISIONS, parseKrw } from './console.calls';
import {
  approvalDecidedText,
  approvalsPage,
  auditPage,
  customersPage,
  depositPage,
  homePage,
  kycQueuePage,
  kycReviewPage,
  layout,
  signInPage,
  STYLESHEET,
  type Notice,
} from './console.pages';
import { csrfMatches, type ConsoleSession, type SessionStore } from './console.sessions';
import { html } from './html';
import type { OidcClient } from './oidc';

export interface ConsoleServerOptions {
  calls: ConsoleCalls;
  sessions: SessionStore;
  logger: Logger;
  /** Checks a token at sign-in with the services' own rules (issuer, audience, keys, expiry). */
  verifyOperator: OperatorTokenVerifier | undefined;
  /** The identity provider's sign-in; undefined when none is configured. */
  oidc: OidcClient | undefined;
  /** The paste-a-token form (embedded default and local runs only). */
  tokenSignIn: boolean;
  /** The console's origin as browsers see it (scheme://host:port): POSTs from elsewhere are refused. */
  publicOrigin: string;
  approvalThresholdKrw: number;
}

const SESSION_COOKIE = '__Host-kfrm-bo';
const LOGIN_COOKIE = '__Host-kfrm-bo-login';
const MAX_BODY_BYTES = 16 * 1024;

/**
 * Headers on every answer: no script at all, styles only from us, forms only to us, never in a
 * frame, nothing cached, no referrer (with ids in URLs) to other sites.
 */
function securityHeaders(res: ServerResponse, https: boolean) {
  res.setHeader(
    'content-security-policy',
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  );
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('x-frame-options', 'DENY');
  // same-origin, not no-referrer: under no-referrer browsers send `Origin: null` with form POSTs,
  // and the Origin check below needs the real one. Other sites still get no referrer.
  res.setHeader('referrer-policy', 'same-origin');
  res.setHeader('cache-control', 'no-store');
  res.setHeader('cross-origin-opener-policy', 'same-origin');
  if (https) res.setHeader('strict-transport-security', 'max-age=31536000');
}

function cookiesOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

/** `__Host-` cookies: Secure, Path=/, no Domain; HttpOnly always. */
function cookie(name: string, value: string, options: { sameSite: 'Strict' | 'Lax'; maxAgeSeconds?: number }): string {
  const age = options.maxAgeSeconds === undefined ? '' : `; Max-Age=${options.maxAgeSeconds}`;
  return `${name}=${value}; Path=/; HttpOnly; Secure; SameSite=${options.sameSite}${age}`;
}

class BadRequest extends Error {}

async function formOf(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
  if (type !== 'application/x-www-form-urlencoded') throw new BadRequest('form expected');
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BadRequest('form too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const USER_ID = /^[1-9][0-9]{0,18}$/;

export function createConsoleServer(options: ConsoleServerOptions): Server {
  const { calls, sessions, logger } = options;

  function send(res: ServerResponse, status: number, body: string, type = 'text/html; charset=utf-8') {
    res.statusCode = status;
    res.setHeader('content-type', type);
    res.end(body);
  }
  function redirect(res: ServerResponse, location: string) {
    res.statusCode = 303;
    res.setHeader('location', location);
    res.end();
  }
  function setSessionCookie(res: ServerResponse, session: ConsoleSession) {
    res.appendHeader('set-cookie', cookie(SESSION_COOKIE, session.id, { sameSite: 'Strict' }));
  }
  /** The page, with the flash of the last POST (shown once). */
  function page(res: ServerResponse, session: ConsoleSession | undefined, title: string, body: ReturnType<typeof html>, status = 200) {
    const notice: Notice | undefined = session?.flash;
    if (session) session.flash = undefined;
    send(res, status, layout(title, session, body, notice));
  }
  function flash(session: ConsoleSession, tone: Notice['tone'], text: string) {
    session.flash = { tone, text };
  }

  /** What a call's result means to the operator; 'signed-out' ends the session. */
  function outcome<T>(res: ServerResponse, session: ConsoleSession, result: CallResult<T>, onOk: (value: T) => string, back: string): void {
    switch (result.kind) {
      case 'ok':
        flash(session, 'ok', onOk(result.value));
        break;
      case 'pending':
        flash(session, 'warn', `Waiting for a second operator's approval (request ${result.approvalId}).`);
        break;
      case 'refused':
        flash(session, 'err', `Refused: ${result.code}${result.message ? ` — ${result.message}` : ''}`);
        break;
      case 'signed-out':
        sessions.end(session.id);
        return redirect(res, '/login');
    }
    redirect(res, back);
  }

  /** Shows a read's result, or its refusal, on the page. */
  function show<T>(
    res: ServerResponse,
    session: ConsoleSession,
    title: string,
    result: CallResult<T>,
    render: (value: T) => ReturnType<typeof html>,
  ) {
    if (result.kind === 'signed-out') {
      sessions.end(session.id);
      return redirect(res, '/login');
    }
    if (result.kind === 'ok') return page(res, session, title, render(result.value));
    const text = result.kind === 'refused' ? `Refused: ${result.code}${result.message ? ` — ${result.message}` : ''}` : 'Not available.';
    const status = result.kind === 'refused' && result.code === 'PERMISSION_DENIED' ? 403 : 200;
    page(res, session, title, html`<p class="notice err" role="alert">${text}</p>`, status);
  }

  async function signIn(res: ServerResponse, previous: ConsoleSession | undefined, token: string, how: string) {
    if (!options.verifyOperator) throw new Error('no operator verifier');
    const identity = await options.verifyOperator(token);
    const exp = decodeJwt(token).exp!;
    const session = sessions.signIn(previous, { token, subject: identity.subject, roles: identity.roles, expiresAt: new Date(exp * 1000) });
    setSessionCookie(res, session);
    logger.info({ operator: identity.subject, roles: identity.roles, how }, 'back-office sign-in');
    return session;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (options.publicOrigin === '') return send(res, 503, 'starting\n', 'text/plain; charset=utf-8');
    securityHeaders(res, options.publicOrigin.startsWith('https:'));
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const cookies = cookiesOf(req);
    let session = sessions.get(cookies[SESSION_COOKIE]);

    if (method === 'GET' && path === '/console.css') return send(res, 200, STYLESHEET, 'text/css; charset=utf-8');
    if (method === 'GET' && path === '/healthz') return send(res, 200, 'ok\n', 'text/plain; charset=utf-8');

    if (method === 'POST') {
      // Cross-site POSTs are refused before anything else: the browser says where the form was.
      const origin = req.headers.origin;
      const site = req.headers['sec-fetch-site'];
      if ((origin !== undefined && origin !== options.publicOrigin) || (site !== undefined && site !== 'same-origin' && site !== 'none'))
        return send(res, 403, layout('Refused', undefined, html`<p>Cross-site request refused.</p>`));
      const form = await formOf(req);
      if (!session || !csrfMatches(session, form.get('_csrf') ?? undefined))
        return send(
          res,
          403,
          layout('Refused', undefined, html`<p>The form expired or did not come from this console. <a href="/">Start again</a>.</p>`),
        );
      return post(res, path, form, session);
    }
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('allow', 'GET, POST');
      return send(res, 405, 'method not allowed\n', 'text/plain; charset=utf-8');
    }

    if (path === '/login') {
      if (!session) {
        session = sessions.create();
        setSessionCookie(res, session);
      }
      return page(
        res,
        session,
        'Sign in',
        signInPage({ session, oidc: options.oidc !== undefined, tokenSignIn: options.tokenSignIn && options.verifyOperator !== undefined }),
      );
    }
    if (path === '/login/oidc' && options.oidc) {
      const started = await options.oidc.start();
      const loginId = sessions.startLogin({ state: started.state, nonce: started.nonce, codeVerifier: started.codeVerifier });
      // Lax: the browser must send it back on the provider's redirect to /oidc/callback.
      res.appendHeader('set-cookie', cookie(LOGIN_COOKIE, loginId, { sameSite: 'Lax', maxAgeSeconds: 600 }));
      return redirect(res, started.url);
    }
    if (path === '/oidc/callback' && options.oidc) {
      res.appendHeader('set-cookie', cookie(LOGIN_COOKIE, '', { sameSite: 'Lax', maxAgeSeconds: 0 }));
      const pending = sessions.takeLogin(cookies[LOGIN_COOKIE]);
      const code = url.searchParams.get('code');
      if (!pending || !code || url.searchParams.get('state') !== pending.state) {
        return send(
          res,
          400,
          layout('Sign in', undefined, html`<p>That sign-in is not this browser's, or it expired. <a href="/login">Sign in</a>.</p>`),
        );
      }
      try {
        const { accessToken } = await options.oidc.finish({ code, codeVerifier: pending.codeVerifier, nonce: pending.nonce });
        await signIn(res, session, accessToken, 'oidc');
      } catch (err) {
        logger.warn({ reason: (err as { code?: string }).code ?? (err as Error).name }, 'back-office OIDC sign-in refused');
        return send(
          res,
          401,
          layout('Sign in', undefined, html`<p>The identity provider's answer was not accepted. <a href="/login">Sign in</a>.</p>`),
        );
      }
      // The session cookie is SameSite=Strict and this request came from the provider's site:
      // a same-site step (no script needed) makes the browser send it on the next request.
      res.setHeader('refresh', '0;url=/');
      return send(res, 200, layout('Signed in', undefined, html`<p><a href="/">Continue to the console</a></p>`));
    }

    if (!session?.operator) return redirect(res, '/login');
    const token = session.operator.token;

    if (path === '/') return page(res, session, 'Back office', homePage(session));
    if (path === '/kyc') return show(res, session, 'KYC review', await calls.listKycReviews(token), kycQueuePage);
    const kyc = /^\/kyc\/([0-9]+)$/.exec(path);
    if (kyc && USER_ID.test(kyc[1]!)) {
      const current = session;
      return show(res, session, `KYC review: user ${kyc[1]}`, await calls.getKycData(token, BigInt(kyc[1]!)), (d) =>
        kycReviewPage(current, d),
      );
    }
    if (path === '/customers') {
      const q = (url.searchParams.get('q') ?? '').trim();
      const current = session;
      if (q === '') return page(res, session, 'Customers', customersPage(session, '', undefined));
      const key = /^C[0-9]{12}$/.test(q) ? { customerId: q } : USER_ID.test(q) ? { userId: BigInt(q) } : undefined;
      if (!key)
        return page(
          res,
          session,
          'Customers',
          html`${customersPage(session, q, undefined)}<p class="notice err">Not a user id or customer id.</p>`,
        );
      return show(res, session, 'Customers', await calls.lookupCustomer(token, key), (c) => customersPage(current, q, c));
    }
    if (path === '/deposit') {
      const note = `Deposits above ${options.approvalThresholdKrw.toLocaleString('en-US')} KRW wait for a second operator's approval.`;
      return page(res, session, 'Deposit', depositPage(session, `back-office-${randomUUID()}`, note));
    }
    if (path === '/approvals') {
      const current = session;
      return show(res, session, 'Pending approvals', await calls.listPendingApprovals(token), (r) => approvalsPage(current, r));
    }
    if (path === '/audit') {
      const before = url.searchParams.get('before') ?? '';
      const current = session;
      return show(res, session, 'Audit log', await calls.listAuditLog(token, USER_ID.test(before) ? BigInt(before) : 0n), (e) =>
        auditPage(current, e),
      );
    }
    return page(res, session, 'Not found', html`<p>No such page.</p>`, 404);
  }

  async function post(res: ServerResponse, path: string, form: URLSearchParams, session: ConsoleSession) {
    if (path === '/login') {
      if (!options.tokenSignIn || !options.verifyOperator)
        return send(res, 404, layout('Not found', undefined, html`<p>No such page.</p>`));
      const token = (form.get('token') ?? '').trim();
      try {
        await signIn(res, session, token, 'token');
      } catch (err) {
        logger.warn({ reason: (err as { code?: string }).code ?? (err as Error).name }, 'back-office token sign-in refused');
        flash(session, 'err', 'That token was not accepted (expired, of another issuer, or not an operator token).');
        return redirect(res, '/login');
      }
      return redirect(res, '/');
    }
    if (path === '/logout') {
      sessions.end(session.id);
      res.appendHeader('set-cookie', cookie(SESSION_COOKIE, '', { sameSite: 'Strict', maxAgeSeconds: 0 }));
      return redirect(res, '/login');
    }
    if (!session.operator) return redirect(res, '/login');
    const token = session.operator.token;

    const decision = /^\/kyc\/([0-9]+)\/decision$/.exec(path);
    if (decision && USER_ID.test(decision[1]!)) {
      const chosen = form.get('decision') ?? '';
      const reason = (form.get('reason') ?? '').trim();
      if (!(chosen in KYC_DECISIONS) || reason === '' || reason.length > 200) {
        flash(session, 'err', 'Choose a decision and give a reason (at most 200 characters).');
        return redirect(res, `/kyc/${decision[1]}`);
      }
      const result = await calls.decideKyc(token, BigInt(decision[1]!), chosen as KycDecision, reason);
      return outcome(res, session, result, () => `KYC of user ${decision[1]} recorded as ${chosen}.`, `/kyc/${decision[1]}`);
    }
    const unlock = /^\/customers\/([0-9]+)\/unlock$/.exec(path);
    if (unlock && USER_ID.test(unlock[1]!)) {
      const reason = (form.get('reason') ?? '').trim();
      const back = `/customers?q=${unlock[1]}`;
      if (reason === '' || reason.length > 200) {
        flash(session, 'err', 'Give a reason (at most 200 characters).');
        return redirect(res, back);
      }
      return outcome(res, session, await calls.unlockUser(token, BigInt(unlock[1]!), reason), () => `User ${unlock[1]} unlocked.`, back);
    }
    if (path === '/deposit') {
      const accountNumber = (form.get('account_number') ?? '').trim();
      const amountKrw = parseKrw(form.get('amount') ?? '');
      const idempotencyKey = form.get('idempotency_key') ?? '';
      const memo = (form.get('memo') ?? '').trim().slice(0, 100);
      if (!/^[0-9-]{4,32}$/.test(accountNumber) || amountKrw === undefined || !/^back-office-[0-9a-f-]{36}$/.test(idempotencyKey)) {
        flash(session, 'err', 'Give an account number and a positive whole amount of won.');
        return redirect(res, '/deposit');
      }
      const result = await calls.deposit(token, { accountNumber, amountKrw, memo: memo || 'back-office deposit', idempotencyKey });
      return outcome(
        res,
        session,
        result,
        (d) =>
          `Deposited ${amountKrw.toLocaleString('en-US')} KRW into ${accountNumber} (entry ${d.entryId}, balance ${d.balanceAfter} KRW).`,
        '/deposit',
      );
    }
    const approval = /^\/approvals\/([0-9a-f-]{36})\/(approve|reject)$/.exec(path);
    if (approval) {
      const [, id, act] = approval as unknown as [string, string, 'approve' | 'reject'];
      const result = act === 'approve' ? await calls.approve(token, id) : await calls.reject(token, id);
      return outcome(res, session, result, approvalDecidedText, '/approvals');
    }
    if (path === '/audit/verify') {
      const result = await calls.verifyAuditLog(token);
      if (result.kind !== 'ok') return outcome(res, session, result, () => '', '/audit');
      const v = result.value;
      if (v.ok) flash(session, 'ok', `Audit log verified: ${v.rows} rows, head seq ${v.headSeq}, hash ${v.headHash}.`);
      else flash(session, 'err', `Audit log BROKEN at seq ${v.brokenSeq}: ${v.problem}`);
      return redirect(res, '/audit');
    }
    return send(res, 404, layout('Not found', session, html`<p>No such page.</p>`));
  }

  return createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof BadRequest) return send(res, 400, layout('Bad request', undefined, html`<p>${err.message}</p>`));
      logger.error({ err }, 'back-office request failed');
      if (!res.headersSent)
        send(res, 500, layout('Error', undefined, html`<p>Something went wrong. Look the result up before trying again.</p>`));
      else res.end();
    });
  });
}
