/**
 * A local stand-in for kakaoCert CMS and the Linkhub auth host, over real HTTP, for tests and
 * for the embedded default. Two listeners, as in production (auth.linkhub.co.kr and
 * kakaocert-api.linkhub.co.kr), so a client that mixes the base URLs fails here too.
 *
 * Auth host:     POST /KAKAOCERT/Token, GET /Time
 * Service host:  POST /SignDirectDebit/Request, GET /SignDirectDebit/Status/{id},
 *                GET /SignDirectDebit/Verify/{id}
 * Control API (service host, no auth; stands in for the user and for failures):
 *                POST /__sandbox/sign/{id}, POST /__sandbox/view/{id}, GET /__sandbox/receipts/{id},
 *                POST /__sandbox/faults, DELETE /__sandbox/faults, GET /__sandbox/calls,
 *                POST /__sandbox/revoke-tokens
 * See the package README for the error codes (sandbox-error-codes.ts) and fault kinds.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@kfrm/logging';
import { CmsStateMachine, kstDateTime, type SandboxClient, type SandboxReceipt } from './cms-state-machine';
import { SandboxAuth } from './sandbox-auth';
import { SANDBOX_ERRORS, type SandboxErrorName } from './sandbox-error-codes';
import { checkRequestCMS } from './sandbox-request-check';
import { createSandboxSigner } from './sandbox-signer';
import { consentSignedContent } from '../consent-signed-content';

/**
 * Ways the next VerifyCMS answer's signedData can be wrong, for tests of the evidence check:
 * tampered (a byte of the signature changed), foreign_signer (a certificate from another CA with
 * the same name), other_content (a valid signature over another account number).
 */
export type EvidenceCorruption = 'tampered' | 'foreign_signer' | 'other_content';

export type SandboxRoute = 'token' | 'request' | 'status' | 'verify';

export interface SandboxFault {
  route: SandboxRoute;
  /**
   * delay:     wait `delayMs` (then answer normally) — forces client timeouts
   * http500:   500 with a JSON {code: -99000500, message}
   * non_json:  `status` (default 502) with an HTML body, as a proxy would send
   * reset:     destroy the connection without an answer
   */
  kind: 'delay' | 'http500' | 'non_json' | 'reset';
  /**
   * before (default): the fault happens instead of/before processing; nothing changes.
   * after:            the call is processed (a VerifyCMS is consumed), then the answer is
   *                   delayed, replaced or lost — the case that makes the outcome unknown.
   */
  phase?: 'before' | 'after';
  delayMs?: number;
  status?: number;
  /** How many matching calls it applies to. Default 1. */
  times?: number;
}

export interface KakaocertSandboxOptions {
  /** Service host port; 0 (default) picks a free one. */
  port?: number;
  /** Auth host port; 0 (default) picks a free one. */
  authPort?: number;
  host?: string;
  /** Milliseconds since the epoch; inject to move time in tests (expiry, token lifetime). */
  clock?: () => number;
  linkId?: string;
  secretKey?: string;
  clients?: SandboxClient[];
  tokenTtlSeconds?: number;
  /** Allowed difference between x-lh-date and the sandbox clock. Default 300 s. */
  dateSkewSeconds?: number;
  /**
   * Stands in for the user: each consent is signed this long after it was requested (the embedded
   * backend's default, so the app simulator can link an account). Absent or 0: never on its own;
   * tests and people sign through sign() or POST /__sandbox/sign/{receiptId}.
   */
  signAfterMs?: number;
  logger?: Logger;
}

export interface KakaocertSandbox {
  /** Base URL of the kakaoCert service host (serviceUrl of the client). */
  url: string;
  /** Base URL of the Linkhub auth host (authUrl of the client). */
  authUrl: string;
  linkId: string;
  secretKey: string;
  /** The first registered client code. */
  clientCode: string;
  /** PEM of the sandbox CA that issues the signer certificate: the trust anchor for its evidence. */
  caCertificatePem: string;
  /** The next VerifyCMS answer carries signedData made wrong this way (tests of the evidence check). */
  corruptNextEvidence(corruption: EvidenceCorruption): void;
  /** The user signs in KakaoTalk. Throws if the receipt is unknown, expired or already signed. */
  sign(receiptId: string): void;
  /** The user opens the message (sets viewDT). */
  view(receiptId: string): void;
  injectFault(fault: SandboxFault): void;
  clearFaults(): void;
  /** Calls received per route, counted on arrival (before faults). */
  calls(): Record<SandboxRoute, number>;
  receipt(receiptId: string): (SandboxReceipt & { state: 0 | 1 | 2 }) | undefined;
  /** Raw body of the last RequestCMS received (to check what a client really sent). */
  lastRequestBody(): string | undefined;
  /** Forget every issued session token (as if the server restarted or revoked them). */
  revokeTokens(): void;
  /** Live session tokens, for tests that check they never reach a log. */
  sessionTokens(): string[];
  close(): Promise<void>;
}

