/**
 * Member withdrawal, auth's part: the secrets that prove the member are gone — PIN and pattern
 * hashes and biometric keys deleted, every signing certificate revoked (kept as a record, but
 * findActiveCertificate no longer returns it, so the PKCS#7 check of a transfer refuses it).
 * Called by the user service once the member is DEACTIVATED; idempotent.
 */
import type { IdentityDeps } from './identity-deps';
import { revokeAllCredentials } from './identity.repository';

export async function revokeCredentials(
  deps: Pick<IdentityDeps, 'db' | 'logger' | 'now' | 'signingCertificates'>,
  userId: bigint,
): Promise<{ secretsDeleted: number; biometricKeysDeleted: number; certificatesRevoked: number }> {
  const revoked = await deps.signingCertificates.whileChanging(userId, () => revokeAllCredentials(deps.db, userId, deps.now()));
  deps.logger.info({ user_id: String(userId), ...revoked }, 'credentials revoked (member withdrawal)');
  return revoked;
}
