import { createHash } from 'node:crypto';
import type { Logger } from '@kfrm/logging';
import { CLIENT_AUTH_EKU, verifyIssuedBy, type x509 } from '@kfrm/pki';
import type { Store } from '@kfrm/store';
import { deviceIdFromCertificate } from './device-identity';
import { isDeviceRevoked } from './revocation';
import type { RevocationFact } from './revocation-facts';

/** A device the access check let through; structurally a server-kit DeviceIdentity. */
export interface VerifiedDevice {
  /** Decimal device id from the certificate (CN and URI SAN). */
  deviceId: string;
  certificateDer: Uint8Array;
  /** Lower-case hex serial of the certificate. */
  serial: string;
  notAfter: Date;
}

export type DeviceVerifier = (certificateDer: Uint8Array) => Promise<VerifiedDevice | undefined>;

/** A verifier that may remember revocation states: facts (or a gap in them) make it ask again. */
export type CachingDeviceVerifier = DeviceVerifier & {
  onRevocationFact(fact: RevocationFact | 'gap'): void;
};

export interface DeviceVerifierOptions {
  deviceCaCert: x509.X509Certificate;
  store: Store;
  /** Rejection reasons go here at debug level (never the certificate itself). */
  logger?: Logger;
  now?: () => Date;
  /** How many verified certificates to remember (chain checks are skipped for them). */
  cacheSize?: number;
  /**
   * How long a "not revoked" answer from the store is used, counted from when it was asked (0,
   * the default: every call asks). The latest a revocation takes effect when its fact is lost;
   * a fact about the device (onRevocationFact) makes the next call ask again.
   */
  revocationCacheMs?: number;
}

interface ChainChecked {
  deviceId: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** Until when (ms, `now()`'s clock) the store's "not revoked" answer is used. */
  notRevokedUntil: number;
}

/**
 * The mobile listener's device check: issued by our device CA (issuer, signature), within its
 * validity, not a CA, clientAuth usage, names exactly one device id, and not revoked. Undefined
 * for any refusal. When the store cannot answer, the call rejects (StoreUnavailableError, mapped
 * to UNAVAILABLE): an unknown revocation state never counts as "not revoked".
 */
export function createDeviceVerifier(options: DeviceVerifierOptions): CachingDeviceVerifier {
  const { deviceCaCert, store, logger } = options;
  const revocationCacheMs = options.revocationCacheMs ?? 0;
  /** Bumped by every fact: an answer asked before one is not remembered. */
  let epoch = 0;
  const now = options.now ?? (() => new Date());
  const cacheSize = options.cacheSize ?? 10_000;
  // Every mobile call presents the certificate again; parsing it and checking its signature in
  // JavaScript was a large share of a call's CPU (docs/performance.md). A certificate that passed
  // once is remembered by its hash; validity and revocation are still checked on every call.
  const verified = new Map<string, ChainChecked>();
  const remember = (key: string, entry: ChainChecked) => {
    if (verified.size >= cacheSize) verified.delete(verified.keys().next().value!);
    verified.set(key, entry);
  };
  const verify: DeviceVerifier = async (certificateDer) => {
    const key = createHash('sha256').update(certificateDer).digest('hex');
    const known = verified.get(key);
    if (known) {
      const at = now();
      if (at < known.notBefore || at > known.notAfter) {
        verified.delete(key);
        logger?.debug({ reason: 'expired' }, 'device certificate refused');
        return undefined;
      }
      if (at.getTime() >= known.notRevokedUntil) {
        const asked = { at: at.getTime(), epoch };
        if (await isDeviceRevoked(store, known.serial)) {
          logger?.debug({ reason: 'revoked', device_id: known.deviceId }, 'device certificate refused');
          return undefined;
        }
        if (epoch === asked.epoch) known.notRevokedUntil = asked.at + revocationCacheMs;
      }
      return { deviceId: known.deviceId, certificateDer, serial: known.serial, notAfter: known.notAfter };
    }
    const check = await verifyIssuedBy(certificateDer, deviceCaCert, { now: now(), requiredExtendedKeyUsage: CLIENT_AUTH_EKU });
    if (!check.ok) {
      logger?.debug({ reason: check.reason }, 'device certificate refused');
      return undefined;
    }
    const certificate = check.certificate;
    const deviceId = deviceIdFromCertificate(certificate);
    if (!deviceId) {
      logger?.debug({ reason: 'no-device-id' }, 'device certificate refused');
      return undefined;
    }
    const serial = certificate.serialNumber.toLowerCase();
    const asked = { at: now().getTime(), epoch };
    if (await isDeviceRevoked(store, serial)) {
      logger?.debug({ reason: 'revoked', device_id: deviceId }, 'device certificate refused');
      return undefined;
    }
    remember(key, {
      deviceId,
      serial,
      notBefore: certificate.notBefore,
      notAfter: certificate.notAfter,
      notRevokedUntil: epoch === asked.epoch ? asked.at + revocationCacheMs : 0,
    });
    return { deviceId, certificateDer, serial, notAfter: certificate.notAfter };
  };
  return Object.assign(verify, {
    onRevocationFact(fact: RevocationFact | 'gap') {
      epoch++;
      if (fact !== 'gap' && fact.kind === 'sessions') return;
      for (const entry of verified.values()) if (fact === 'gap' || entry.deviceId === fact.deviceId) entry.notRevokedUntil = 0;
    },
  });
}
