import type { Store } from '@kfrm/store';

/**
 * Revocation as the access check sees it: one store key per revoked certificate serial. Postgres
 * (the device service's `devices.revoked_at`) is the source of truth; these keys are its copy
 * where every service's guard can read it in one round trip. The device service writes them when
 * it revokes, and again at start and periodically (the store may have been flushed).
 */
const REVOKED_PREFIX = 'device:revoked:';
/**
 * Kept a day past notAfter: the verifier compares notAfter with this host's clock, and the store
 * expires keys by its own; a key must not vanish while a skewed host still accepts the certificate.
 */
const CLOCK_SKEW_MARGIN_MS = 24 * 60 * 60 * 1000;

/** Serials are compared as lower-case hex, as @peculiar/x509 prints them. */
export function normalizeSerial(serial: string): string {
  const hex = serial.toLowerCase();
  if (!/^[0-9a-f]{1,64}$/.test(hex)) throw new RangeError('certificate serial must be hex');
  return hex;
}

export function revokedDeviceKey(serial: string): string {
  return REVOKED_PREFIX + normalizeSerial(serial);
}

/**
 * Marks a certificate serial revoked until its notAfter (plus a margin); after that the
 * certificate is refused as expired anyway. Idempotent. Store errors propagate: a revocation the
 * store did not take must be retried, not reported as done.
 * Returns false when the certificate has long expired and nothing needed writing.
 */
export async function markDeviceRevoked(store: Store, serial: string, notAfter: Date, now: Date = new Date()): Promise<boolean> {
  const ttlMs = Math.ceil(notAfter.getTime() + CLOCK_SKEW_MARGIN_MS - now.getTime());
  if (ttlMs <= 0) return false;
  await store.set(revokedDeviceKey(serial), '1', { ttlMs });
  return true;
}

/** True when the serial is marked revoked. Rejects (StoreUnavailableError) when the store cannot answer. */
export async function isDeviceRevoked(store: Store, serial: string): Promise<boolean> {
  return (await store.get(revokedDeviceKey(serial))) !== null;
}