/** Fixed sandbox credentials: not secret, usable only against the sandbox. */
export const SANDBOX_LINK_ID = 'KFRMSANDBOX';
export const SANDBOX_SECRET_KEY = Buffer.from('kfrm-sandbox-secret-key-for-kakaocert').toString('base64');
export const SANDBOX_CLIENT_CODE = '020040000001';
export const SANDBOX_SUB_CLIENT_ID = 'SUB000000001';

const MAX_BODY_BYTES = 64 * 1024;

class SandboxError extends Error {
  constructor(
    readonly error: SandboxErrorName,
    readonly detail?: string,
  ) {
    super(SANDBOX_ERRORS[error].message);
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new SandboxError('FIELD_INVALID', 'body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function listen(server: http.Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      resolve(`http://${host}:${address.port}`);
    });
  });
}

export async function startKakaocertSandbox(options: KakaocertSandboxOptions = {}): Promise<KakaocertSandbox> {
  const clock = options.clock ?? Date.now;
  const host = options.host ?? '127.0.0.1';
  const linkId = options.linkId ?? SANDBOX_LINK_ID;
  const secretKey = options.secretKey ?? SANDBOX_SECRET_KEY;
  const clientList = options.clients ?? [
    { clientCode: SANDBOX_CLIENT_CODE, clientName: 'KFRM 샌드박스', subClients: { [SANDBOX_SUB_CLIENT_ID]: 'KFRM 자동충전' } },
  ];
  const clients = new Map(clientList.map((c) => [c.clientCode, c]));
  const auth = new SandboxAuth({
    credentials: new Map([[linkId, secretKey]]),
    clock,
    tokenTtlMs: (options.tokenTtlSeconds ?? 3600) * 1000,
    dateSkewMs: (options.dateSkewSeconds ?? 300) * 1000,
  });
  const machine = new CmsStateMachine(clock, clients);
  const signer = await createSandboxSigner(new Date(clock()));
  const corruptions: EvidenceCorruption[] = [];
  const counts: Record<SandboxRoute, number> = { token: 0, request: 0, status: 0, verify: 0 };
  let faults: (SandboxFault & { remaining: number })[] = [];
  let lastRequestBody: string | undefined;
  const timers = new Set<NodeJS.Timeout>();
  const log = options.logger;

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  function takeFault(route: SandboxRoute): SandboxFault | undefined {
    const fault = faults.find((f) => f.route === route && f.remaining > 0);
    if (fault) fault.remaining -= 1;
    faults = faults.filter((f) => f.remaining > 0);
    return fault;
  }

  function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
    if (res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json;charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  function sendError(res: http.ServerResponse, error: SandboxErrorName, detail?: string): void {
    const e = SANDBOX_ERRORS[error];
    sendJson(res, e.status, { code: e.code, message: detail ? `${e.message}: ${detail}` : e.message });
  }

  /** Applies `fault` (if any, for `phase`); returns true when the answer was taken over. */
  async function applyFault(fault: SandboxFault | undefined, phase: 'before' | 'after', res: http.ServerResponse): Promise<boolean> {
    if (!fault || (fault.phase ?? 'before') !== phase) return false;
    switch (fault.kind) {
      case 'delay':
        await wait(fault.delayMs ?? 1000);
        return false;
      case 'http500':
        sendError(res, 'INTERNAL');
        return true;
      case 'non_json': {
        const html = '<html><body><h1>502 Bad Gateway</h1></body></html>';
        if (!res.destroyed) {
          res.writeHead(fault.status ?? 502, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(html) });
          res.end(html);
        }
        return true;
      }
      case 'reset':
        res.socket?.resetAndDestroy();
        return true;
    }
  }

  /** Runs `handler` between the route's before- and after-faults. */
  async function withFaults(
    route: SandboxRoute,
    res: http.ServerResponse,
    handler: () => Promise<{ status: number; body: unknown }> | { status: number; body: unknown },
  ): Promise<void> {
    counts[route] += 1;
    const fault = takeFault(route);
    if (await applyFault(fault, 'before', res)) return;
    let answer: { status: number; body: unknown };
    try {
      answer = await handler();
    } catch (err) {
      if (!(err instanceof SandboxError)) throw err;
      const e = SANDBOX_ERRORS[err.error];
      answer = { status: e.status, body: { code: e.code, message: err.detail ? `${e.message}: ${err.detail}` : e.message } };
    }
    if (await applyFault(fault, 'after', res)) return;
    sendJson(res, answer.status, answer.body);
  }

  // ---- auth host ---------------------------------------------------------------------------
  async function handleAuth(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://sandbox').pathname;
    if (req.method === 'GET' && path === '/Time') {
      // Like Linkhub's /Time (used by SDKs that do not trust the local clock).
      const text = new Date(clock()).toISOString().replace(/\.\d{3}Z$/, 'Z');
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(text);
      return;
    }
    if (req.method !== 'POST' || path !== '/KAKAOCERT/Token') return sendError(res, 'NO_SUCH_API');
    const body = await readBody(req);
    await withFaults('token', res, () => {
      const signer = auth.checkTokenRequest(req.headers, path, body);
      if (!signer.ok) throw new SandboxError(signer.error);
      let parsed: { access_id?: unknown; scope?: unknown };
      try {
        parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
      } catch {
        throw new SandboxError('AUTH_BODY_INVALID');
      }
      const scope = parsed?.scope;
      if (typeof parsed?.access_id !== 'string' || !Array.isArray(scope) || !scope.every((s) => typeof s === 'string')) {
        throw new SandboxError('AUTH_BODY_INVALID');
      }
      if (!clients.has(parsed.access_id)) throw new SandboxError('AUTH_CLIENT_UNKNOWN');
      const token = auth.issue(signer.value, parsed.access_id, scope as string[]);
      return {
        status: 200,
        body: {
          session_token: token.sessionToken,
          serviceID: 'KAKAOCERT',
          linkID: token.linkId,
          usercode: token.clientCode,
          ipaddress: req.socket.remoteAddress ?? '',
          expiration: new Date(token.expiresAtMs).toISOString(),
          scope: token.scope,
        },
      };
    });
  }

  // ---- service host ------------------------------------------------------------------------
  async function handleService(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://sandbox').pathname;
    const body = await readBody(req);
    if (path.startsWith('/__sandbox/')) return handleControl(req.method ?? 'GET', path, body, res);

    const route: SandboxRoute | undefined =
      req.method === 'POST' && path === '/SignDirectDebit/Request'
        ? 'request'
        : req.method === 'GET' && path.startsWith('/SignDirectDebit/Status/')
          ? 'status'
          : req.method === 'GET' && path.startsWith('/SignDirectDebit/Verify/')
            ? 'verify'
            : undefined;
    if (!route) return sendError(res, 'NO_SUCH_API');
    const receiptId = decodeURIComponent(path.split('/')[3] ?? '');

    await withFaults(route, res, async () => {
      const caller = auth.checkServiceCall(req.headers, req.method ?? 'GET', body);
      if (!caller.ok) throw new SandboxError(caller.error);
      const clientCode = caller.value.clientCode;
      switch (route) {
        case 'request': {
          lastRequestBody = body.toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(lastRequestBody);
          } catch {
            throw new SandboxError('BODY_NOT_JSON');
          }
          const checked = checkRequestCMS(parsed);
          if (!checked.ok) throw new SandboxError(checked.error, checked.field);
          const created = machine.create(clientCode, checked.value);
          if (!created.ok) throw new SandboxError(created.error);
          log?.info({ receipt_id: created.value.receiptId, client_code: clientCode }, 'kakaocert sandbox: CMS requested');
          if (options.signAfterMs) {
            const receiptIdToSign = created.value.receiptId;
            const t = setTimeout(() => {
              timers.delete(t);
              // Expired or signed through the control API meanwhile: nothing to do.
              if (machine.sign(receiptIdToSign).ok) log?.info({ receipt_id: receiptIdToSign }, 'kakaocert sandbox: signed on its own');
            }, options.signAfterMs);
            t.unref();
            timers.add(t);
          }
          return { status: 200, body: { receiptId: created.value.receiptId } };
        }
        case 'status': {
          const receipt = machine.get(receiptId, clientCode);
          if (!receipt) throw new SandboxError('RECEIPT_NOT_FOUND');
          return { status: 200, body: machine.resultCMS(receipt) };
        }
        case 'verify': {
          const verified = machine.verify(clientCode, receiptId);
          if (!verified.ok) throw new SandboxError(verified.error);
          const receipt = verified.value;
          const corruption = corruptions.shift();
          const terms =
            corruption === 'other_content'
              ? { ...receipt.request, BankAccountNum: receipt.request.BankAccountNum.replace(/\d$/, (d) => String((Number(d) + 1) % 10)) }
              : receipt.request;
          const der = await signer.sign(consentSignedContent(receipt.clientCode, terms), new Date(receipt.signedAtMs!), {
            as: corruption === 'foreign_signer' ? 'foreign' : 'sandbox',
          });
          // The last byte of the DER is the last byte of the signature value.
          if (corruption === 'tampered') der[der.length - 1] = der[der.length - 1]! ^ 0x01;
          return { status: 200, body: { receiptId: receipt.receiptId, signedData: Buffer.from(der).toString('base64url') } };
        }
      }
    });
  }

  function controlResult(
    res: http.ServerResponse,
    result: { ok: true; value: SandboxReceipt } | { ok: false; error: SandboxErrorName },
  ): void {
    if (!result.ok) return sendError(res, result.error);
    sendJson(res, 200, { receiptId: result.value.receiptId, state: machine.state(result.value) });
  }

  function handleControl(method: string, path: string, body: Buffer, res: http.ServerResponse): void {
    const [, , action, id] = path.split('/');
    if (method === 'POST' && action === 'sign' && id) return controlResult(res, machine.sign(id));
    if (method === 'POST' && action === 'view' && id) return controlResult(res, machine.view(id));
    if (method === 'GET' && action === 'receipts' && id) {
      const receipt = machine.get(id);
      if (!receipt) return sendError(res, 'RECEIPT_NOT_FOUND');
      return sendJson(res, 200, machine.resultCMS(receipt));
    }
    if (method === 'GET' && action === 'calls') return sendJson(res, 200, counts);
    if (method === 'POST' && action === 'revoke-tokens') {
      auth.revokeAll();
      return sendJson(res, 200, {});
    }
    if (action === 'faults' && method === 'DELETE') {
      faults = [];
      return sendJson(res, 200, {});
    }
    if (action === 'faults' && method === 'POST') {
      try {
        handle.injectFault(JSON.parse(body.toString('utf8')) as SandboxFault);
      } catch (err) {
        return sendJson(res, 400, { code: SANDBOX_ERRORS.FIELD_INVALID.code, message: (err as Error).message });
      }
      return sendJson(res, 200, {});
    }
    sendError(res, 'NO_SUCH_API');
  }

  const serve =
    (handler: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>) =>
    (req: http.IncomingMessage, res: http.ServerResponse) => {
      handler(req, res).catch((err: unknown) => {
        if (err instanceof SandboxError) return sendError(res, err.error, err.detail);
        log?.error({ err }, 'kakaocert sandbox: handler failed');
        if (!res.headersSent) sendError(res, 'INTERNAL');
        else res.destroy();
      });
    };

  const authServer = http.createServer(serve(handleAuth));
  const serviceServer = http.createServer(serve(handleService));
  const authUrl = await listen(authServer, options.authPort ?? 0, host);
  let url: string;
  try {
    url = await listen(serviceServer, options.port ?? 0, host);
  } catch (err) {
    authServer.close();
    throw err;
  }

  const handle: KakaocertSandbox = {
    url,
    authUrl,
    linkId,
    secretKey,
    clientCode: clientList[0]?.clientCode ?? '',
    caCertificatePem: signer.caCertificatePem,
    corruptNextEvidence(corruption) {
      corruptions.push(corruption);
    },
    sign(receiptId) {
      const result = machine.sign(receiptId);
      if (!result.ok) throw new Error(`sandbox sign(${receiptId}) refused: ${SANDBOX_ERRORS[result.error].message}`);
    },
    view(receiptId) {
      const result = machine.view(receiptId);
      if (!result.ok) throw new Error(`sandbox view(${receiptId}) refused: ${SANDBOX_ERRORS[result.error].message}`);
    },
    injectFault(fault) {
      const routes: SandboxRoute[] = ['token', 'request', 'status', 'verify'];
      if (!routes.includes(fault.route)) throw new Error(`unknown route ${String(fault.route)}`);
      if (!['delay', 'http500', 'non_json', 'reset'].includes(fault.kind)) throw new Error(`unknown fault kind ${String(fault.kind)}`);
      faults.push({ ...fault, remaining: fault.times ?? 1 });
    },
    clearFaults() {
      faults = [];
    },
    calls: () => ({ ...counts }),
    receipt(receiptId) {
      const receipt = machine.get(receiptId);
      return receipt && { ...receipt, state: machine.state(receipt) };
    },
    lastRequestBody: () => lastRequestBody,
    revokeTokens: () => auth.revokeAll(),
    sessionTokens: () => auth.issuedTokens(),
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.all(
        [authServer, serviceServer].map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeAllConnections();
            }),
        ),
      );
    },
  };
  log?.info({ url, auth_url: authUrl, started_at: kstDateTime(clock()) }, 'kakaocert sandbox listening');
  return handle;
}
