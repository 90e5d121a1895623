import type { SeedCode } from './codes';
import { DependencyUnavailableError } from './infrastructure-errors';

/**
 * Errors that domain code throws. They name a seed error code (for example
 * `APP_VERSION_NOT_FOUND`) and know nothing of gRPC: the server kit turns the code into a
 * status code and a `google.rpc.Status` detail through one table.
 *
 * The code is typed (codes.ts): a code the contract does not have does not compile. A use case
 * narrows `Code` to what it raises (`DomainError<ExecuteCode>`), and the method's policy checks
 * that narrower union against the method's ApiError enum (`raises` in define-service.ts).
 *
 * `message` is sent to the client, so it must be safe to show: no secrets, no internals.
 * Put internals in `cause`, which is logged and never sent.
 */
export class DomainError<Code extends SeedCode = SeedCode> extends Error {
  override name = 'DomainError';
  constructor(
    readonly code: Code,
    message: string = code,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A DomainError maker bound to one use case's codes: `const fail = failWith<ExecuteCode>()` makes
 * every `throw fail('…')` of that use case a compile-time check against its declared union.
 */
export function failWith<Code extends SeedCode>() {
  return (code: Code, message?: string, options?: { cause?: unknown }) => new DomainError<Code>(code, message, options);
}

/** True when `err` is a DomainError with one of `codes` (narrowed to them). */
export function isDomainError<C extends SeedCode>(err: unknown, ...codes: C[]): err is DomainError<C> {
  return err instanceof DomainError && (codes as SeedCode[]).includes(err.code);
}

/** Bad input that has no seed error code (a missing field, an out-of-range number). */
export class InvalidArgumentError extends Error {
  override name = 'InvalidArgumentError';
}

/** The caller is not allowed to do this, and no seed code says more. */
export class PermissionDeniedError extends Error {
  override name = 'PermissionDeniedError';
}

/** A method that a later issue fills in. */
export class NotImplementedError extends Error {
  override name = 'NotImplementedError';
}

/**
 * Another service could not answer (unreachable, deadline, overloaded): the caller may retry, and
 * nothing is decided on a guess. The server kit answers UNAVAILABLE (a DependencyUnavailableError).
 * Thrown by the internal call helper (`unaryCall`, @kfrm/runtime) and by ports that wrap it.
 */
export class UpstreamUnavailableError extends DependencyUnavailableError {
  override name = 'UpstreamUnavailableError';
}

/**
 * Another service refused a call with one of its method's seed codes (`code`, typed by the
 * callee's ApiError enum). It is that service's answer, not this one's: the caller translates it
 * into its own DomainError (or a value); one that escapes untranslated is a bug (INTERNAL), so a
 * callee's code never reaches a client whose method does not declare it.
 */
export class UpstreamRefusal<Code extends SeedCode = SeedCode> extends Error {
  override name = 'UpstreamRefusal';
  constructor(
    readonly code: Code,
    message: string = code,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
