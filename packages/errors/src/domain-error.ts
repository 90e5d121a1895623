/**
 * Errors that domain code throws. They name a seed error code (for example
 * `APP_VERSION_NOT_FOUND`) and know nothing of gRPC: the server kit turns the code into a
 * status code and a `google.rpc.Status` detail through one table.
 *
 * `message` is sent to the client, so it must be safe to show: no secrets, no internals.
 * Put internals in `cause`, which is logged and never sent.
 */
export class DomainError<Code extends string = string> extends Error {
  override name = 'DomainError';
  constructor(
    readonly code: Code,
    message: string = code,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
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
