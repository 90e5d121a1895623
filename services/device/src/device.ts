import { markDeviceRevoked, type DeviceCaSigner } from '@kfrm/device-trust';
import { rateLimit } from '@kfrm/credentials';
import { failWith, RateLimitedError } from '@kfrm/errors';
import type { Logger } from '@kfrm/logging';
import type { Store } from '@kfrm/store';
import { issueDeviceCertificate } from './device-certificate';
import { parseDevicePublicKey } from './device-key';
import { announceDeviceRevoked } from './device-revocation';
import { insertDevice, listRevokedUnexpired, nextDeviceId, revokeDeviceRow, type DeviceDb } from './device.repository';
import type { RevocationReason } from './revocation-reason';

export interface CreatedDevice {
  deviceId: bigint;
  certificateDer: Uint8Array;
  createdAt: Date;
}

export interface RevocationDeps {
  db: DeviceDb;
  store: Store;
  logger: Logger;
  now?: () => Date;
}

export interface DeviceRegistryDeps extends RevocationDeps {
  signer: DeviceCaSigner;
  /** Validity of issued certificates in days (capped by the CA's own validity). */
  validityDays: number;
  /** CreateDevice calls allowed per client address per window (across all instances, in the store). */
  createLimit: { limit: number; windowMs: number };
}

/**
 * Too many CreateDevice calls from one address (RESOURCE_EXHAUSTED). The seed has no code for
 * it; like the auth service's throttles it is a plain RESOURCE_EXHAUSTED, retry later.
 */
export class CreateDeviceRateLimitedError extends RateLimitedError {
  override name = 'CreateDeviceRateLimitedError';
}

/**
 * Revokes a device's certificate: Postgres first (the source of truth), then the store mark the
 * mobile listeners check. Revoking a revoked device keeps the first time and reason but writes the
 * mark again, so a call that failed on the store (StoreUnavailableError, UNAVAILABLE) is simply
 * retried. DEVICE_NOT_FOUND when there is no such device.
 */
/** What revokeDevice raises (checked against RevokeDevice's ApiError by its handler). */
export type RevokeDeviceCode = 'DEVICE_NOT_FOUND';
const revokeFailed = failWith<RevokeDeviceCode>();

export async function revokeDevice(deps: RevocationDeps, deviceId: bigint, reason: RevocationReason): Promise<{ revokedAt: Date }> {
  const now = deps.now?.() ?? new Date();
  const revoked = await revokeDeviceRow(deps.db, deviceId, reason, now);
  if (!revoked) throw revokeFailed('DEVICE_NOT_FOUND', 'no such device');
  await markDeviceRevoked(deps.store, revoked.serial, revoked.notAfter, now);
  deps.logger.info({ device_id: deviceId.toString(), reason, serial: revoked.serial }, 'device revoked');
  // After the row and the mark: a stream that re-checks on hearing this already sees the revocation.
  await announceDeviceRevoked(deps.store, deps.logger, deviceId);
  return { revokedAt: revoked.revokedAt };
}

const RESYNC_PAGE = 500;

/**
 * Writes the store mark of every revoked, unexpired certificate again. Run at start and
 * periodically: the store is a copy and may have been flushed or replaced. Returns how many.
 */
export async function remarkRevokedDevices(deps: RevocationDeps): Promise<number> {
  const now = deps.now?.() ?? new Date();
  let marked = 0;
  let afterId = 0n;
  for (;;) {
    const page = await listRevokedUnexpired(deps.db, now, afterId, RESYNC_PAGE);
    for (const certificate of page) {
      if (await markDeviceRevoked(deps.store, certificate.serial, certificate.notAfter, now)) marked++;
    }
    if (page.length < RESYNC_PAGE) return marked;
    afterId = page[page.length - 1]!.id;
  }
}

/** The device service's use cases, bound to its database, store and CA key. */
export function createDeviceRegistry(deps: DeviceRegistryDeps) {
  const clock = deps.now ?? (() => new Date());
  return {
    /**
     * Issues a device identity for a phone's public key: validates the key (refusals are
     * DEVICE_CERTIFICATE_ISSUANCE_FAILED), takes an id, signs a certificate naming it and stores
     * the device with its certificate in one insert. Checked first: at most `createLimit` calls
     * per client address per window — CreateDevice is public, so without it anyone could fill
     * the device table and keep the CA signing.
     */
    async createDevice(publicKey: string, caller: { address: string }): Promise<CreatedDevice> {
      const { limit, windowMs } = deps.createLimit;
      const allowed = await rateLimit(deps.store, `create-device:address:${caller.address}`, limit, windowMs);
      if (!allowed.allowed) throw new CreateDeviceRateLimitedError('CreateDevice rate limit exceeded for this address');
      const key = await parseDevicePublicKey(publicKey);
      const createdAt = clock();
      const deviceId = await nextDeviceId(deps.db);
      const certificate = await issueDeviceCertificate(deps.signer, { deviceId, key, now: createdAt, validityDays: deps.validityDays });
      await insertDevice(deps.db, {
        id: deviceId,
        keyAlgorithm: key.algorithm,
        spkiSha256: key.fingerprint,
        serial: certificate.serial,
        certificateDer: certificate.der,
        notBefore: certificate.notBefore,
        notAfter: certificate.notAfter,
        createdAt,
      });
      deps.logger.info(
        {
          device_id: deviceId.toString(),
          key_algorithm: key.algorithm,
          spki_sha256: key.fingerprint,
          serial: certificate.serial,
          not_after: certificate.notAfter,
        },
        'device certificate issued',
      );
      return { deviceId, certificateDer: certificate.der, createdAt };
    },
    revokeDevice: (deviceId: bigint, reason: RevocationReason) => revokeDevice(deps, deviceId, reason),
    remarkRevokedDevices: () => remarkRevokedDevices(deps),
  };
}

export type DeviceRegistry = ReturnType<typeof createDeviceRegistry>;
