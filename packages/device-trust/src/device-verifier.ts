import type { Logger } from '@kfrm/logging';
import { CLIENT_AUTH_EKU, verifyIssuedBy, x509 } from '@kfrm/pki';
import type { Store } from '@kfrm/store';
import { deviceIdFromCertificate } from './device-identity';
import { isDeviceRevoked } from './revocation';

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

export interface DeviceVerifierOptions {
  deviceCaCert: x509.X509Certificate;
  store: Store;
  /** Rejection reasons go here at debug level (never the certificate itself). */
  logger?: Logger;
  now?: () => Date;
}

/**
 * The mobile listener's device check: issued by our device CA (issuer, signature), within its
 * validity, not a CA, clientAuth usage, names exactly one device id, and not revoked. Undefined
 * for any refusal. When the store cannot answer, the call rejects (StoreUnavailableError, mapped
 * to UNAVAILABLE): an unknown revocation state never counts as "not revoked".
 */
export function createDeviceVerifier(options: DeviceVerifierOptions): DeviceVerifier {
  const { deviceCaCert, store, logger } = options;
  const now = options.now ?? (() => new Date());
  return async (certificateDer) => {
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
    if (await isDeviceRevoked(store, serial)) {
      logger?.debug({ reason: 'revoked', device_id: deviceId }, 'device certificate refused');
      return undefined;
    }
    return { deviceId, certificateDer, serial, notAfter: certificate.notAfter };
  };
}
