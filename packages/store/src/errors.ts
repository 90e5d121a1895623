import { DependencyUnavailableError } from '@kfrm/errors';

/**
 * The store could not be reached, or it has been closed.
 *
 * Services must treat this as "we do not know", never as "absent": a rate-limit check or a
 * challenge lookup that hits this error has to fail closed (reject the request, answer 503)
 * rather than carry on as if the counter were zero or the key missing. That is why both
 * implementations reject with this one type instead of returning null/0 when they cannot answer,
 * and why it is distinct from usage errors (a bad TTL, INCR on a non-number), which are bugs.
 *
 * `cause` carries the underlying error (ECONNREFUSED, "Connection is closed.", a command
 * timeout, ...) for logs; callers should branch on the type, not on the cause.
 */
export class StoreUnavailableError extends DependencyUnavailableError {
  override readonly name = 'StoreUnavailableError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Type guard that also works across duplicated module instances (checks the name too). */
export function isStoreUnavailableError(err: unknown): err is StoreUnavailableError {
  return err instanceof StoreUnavailableError || (err instanceof Error && err.name === 'StoreUnavailableError');
}
