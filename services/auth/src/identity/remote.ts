import { Metadata, status, type CallOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { DependencyUnavailableError, DomainError, InvalidArgumentError } from '@kfrm/errors';
import { apiErrorCode, type ApiErrorMessage } from '@kfrm/server-kit';

/** Another service could not answer (UNAVAILABLE): an identity check that cannot be made is never a pass. */
export class UpstreamUnavailableError extends DependencyUnavailableError {
  override name = 'UpstreamUnavailableError';
}

const OUTAGE = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED, status.RESOURCE_EXHAUSTED, status.ABORTED]);

type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (err: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

export interface RemoteErrors {
  message: ApiErrorMessage;
  /** The generated ErrorCode enum (number → name). */
  codes: Readonly<Record<string | number, string | number>>;
}

/**
 * Calls another service's internal method. Its seed error (from the method's ApiError detail)
 * comes back as a DomainError with the same code name, for the caller to translate; outages as
 * UpstreamUnavailableError; anything else as a plain Error (a bug: INTERNAL).
 */
export function callRemote<C, Req, Res>(client: C, method: Unary<Req, Res>, request: Req, errors?: RemoteErrors, timeoutMs = 5_000): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, response) => {
      if (!err) return resolve(response);
      const code = errors ? apiErrorCode(err, errors.message) : undefined;
      const name = code === undefined ? undefined : errors?.codes[code];
      if (typeof name === 'string') return reject(new DomainError(name, err.details || name, { cause: err }));
      if (OUTAGE.has(err.code)) return reject(new UpstreamUnavailableError('internal call failed', { cause: err }));
      // The other service refused a value that came from this call's request: the caller's error.
      if (err.code === status.INVALID_ARGUMENT) return reject(new InvalidArgumentError(err.details || 'invalid argument'));
      reject(new Error(`internal call failed with status ${err.code}`, { cause: err }));
    });
  });
}

/** True when `err` is a DomainError with one of `codes`. */
export function isDomainError(err: unknown, ...codes: string[]): err is DomainError {
  return err instanceof DomainError && codes.includes(err.code);
}
