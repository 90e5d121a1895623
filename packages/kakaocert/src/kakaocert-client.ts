/**
 * A typed kakaoCert CMS client speaking the same HTTP protocol as the public `kakaocert` npm
 * SDK (Linkhub token auth, Bearer token, x-kc-auth on POSTs), without its defects: every
 * field given is sent (the SDK's JSON replacer drops false, 0 and ''), every call has a
 * deadline, socket errors and non-JSON bodies become typed errors, and VerifyCMS is never
 * retried (kakaoCert answers it once).
 *
 *   requestCMS   POST /SignDirectDebit/Request          → receiptId
 *   getCMSState  GET  /SignDirectDebit/Status/{id}      → ResultCMS   (retried on transport errors)
 *   verifyCMS    GET  /SignDirectDebit/Verify/{id}      → VerifyResult (never retried)
 */
import http from 'node:http';
import type { Logger } from '@kfrm/logging';
import { KakaocertError, KakaocertTransportError, OutcomeUnknownError } from './errors';
import { sendHttp, type HttpResponse } from './http-transport';
import { kcAuthHeader, LINKHUB_API_VERSION } from './linkhub-signature';
import { fetchLinkhubToken, KAKAOCERT_SCOPES } from './linkhub-auth';
import { maskedRequestFields, signedDataFingerprint } from './masking';
import { errorFromResponse, jsonObject, parseReceipt, parseResultCMS, parseVerifyResult } from './response-parsing';
import { TokenCache } from './token-cache';
import type { CallOptions, RequestCMS, ResultCMS, VerifyResult } from './types';
import { validateClientCode, validateReceiptId, validateRequestCMS } from './validate-request-cms';

export const KAKAOCERT_SERVICE_URL = 'https://kakaocert-api.linkhub.co.kr';
export const LINKHUB_AUTH_URL = 'https://auth.linkhub.co.kr';

export interface KakaocertTimeouts {
  tokenMs: number;
  requestMs: number;
  statusMs: number;
  verifyMs: number;
}

/**
 * Told once per HTTP exchange (metrics), token requests included (operation 'LinkhubToken').
 * `outcome` is 'ok', 'http_4xx', 'http_5xx', a transport failure kind (timeout, aborted,
 * network, bad_response) or 'error': a small fixed set.
 */
export type KakaocertCallObserver = (event: { operation: Operation | 'LinkhubToken'; outcome: string; seconds: number }) => void;

export interface KakaocertClientOptions {
  /** 링크아이디 issued by Linkhub. */
  linkId: string;
  /** 비밀키, base64 as issued. Never logged. */
  secretKey: string;
  /** kakaoCert API base URL (the sandbox's `url` in tests). */
  serviceUrl?: string;
  /** Linkhub auth base URL (the sandbox's `authUrl` in tests). */
  authUrl?: string;
  timeouts?: Partial<KakaocertTimeouts>;
  /** Extra attempts of GetCMSState after a transport error or a 5xx. Default 2. */
  statusRetries?: number;
  /** Pause before such a retry, times the attempt number. Default 250 ms. */
  retryDelayMs?: number;
  /** Refresh a token this long before it expires. Default 60 s. */
  tokenRefreshMarginMs?: number;
  /** Sent as x-lh-forwarded and signed (the SDK's IPRestrictOnOff=false sends '*'). */
  forwardIp?: string;
  /** Milliseconds since the epoch; injectable so tests can move time. */
  now?: () => number;
  logger?: Logger;
  observer?: KakaocertCallObserver;
}

export interface KakaocertClient {
  /** 1.1 RequestCMS: sends the consent request to the user's KakaoTalk; returns 접수아이디. */
  requestCMS(clientCode: string, request: RequestCMS, options?: CallOptions): Promise<string>;
  /** 2.1 GetCMSState. Poll every 3-5 s; verify only when `state` is 1. */
  getCMSState(clientCode: string, receiptId: string, options?: CallOptions): Promise<ResultCMS>;
  /**
   * 3.1 VerifyCMS: callable once per receipt. Store `signedData` before acknowledging anything.
   * A lost answer raises OutcomeUnknownError; it is never retried here.
   */
  verifyCMS(clientCode: string, receiptId: string, options?: CallOptions): Promise<VerifyResult>;
  /** Closes pooled connections. */
  close(): void;
}

const DEFAULT_TIMEOUTS: KakaocertTimeouts = { tokenMs: 5_000, requestMs: 10_000, statusMs: 5_000, verifyMs: 10_000 };

type Operation = 'RequestCMS' | 'GetCMSState' | 'VerifyCMS';

