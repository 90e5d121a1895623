/**
 * What can go wrong around a request that is nobody's input error: a dependency that cannot
 * answer, a caller over its rate, a transaction that lost to concurrent updates. Each is a base
 * class; a package or service throws its own subclass (StoreUnavailableError, the ledger's
 * overload, a service's upstream outage) and the server kit maps it by `instanceof` — so a new
 * kind of outage needs a subclass here-below, not a row in a central table or a borrowed name.
 */

/**
 * A dependency (the database, the store, another service) could not answer, or the process
 * cannot take more work right now. Nothing was decided on a guess: the client may retry.
 * gRPC: UNAVAILABLE.
 */
export class DependencyUnavailableError extends Error {
  override name = 'DependencyUnavailableError';
}

/** The caller made too many calls of one kind; retry later. gRPC: RESOURCE_EXHAUSTED (expected, not a failure). */
export class RateLimitedError extends Error {
  override name = 'RateLimitedError';
}

/** A concurrent update won; the call may be retried as it was. gRPC: ABORTED (expected under contention). */
export class ConcurrentUpdateError extends Error {
  override name = 'ConcurrentUpdateError';
}
