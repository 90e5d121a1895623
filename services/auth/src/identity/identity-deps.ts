import type { Kysely } from 'kysely';
import { RateLimitedError } from '@kfrm/errors';
import { rateLimit, type AttemptLimiter, type SecretHasher } from '@kfrm/credentials';
import type { KeySessions } from '@kfrm/e2e-crypto';
import type { Logger } from '@kfrm/logging';
import type { SigningCa } from '@kfrm/pki';
import type { Store } from '@kfrm/store';
import type { IdentityVerifier } from './identity-verifier';
import type { SigningCertificateMemo } from './signing-certificate-memo';
import type { IdentityDatabase, SecretKind } from './identity.table';
import type { UserDirectory } from './user-directory';

/** What opening an E2E message (`openEncryptedText`) fails with: CommonApiError codes, any method may answer them. */
export type E2eCode = 'E2E_DECRYPTION_FAILED' | 'E2E_KEY_SESSION_EXPIRED';

export interface IdentitySettings {
  /** How long a sign-up may take from CreateUser to RegisterKyc. */
  registrationTtlMs: number;
  /** How long the verification token of a new signing certificate can be signed. */
  signingTokenTtlMs: number;
  signingValidityDays: number;
  /** Wrong PINs (or patterns) before the credential locks and the user is BLOCKED. */
  maxSecretAttempts: number;
  /** Per device and hour: CreateUser calls, signing certificate issuances. */
  registrationsPerDeviceHour: number;
  certificatesPerDeviceHour: number;
  /** Per device and 10 minutes: PIN/pattern checks (on top of the per-credential lockout). */
  secretChecksPerDeviceWindow: number;
  /** How long a device-change process stays bound to the device that prepared it. */
  deviceChangeTtlMs: number;
}

export const DEFAULT_IDENTITY_SETTINGS: IdentitySettings = {
  registrationTtlMs: 60 * 60_000,
  signingTokenTtlMs: 10 * 60_000,
  signingValidityDays: 730,
  maxSecretAttempts: 5,
  registrationsPerDeviceHour: 10,
  certificatesPerDeviceHour: 10,
  secretChecksPerDeviceWindow: 30,
  deviceChangeTtlMs: 15 * 60_000,
};

/** Everything the identity flows use; built once in auth.module.ts. */
export interface IdentityDeps {
  db: Kysely<IdentityDatabase>;
  /** The store seen under the service prefix `auth:`. */
  store: Store;
  users: UserDirectory;
  e2e: KeySessions;
  hasher: SecretHasher;
  limiters: Record<SecretKind, AttemptLimiter>;
  /**
   * Wrong secrets given on another device than the user's bound one (device change, app
   * reinstall), counted apart per user: they lock only those flows, never the credential, and
   * never BLOCK the user. Whoever holds a user token can reach them; only the customer's phone
   * can reach the credential's own counter.
   */
  offDeviceLimiters: Record<SecretKind, AttemptLimiter>;
  signingCa: SigningCa;
  /**
   * Active signing certificates read by a transfer's factor check, for the Execute that follows
   * (ADR 0028). Every change of a user's certificates goes through `whileChanging`.
   */
  signingCertificates: SigningCertificateMemo;
  verifier: IdentityVerifier;
  logger: Logger;
  settings: IdentitySettings;
  now: () => Date;
}

/** Too many calls of one kind from one device (RESOURCE_EXHAUSTED). */
export class DeviceRateLimitedError extends RateLimitedError {
  override name = 'DeviceRateLimitedError';
}

export async function throttle(store: Store, key: string, limit: number, windowMs: number): Promise<void> {
  const result = await rateLimit(store, key, limit, windowMs);
  if (!result.allowed) throw new DeviceRateLimitedError(`rate limit ${key.split(':')[0]} exceeded`);
}
