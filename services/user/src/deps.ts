import type { Logger } from '@kfrm/logging';
import type { ResidentIdHasher } from './resident-id-hash';
import type { KycDataSealer } from './kyc-data-seal';
import type { ResidentIdSealer } from './resident-id-seal';
import type { SessionRevocationNotice } from './session-revocation';
import type { UserDb } from './user.repository';

/** Why the user service asks the device service to revoke a device. */
export type DeviceRevocationReason = 'USER_BLOCKED';

/** The device service, as the user service needs it (DeviceRegistryService.RevokeDevice). */
export interface DeviceRevoker {
  /** Idempotent; resolves also when the device service does not know the device. */
  revokeDevice(deviceId: bigint, reason: DeviceRevocationReason): Promise<void>;
}

export interface ActiveSigningCertificate {
  certificateDer: Uint8Array;
  issuerDer: Uint8Array;
}

/** The auth service's CredentialService.GetActiveSigningCertificate. */
export interface SigningCertificateSource {
  /** The user's active certificate and its CA; undefined when the user has none. */
  getActive(userId: bigint): Promise<ActiveSigningCertificate | undefined>;
}

export interface UserDomainDeps {
  db: UserDb;
  logger: Logger;
  devices: DeviceRevoker;
  /** Told after every committed session revocation (ends open notification streams). */
  revocations: SessionRevocationNotice;
  signingCertificates: SigningCertificateSource;
  /** Seals and opens resident ids (under the user data key). */
  residentIds: ResidentIdSealer;
  /** Seals and opens the KYC data submitted at sign-up (under the user data key). */
  kycData: KycDataSealer;
  /** Keyed hashes of resident ids (under the resident id hash key): one member per number. */
  residentIdHashes: ResidentIdHasher;
  /** Session token lifetime. */
  sessionTtlMs: number;
  /** Absolute lifetime of a refresh-token family (rotation never extends it). */
  refreshFamilyTtlMs: number;
  /** How long an authentication process can be completed and consumed. */
  processTtlMs: number;
  /**
   * How long authentication policies are used from memory; at most (and by default)
   * MAX_POLICY_CACHE_MS. 0 reads them for every process (tests that change policies).
   */
  policyCacheMs?: number;
  /**
   * How many running processes this instance remembers as it wrote them last, so a factor check
   * need not read them back (ADR 0020); default RUNNING_PROCESSES_MAX_ENTRIES, 0 remembers none.
   */
  runningProcessesMemory?: number;
  now?: () => Date;
}

export const DEFAULT_TTLS = {
  sessionTtlMs: 30 * 60_000,
  refreshFamilyTtlMs: 14 * 24 * 60 * 60_000,
  processTtlMs: 5 * 60_000,
} as const;

/**
 * A dependency (another service) could not be reached or answered unexpectedly: the shared
 * outage error of internal calls (UNAVAILABLE), so nothing is decided on a guess (a signature is
 * never reported as invalid because auth was down).
 */
export { UpstreamUnavailableError } from '@kfrm/errors';
