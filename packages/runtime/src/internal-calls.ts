import * as grpc from '@grpc/grpc-js';
import { UpstreamRefusal, UpstreamUnavailableError, type SeedCode } from '@kfrm/errors';
import { apiErrorCode, codeName, type ApiErrorType } from '@kfrm/server-kit';
import { directInProcessCall } from './in-process-calls';

/**
 * Statuses after which the other service did not answer: unreachable, past the deadline,
 * cancelled, overloaded, or aborted after its own retries. Nothing was decided, so the caller
 * may retry; none of them is ever read as a refusal.
 */
export const OUTAGE_STATUSES: ReadonlySet<grpc.status> = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.CANCELLED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.ABORTED,
]);

export const DEFAULT_CALL_TIMEOUT_MS = 5_000;

/** The four-argument form of a generated grpc-js unary method. */
type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (err: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

/** The last overload of a generated unary method, which is the four-argument one. */
type FourArgs<F> = F extends (
  request: infer Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (err: grpc.ServiceError | null, response: infer Res) => void,
) => unknown
  ? { request: Req; response: Res }
  : never;

/** The names of a generated client's unary methods. */
export type UnaryMethodName<C> = { [K in keyof C]: [FourArgs<C[K]>] extends [never] ? never : K }[keyof C] & string;
type RequestOf<C, K extends keyof C> = FourArgs<C[K]>['request'];
type ResponseOf<C, K extends keyof C> = FourArgs<C[K]>['response'];

export interface UnaryCallOptions<Code extends SeedCode> {
  /** The callee method's ApiError: its seed codes come back as `UpstreamRefusal<Code>`. */
  errors?: ApiErrorType<Code>;
  /** Deadline from now (default 5 s): a lost answer becomes an outage, never a hang. */
  timeoutMs?: number;
  /** Cancels the call (an outage to the caller: nothing is decided by a cancelled call). */
  signal?: AbortSignal;
  /** Extra headers; trace context and request id are added by the clients' interceptor. */
  metadata?: grpc.Metadata;
}

/**
 * The one way a service calls another's unary method, on a client from `InternalClients`:
 * `await unaryCall(ledger, 'postTransfer', request, { errors: postTransferErrors })`.
 *
 * - Deadline: `timeoutMs` (default 5 s) on every call.
 * - Headers: `traceparent`, `tracestate` and `x-request-id` of the calling request are put on by
 *   the clients' `propagationInterceptor` (internal-clients.ts), which also routes calls to this
 *   process's own listener in-process (ADR 0004); this helper works on either path.
 * - Failures, decided here once for every caller:
 *   - an outage status (OUTAGE_STATUSES) → `UpstreamUnavailableError` (UNAVAILABLE if it escapes);
 *   - the callee's seed code (its ApiError detail, decoded with `errors`) → `UpstreamRefusal`
 *     with the typed code name, for the caller to translate;
 *   - anything else → the grpc-js `ServiceError` unchanged (a status without a seed code, e.g.
 *     NOT_FOUND or INVALID_ARGUMENT from a method that has no ApiError, or INTERNAL).
 */
export function unaryCall<C extends grpc.Client, K extends UnaryMethodName<C>, Code extends SeedCode = never>(
  client: C,
  method: K,
  request: RequestOf<C, K>,
  options: UnaryCallOptions<Code> = {},
): Promise<ResponseOf<C, K>> {
  const fn = client[method] as unknown as UnaryMethod<RequestOf<C, K>, ResponseOf<C, K>> & { path?: string };
  const direct = typeof fn?.path === 'string' ? directInProcessCall(client, fn.path) : undefined;
  if (direct) {
    if (options.signal?.aborted)
      return Promise.reject(new UpstreamUnavailableError(`${method}: cancelled before the call`, { cause: options.signal.reason }));
    return direct(request, {
      metadata: options.metadata ?? new grpc.Metadata(),
      timeoutMs: options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
      signal: options.signal,
    }).then(({ status, response }) => {
      if (status.code === grpc.status.OK) return response as ResponseOf<C, K>;
      throw callFailure(method, serviceError(status), options.errors);
    });
  }
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted)
      return reject(new UpstreamUnavailableError(`${method}: cancelled before the call`, { cause: options.signal.reason }));
    const call = fn.call(
      client,
      request,
      options.metadata ?? new grpc.Metadata(),
      { deadline: Date.now() + (options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS) },
      (err, response) => {
        options.signal?.removeEventListener('abort', cancel);
        if (!err) return resolve(response);
        reject(callFailure(method, err, options.errors));
      },
    );
    const cancel = () => call.cancel();
    options.signal?.addEventListener('abort', cancel, { once: true });
  });
}

/** A status as grpc-js's client reports it (its callErrorFromStatus): an Error with the status's fields. */
function serviceError(status: grpc.StatusObject): grpc.ServiceError {
  return Object.assign(new Error(`${status.code} ${grpc.status[status.code]}: ${status.details}`), status);
}

/** What a failed call rejects with (see unaryCall). */
export function callFailure<Code extends SeedCode>(method: string, err: grpc.ServiceError, errors: ApiErrorType<Code> | undefined): Error {
  const number = errors ? apiErrorCode(err, errors.message) : undefined;
  const code = errors && number !== undefined ? codeName(errors, number) : undefined;
  if (code !== undefined) return new UpstreamRefusal(code, err.details || code, { cause: err });
  if (OUTAGE_STATUSES.has(err.code))
    return new UpstreamUnavailableError(`${method} could not answer: ${grpc.status[err.code]}`, { cause: err });
  return err;
}

/** The status of a grpc-js error that unaryCall passed through, else undefined. */
export function grpcStatusOf(err: unknown): grpc.status | undefined {
  if (typeof err !== 'object' || err === null || err instanceof UpstreamRefusal || err instanceof UpstreamUnavailableError)
    return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}
