import * as grpc from '@grpc/grpc-js';
import { outgoingHeaders } from '@kfrm/observability';
import { deadlineToDate, type InProcessUnary } from '@kfrm/server-kit';

/** The unary method at a full path, when this process serves it; else undefined (the call goes over the network). */
export type InProcessResolver = (path: string) => InProcessUnary | undefined;

/**
 * The bottom of an in-process call's interceptor chain: nothing below the interceptor is used
 * (no channel call is created), but grpc-js still asks it for the peer and to start reading.
 */
const noTransport: ConstructorParameters<typeof grpc.InterceptingCall>[0] = {
  cancelWithStatus() {},
  getPeer: () => 'in-process',
  start() {},
  sendMessageWithContext() {},
  sendMessage() {},
  startRead() {},
  halfClose() {},
  getAuthContext: () => null,
};

/** Timers of the same instant fire a few ms apart; see the deadline check in halfClose. */
const DEADLINE_SLACK_MS = 5;

const statusOnly = (code: grpc.status, details: string): grpc.StatusObject => ({ code, details, metadata: new grpc.Metadata() });

/**
 * A client interceptor that answers unary calls to methods this process serves by calling the
 * internal listener directly ({@link GrpcListener.inProcessUnary}) instead of through HTTP/2.
 * Put it last, after the interceptors that add headers (trace context, request id): it ends the
 * chain. The caller sees what a network call gives: response headers, the message, the status
 * with its details, DEADLINE_EXCEEDED at the deadline and CANCELLED on cancel (the server-side
 * handler's signal is aborted in both cases). Streaming methods and methods served elsewhere go
 * on over the network. `caller` is the calling service's name, the identity the internal guard
 * sees (set by the composition root, never by a header).
 */
export function inProcessInterceptor(resolve: InProcessResolver, caller?: string): grpc.Interceptor {
  return (options, nextCall) => {
    const method = options.method_definition;
    const serve = method.requestStream || method.responseStream ? undefined : resolve(method.path);
    if (!serve) return new grpc.InterceptingCall(nextCall(options));

    let listener: grpc.InterceptingListener | undefined;
    let metadata = new grpc.Metadata();
    let request: unknown;
    let ended = false;
    let timer: NodeJS.Timeout | undefined;
    const controller = new AbortController();
    const end = (status: grpc.StatusObject, headers?: grpc.Metadata, response?: unknown) => {
      if (ended) return;
      ended = true;
      if (timer) clearTimeout(timer);
      if (headers) listener?.onReceiveMetadata(headers);
      if (response !== undefined) listener?.onReceiveMessage(response);
      listener?.onReceiveStatus(status);
    };
    return new grpc.InterceptingCall(noTransport, {
      start(md, l) {
        metadata = md;
        listener = l;
      },
      sendMessage(message) {
        request = message;
      },
      halfClose() {
        const deadline = deadlineToDate(options.deadline);
        if (deadline) {
          const left = deadline.getTime() - Date.now();
          if (left <= 0) return end(statusOnly(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded'));
          timer = setTimeout(() => {
            controller.abort();
            end(statusOnly(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded'));
          }, left);
        }
        serve({ request, metadata, deadline, signal: controller.signal, caller }).then(
          (result) => {
            // The handler's own deadline timer (same instant, its own clock reading) may fire just
            // before ours and fail the call: a failure at the deadline is DEADLINE_EXCEEDED, as a
            // network client reports whatever the server said after its own timer.
            const atDeadline = deadline !== undefined && Date.now() >= deadline.getTime() - DEADLINE_SLACK_MS;
            if (atDeadline && result.status.code !== grpc.status.OK)
              return end(statusOnly(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded'));
            end(result.status, result.metadata, result.status.code === grpc.status.OK ? result.response : undefined);
          },
          (err: unknown) => end(statusOnly(grpc.status.INTERNAL, `in-process call failed: ${(err as Error)?.message ?? String(err)}`)),
        );
      },
      cancel() {
        controller.abort();
        end(statusOnly(grpc.status.CANCELLED, 'Cancelled on client'));
      },
    });
  };
}

/** Clients whose calls to this process's own methods {@link directInProcessCall} may serve directly. */
const directRoutes = new WeakMap<grpc.Client, { resolve: InProcessResolver; caller: string | undefined }>();

/**
 * Lets `unaryCall` (internal-calls.ts) serve `client`'s calls to methods this process serves
 * without grpc-js's client at all: no call object, interceptor chain, metadata listeners or
 * caller-stack Error per call (about a quarter of an in-process call's CPU, bench/internal-calls.ts). The client keeps
 * {@link inProcessInterceptor} for calls made on it directly; both paths answer alike.
 */
export function routeInProcess(client: grpc.Client, resolve: InProcessResolver, caller?: string): void {
  directRoutes.set(client, { resolve, caller });
}

/** What a direct in-process call gives back: the response, or the status a network client would report. */
export type DirectCallResult = { ok: true; response: unknown } | { ok: false; status: grpc.StatusObject };

/**
 * The call `unaryCall` makes to `path` when `client` is routed in process and this process serves
 * it, else undefined. What {@link inProcessInterceptor} does, without the grpc-js client around
 * it: the caller's trace context and request id as headers (a header already set is kept),
 * DEADLINE_EXCEEDED at the deadline and CANCELLED when `signal` aborts (the handler's signal
 * aborted in both cases), request and response copied through their encoding by the listener.
 */
export function directInProcessCall(
  client: grpc.Client,
  path: string,
):
  | ((request: unknown, options: { metadata: grpc.Metadata; timeoutMs: number; signal?: AbortSignal }) => Promise<DirectCallResult>)
  | undefined {
  const route = directRoutes.get(client);
  if (!route) return undefined;
  const serve = route.resolve(path);
  if (!serve) return undefined;
  const caller = route.caller;
  return (request, { metadata, timeoutMs, signal }) =>
    new Promise<DirectCallResult>((resolve) => {
      for (const [key, value] of Object.entries(outgoingHeaders())) {
        if (metadata.get(key).length === 0) metadata.set(key, value);
      }
      const deadline = new Date(Date.now() + timeoutMs);
      let ended = false;
      const end = (result: DirectCallResult) => {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', cancel);
        resolve(result);
      };
      // The served call aborts the handler's signal at the deadline itself (its own timer), and
      // when `signal` aborts (the listener watches it): no controller of our own is needed.
      const timer = setTimeout(() => end({ ok: false, status: statusOnly(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded') }), timeoutMs);
      const cancel = () => end({ ok: false, status: statusOnly(grpc.status.CANCELLED, 'Cancelled on client') });
      signal?.addEventListener('abort', cancel, { once: true });
      serve({ request, metadata, deadline, signal, caller }).then(
        (result) => {
          // As the interceptor: a failure at the deadline is DEADLINE_EXCEEDED.
          if (result.status.code === grpc.status.OK) return end({ ok: true, response: result.response });
          const atDeadline = Date.now() >= deadline.getTime() - DEADLINE_SLACK_MS;
          end({ ok: false, status: atDeadline ? statusOnly(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded') : result.status });
        },
        (err: unknown) =>
          end({ ok: false, status: statusOnly(grpc.status.INTERNAL, `in-process call failed: ${(err as Error)?.message ?? String(err)}`) }),
      );
    });
}