/** Waits for `promise`, but gives up when the caller's signal aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new KakaocertTransportError('aborted', 'call cancelled by the caller', false));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new KakaocertTransportError('aborted', 'call cancelled by the caller', false));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof KakaocertError) return { error_code: err.code, http_status: err.httpStatus, error: err.name };
  if (err instanceof KakaocertTransportError)
    return { error: err.name, kind: err.kind, maybe_reached_server: err.maybeReachedServer, http_status: err.httpStatus };
  if (err instanceof OutcomeUnknownError) return { error: err.name };
  return { error: 'unexpected' };
}

function outcomeOf(err: unknown): string {
  if (err instanceof KakaocertTransportError) return err.kind;
  if (err instanceof KakaocertError && err.httpStatus !== undefined) return err.httpStatus >= 500 ? 'http_5xx' : 'http_4xx';
  return 'error';
}

export function createKakaocertClient(options: KakaocertClientOptions): KakaocertClient {
  if (!options.linkId) throw new Error('kakaocert: linkId is required');
  if (!options.secretKey || Buffer.from(options.secretKey, 'base64').length === 0) {
    throw new Error('kakaocert: secretKey (base64) is required');
  }
  const serviceUrl = new URL(options.serviceUrl ?? KAKAOCERT_SERVICE_URL);
  const authUrl = new URL(options.authUrl ?? LINKHUB_AUTH_URL);
  const timeouts: KakaocertTimeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const statusRetries = options.statusRetries ?? 2;
  const retryDelayMs = options.retryDelayMs ?? 250;
  const now = options.now ?? Date.now;
  const log = options.logger;
  const observe = (operation: Operation | 'LinkhubToken', outcome: string, started: number) => {
    try {
      options.observer?.({ operation, outcome, seconds: (performance.now() - started) / 1000 });
    } catch {
      // Metrics must never fail a consent call.
    }
  };
  // Pooled connections for reads and token fetches; state-changing calls open their own.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  const tokens = new TokenCache({
    now,
    refreshMarginMs: options.tokenRefreshMarginMs ?? 60_000,
    fetchToken: async (clientCode) => {
      const started = performance.now();
      try {
        const token = await fetchLinkhubToken({
          authUrl,
          linkId: options.linkId,
          secretKey: options.secretKey,
          clientCode,
          scopes: KAKAOCERT_SCOPES,
          xDate: new Date(now()).toISOString(),
          timeoutMs: timeouts.tokenMs,
          forwardIp: options.forwardIp,
          agent,
        });
        log?.info(
          {
            op: 'LinkhubToken',
            client_code: clientCode,
            expires_at: token.expiration,
            duration_ms: Math.round(performance.now() - started),
          },
          'kakaocert token issued',
        );
        observe('LinkhubToken', 'ok', started);
        return token;
      } catch (err) {
        observe('LinkhubToken', outcomeOf(err), started);
        log?.warn({ op: 'LinkhubToken', client_code: clientCode, ...errorFields(err) }, 'kakaocert token request failed');
        throw err;
      }
    },
    onUncacheable: (clientCode) =>
      log?.warn({ op: 'LinkhubToken', client_code: clientCode }, 'kakaocert token has no parseable expiration; not cached'),
  });

  /**
   * One authenticated exchange. Token errors surface as they are (the service call was never
   * sent); errors of the service exchange itself are returned to the caller to classify.
   */
  async function exchange(input: {
    clientCode: string;
    method: 'GET' | 'POST';
    path: string;
    body?: Buffer;
    timeoutMs: number;
    signal?: AbortSignal;
    pooled: boolean;
  }): Promise<{ token: string; response: () => Promise<HttpResponse> }> {
    const token = await untilAborted(tokens.get(input.clientCode), input.signal);
    const headers: Record<string, string> = {
      Authorization: `Bearer ${token}`,
      Accept: 'application/json',
      'Accept-Encoding': 'gzip',
    };
    if (input.method === 'POST') {
      const body = input.body ?? Buffer.alloc(0);
      const xDate = new Date(now()).toISOString();
      headers['x-lh-date'] = xDate;
      headers['x-lh-version'] = LINKHUB_API_VERSION;
      headers['x-kc-auth'] = kcAuthHeader({ linkId: options.linkId, secretKey: options.secretKey, body, xDate });
      headers['Content-Type'] = 'application/json;charset=utf-8';
      headers['Content-Length'] = String(body.length);
    }
    const url = new URL(input.path, serviceUrl);
    return {
      token,
      response: () =>
        sendHttp({
          method: input.method,
          url,
          headers,
          body: input.body,
          timeoutMs: input.timeoutMs,
          signal: input.signal,
          agent: input.pooled ? agent : false,
        }),
    };
  }

  /** Sends, then turns a non-200 into an error; a 401 also drops the refused token. */
  async function call(
    op: Operation,
    clientCode: string,
    method: 'GET' | 'POST',
    path: string,
    callOptions: CallOptions | undefined,
    defaultTimeoutMs: number,
    body?: Buffer,
  ): Promise<{ sent: () => Promise<Record<string, unknown>> }> {
    const prepared = await exchange({
      clientCode,
      method,
      path,
      body,
      timeoutMs: callOptions?.timeoutMs ?? defaultTimeoutMs,
      signal: callOptions?.signal,
      pooled: op === 'GetCMSState',
    });
    return {
      sent: async () => {
        const started = performance.now();
        let response: HttpResponse;
        try {
          response = await prepared.response();
        } catch (err) {
          observe(op, outcomeOf(err), started);
          throw err;
        }
        observe(op, response.status === 200 ? 'ok' : response.status >= 500 ? 'http_5xx' : 'http_4xx', started);
        if (response.status === 200) return jsonObject(response);
        if (response.status === 401) tokens.invalidate(clientCode, prepared.token);
        throw errorFromResponse(response);
      },
    };
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  return {
    async requestCMS(clientCode, request, callOptions) {
      validateClientCode(clientCode);
      const body = validateRequestCMS(request, new Date(now()));
      const started = performance.now();
      const logFields = { op: 'RequestCMS', client_code: clientCode, ...maskedRequestFields(body) };
      // Plain JSON.stringify: false, 0 and '' are sent (the SDK's replacer drops them, so
      // isVerifyNameYN: false never reached the server).
      const bytes = Buffer.from(JSON.stringify(body), 'utf8');
      try {
        const prepared = await call('RequestCMS', clientCode, 'POST', '/SignDirectDebit/Request', callOptions, timeouts.requestMs, bytes);
        let receiptId: string;
        try {
          receiptId = parseReceipt(await prepared.sent());
        } catch (err) {
          if (err instanceof KakaocertTransportError && err.maybeReachedServer) {
            // A KakaoTalk message may have been sent. Not retried: a second request would send
            // a second message; the lost one expires unsigned after Expires_in.
            throw new OutcomeUnknownError('RequestCMS', undefined, 'RequestCMS may have been accepted; its receipt id was not received', {
              cause: err,
            });
          }
          throw err;
        }
        log?.info(
          { ...logFields, receipt_id: receiptId, duration_ms: Math.round(performance.now() - started) },
          'kakaocert RequestCMS accepted',
        );
        return receiptId;
      } catch (err) {
        log?.warn(
          { ...logFields, duration_ms: Math.round(performance.now() - started), ...errorFields(err) },
          'kakaocert RequestCMS failed',
        );
        throw err;
      }
    },

    async getCMSState(clientCode, receiptId, callOptions) {
      validateClientCode(clientCode);
      validateReceiptId(receiptId);
      const path = `/SignDirectDebit/Status/${receiptId}`;
      let tokenRetried = false;
      for (let attempt = 0; ; attempt++) {
        const started = performance.now();
        try {
          const prepared = await call('GetCMSState', clientCode, 'GET', path, callOptions, timeouts.statusMs);
          const result = parseResultCMS(await prepared.sent());
          log?.debug(
            {
              op: 'GetCMSState',
              client_code: clientCode,
              receipt_id: receiptId,
              state: result.state,
              duration_ms: Math.round(performance.now() - started),
            },
            'kakaocert GetCMSState',
          );
          return result;
        } catch (err) {
          // A read changes nothing: retry transport failures (not the caller's own abort) and
          // server errors, and a refused token once with a fresh one.
          const transient =
            attempt < statusRetries &&
            ((err instanceof KakaocertTransportError && err.kind !== 'aborted') ||
              (err instanceof KakaocertError && (err.httpStatus ?? 0) >= 500));
          const staleToken = err instanceof KakaocertError && err.httpStatus === 401 && !tokenRetried;
          log?.warn(
            {
              op: 'GetCMSState',
              client_code: clientCode,
              receipt_id: receiptId,
              attempt,
              will_retry: transient || staleToken,
              ...errorFields(err),
            },
            'kakaocert GetCMSState failed',
          );
          if (staleToken) {
            tokenRetried = true;
            continue;
          }
          if (!transient) throw err;
          if (retryDelayMs > 0) await sleep(retryDelayMs * (attempt + 1));
        }
      }
    },

    async verifyCMS(clientCode, receiptId, callOptions) {
      validateClientCode(clientCode);
      validateReceiptId(receiptId);
      const started = performance.now();
      const logFields = { op: 'VerifyCMS', client_code: clientCode, receipt_id: receiptId };
      try {
        // Token errors surface unchanged: the verify request itself was never sent.
        const prepared = await call('VerifyCMS', clientCode, 'GET', `/SignDirectDebit/Verify/${receiptId}`, callOptions, timeouts.verifyMs);
        let result: VerifyResult;
        try {
          result = parseVerifyResult(await prepared.sent());
        } catch (err) {
          if (err instanceof KakaocertTransportError && err.maybeReachedServer) {
            throw new OutcomeUnknownError('VerifyCMS', receiptId, 'VerifyCMS may have been processed; its answer was not received', {
              cause: err,
            });
          }
          throw err;
        }
        if (result.receiptId !== receiptId) {
          // The signature of another receipt must never be stored as this one's evidence.
          throw new OutcomeUnknownError('VerifyCMS', receiptId, 'VerifyCMS answered for a different receipt');
        }
        log?.info(
          { ...logFields, ...signedDataFingerprint(result.signedData), duration_ms: Math.round(performance.now() - started) },
          'kakaocert VerifyCMS succeeded',
        );
        return result;
      } catch (err) {
        log?.warn(
          { ...logFields, duration_ms: Math.round(performance.now() - started), ...errorFields(err) },
          'kakaocert VerifyCMS failed',
        );
        throw err;
      }
    },

    close() {
      agent.destroy();
    },
  };
}
