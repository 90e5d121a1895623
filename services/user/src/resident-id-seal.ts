import type { KeyEncryptionKey } from '@kfrm/e2e-crypto';
import { createUserTextSealer } from './user-text-seal';
import type { UserRecord } from './user.model';

/**
 * Resident registration numbers are kept sealed at rest (PIPA Art. 24-2): AES-256-GCM under the
 * user data key (KFRM_USER_DATA_KEY_FILE), which is never in the database. The stored text is
 * base64url(iv ‖ ciphertext ‖ tag). The AAD names the user, so a sealed value copied into another
 * user's row does not open there.
 */
export interface ResidentIdSealer {
  seal(userId: bigint, residentId: string): string;
  /** Throws {@link SealedResidentIdError} when the value does not open (wrong key, tampered, other user's). */
  open(userId: bigint, sealed: string): string;
}

/**
 * A stored resident id that does not open. Our fault, never the caller's: it reaches the client
 * as INTERNAL (the server kit's default for unknown errors). The message names the user only,
 * never the value.
 */
export class SealedResidentIdError extends Error {
  override name = 'SealedResidentIdError';
}

export function createResidentIdSealer(key: KeyEncryptionKey): ResidentIdSealer {
  return createUserTextSealer(
    key,
    'kfrm-resident-id-v1',
    (userId) => new SealedResidentIdError(`the stored resident id of user ${userId} does not open under the user data key`),
  );
}

/**
 * The user's resident id in the clear, or null when none is recorded. A row still holding the
 * plain column (written before the column was sealed, or by an older replica during a rolling
 * update) is read as it is; the backfill (at start and on the hourly housekeeping tick) seals it.
 */
export function residentIdOf(
  sealer: ResidentIdSealer,
  user: Pick<UserRecord, 'id' | 'residentIdSealed' | 'residentIdUnsealed'>,
): string | null {
  if (user.residentIdSealed !== null) return sealer.open(user.id, user.residentIdSealed);
  return user.residentIdUnsealed;
}
