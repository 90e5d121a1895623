/**
 * Another service could not answer. Named like the store's outage error so the server kit maps it
 * to UNAVAILABLE: an identity check that cannot be made is never a pass.
 */
export class UpstreamUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}
