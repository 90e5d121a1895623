import * as grpc from '@grpc/grpc-js';
import { outgoingHeaders } from '@kfrm/observability';
import { deadlineToDate, type InProcessCall, type InProcessUnary } from '@kfrm/server-kit';

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
 * The caller's trace context (`traceparent`, `tracestate`) and request id (`x-request-id`) on
 * `metadata`, for an internal call; a header the caller set itself is kept.
 */
export function putCallerHeaders(metadata: grpc.Metadata): void {
  for (const [key, value] of Object.entries(outgoingHeaders())) {
    if (metadata.get(key).length === 0) metadata.set(key, value);
  }
}

/** How an in-process call ended, as a network client would report it. */
interface ClientOutcome {
  status: grpc.StatusObject;
  /** Response headers, when the listener answered. */
  headers?: grpc.Metadata;
  /** Set when the status is OK. */
  response?: unknown;
}

/**
 * One call to `serve` (the listener's in-process path), ended as a network client would end it:
 * DEADLINE_EXCEEDED at the deadline, also when the handler's own deadline timer failed it a
 * moment before ours; CANCELLED once `signal` aborts (the listener aborts the handler's signal
 * then, and its served call at the deadline); INTERNAL if the listener itself failed. Both
 * in-process paths end their calls here.
 */
function callAsClient(serve: InProcessUnary, call: InProcessCall): Promise<ClientOutcome> {
  const { deadline, signal } = call;
  if (signal?.aborted) return Promise.resolve({ status: statusOnly(grpc.status.CANCELLED, 'Cancelled on client') });
  const left = deadline ? deadline.getTime() - Date.now() : Number.POSITIVE_INFINITY;
  if (left <= 0) return Promise.resolve({ status: statusOnly(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded') });
  return new Promise<ClientOutcome>((resolve) => {
    let ended = false;
    const end = (outcome: ClientOutcome) => {
      if (ended) return;
      ended = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', cancel);
      resolve(outcome);
    };
    const timer = Number.isFinite(left)
      ? setTimeout(() => end({ status: statusOnly(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded') }), left)
      : undefined;
    const cancel = () => end({ status: statusOnly(grpc.status.CANCELLED, 'Cancelled on client') });
    signal?.addEventListener('abort', cancel, { once: true });
    serve(call).then(
      (result) => {
        if (result.status.code === grpc.status.OK)
          return end({ status: result.status, headers: result.metadata, response: result.response });
        // The handler's own deadline timer (same instant, its own clock reading) may fire just
        // before ours and fail the call: a failure at the deadline is DEADLINE_EXCEEDED, as a
        // network client reports whatever the server said after its own timer.
        const atDeadline = deadline !== undefined && Date.now() >= deadline.getTime() - DEADLINE_SLACK_MS;
        end(
          atDeadline
            ? { status: statusOnly(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded') }
            : { status: result.status, headers: result.metadata },
        );
      },
      (err: unknown) =>
        end({ status: statusOnly(grpc.status.INTERNAL, `in-process call failed: ${(err as Error)?.message ?? String(err)}`) }),
    );
  });
}

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
    const controller = new AbortController();
    const end = ({ status, headers, response }: ClientOutcome) => {
      if (ended) return;
      ended = true;
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
        void callAsClient(serve, { request, metadata, deadline, signal: controller.signal, caller }).then(end);
      },
      cancel() {
        // Also before halfClose, when no call has started to end it.
        controller.abort();
        end({ status: statusOnly(grpc.status.CANCELLED, 'Cancelled on client') });
      },
    });
  };
}

/** Clients whose calls to this process's own methods {@link directInProcessCall} may serve directly. */
const directRoutes = new WeakMap<grpc.Client, { resolve: InProcessResolver; caller: string | undefined }>();

/**
 * Lets `unaryCall` (internal-calls.ts) serve `client`'s calls to methods this process serves
 * without grpc-js's client at all: no call object, interceptor chain, metadata listeners or
 * caller-stack Error per call (about a quarter of an in-process call's CPU, bench/internal-calls.ts).
 * The client keeps {@link inProcessInterceptor} for calls made on it directly; both paths end
 * their calls the same way ({@link callAsClient}).
 */
export function routeInProcess(client: grpc.Client, resolve: InProcessResolver, caller?: string): void {
  directRoutes.set(client, { resolve, caller });
}

/**
 * The call `unaryCall` makes to `path` when `client` is routed in process and this process serves
 * it, else undefined: the caller's headers put on `metadata` (as the clients' propagation
 * interceptor does), then the listener's in-process path, ended as by {@link inProcessInterceptor}.
 * The answer is the status with, when OK, the response (copied through its encoding by the listener).
 */
export function directInProcessCall(
  client: grpc.Client,
  path: string,
):
  | ((
      request: unknown,
      options: { metadata: grpc.Metadata; timeoutMs: number; signal?: AbortSignal },
    ) => Promise<{ status: grpc.StatusObject; response?: unknown }>)
  | undefined {
  const route = directRoutes.get(client);
  if (!route) return undefined;
  const serve = route.resolve(path);
  if (!serve) return undefined;
  const caller = route.caller;
  return (request, { metadata, timeoutMs, signal }) => {
    putCallerHeaders(metadata);
    // No controller of our own: the listener aborts the handler's signal when `signal` aborts,
    // and its served call at the deadline.
    return callAsClient(serve, { request, metadata, deadline: new Date(Date.now() + timeoutMs), signal, caller });
  };
}
