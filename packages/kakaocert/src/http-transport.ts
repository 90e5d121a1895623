/**
 * One HTTP exchange over node:http(s), with a deadline covering connect, send and body read.
 *
 * Why not fetch: we must know whether a failed request may have reached the server (a
 * VerifyCMS that reached it is consumed), and we want no hidden retries of any kind. Here a
 * failure before the TCP connection opened is reported as `maybeReachedServer: false`; any
 * later failure as true.
 */
import http from 'node:http';
import https from 'node:https';
import { gunzipSync } from 'node:zlib';
import { KakaocertTransportError } from './errors';

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: Buffer;
  timeoutMs: number;
  signal?: AbortSignal;
  /**
   * Connection pool to use; `false` opens a fresh connection. State-changing calls use a fresh
   * one: a pooled socket the server has just closed fails with ECONNRESET after we wrote the
   * request, which would turn a harmless race into "outcome unknown".
   */
  agent: http.Agent | false;
}

export interface HttpResponse {
  status: number;
  contentType: string;
  body: Buffer;
}

/** Answers are small JSON documents (signedData is at most 4096 characters). */
const MAX_BODY_BYTES = 1024 * 1024;

export function sendHttp(request: HttpRequest): Promise<HttpResponse> {
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal ? AbortSignal.any([timeout, request.signal]) : timeout;
  const transport = request.url.protocol === 'https:' ? https : http;

  return new Promise<HttpResponse>((resolve, reject) => {
    let maybeReachedServer = false;
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    const failure = (err: unknown): KakaocertTransportError => {
      if (signal.aborted) {
        const timedOut = timeout.aborted;
        return new KakaocertTransportError(
          timedOut ? 'timeout' : 'aborted',
          timedOut ? `no answer within ${request.timeoutMs} ms` : 'call cancelled by the caller',
          maybeReachedServer,
          { cause: err },
        );
      }
      const code = (err as { code?: string } | null)?.code;
      return new KakaocertTransportError('network', `connection failed${code ? ` (${code})` : ''}`, maybeReachedServer, { cause: err });
    };

    if (signal.aborted) {
      reject(failure(signal.reason));
      return;
    }

    const req = transport.request(
      request.url,
      { method: request.method, headers: request.headers, agent: request.agent, signal },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            settle(() => reject(new KakaocertTransportError('bad_response', 'answer too large', true, { httpStatus: res.statusCode })));
            req.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => settle(() => reject(failure(err))));
        res.on('aborted', () => settle(() => reject(failure(new Error('response aborted')))));
        // A socket closed mid-body emits 'close' without 'end' on some paths.
        res.on('close', () => {
          if (!res.complete) settle(() => reject(failure(new Error('response closed before its end'))));
        });
        res.on('end', () => {
          if (!res.complete) {
            settle(() => reject(failure(new Error('response incomplete'))));
            return;
          }
          let body = Buffer.concat(chunks);
          try {
            if (res.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
          } catch (err) {
            settle(() =>
              reject(
                new KakaocertTransportError('bad_response', 'answer is not valid gzip', true, { cause: err, httpStatus: res.statusCode }),
              ),
            );
            return;
          }
          settle(() => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body }));
        });
      },
    );
    req.on('socket', (socket) => {
      // A reused keep-alive socket is already connected: the request may reach the server.
      if (!socket.connecting) maybeReachedServer = true;
      else socket.once('connect', () => (maybeReachedServer = true));
    });
    req.on('error', (err) => settle(() => reject(failure(err))));
    req.end(request.body);
  });
}
