import type { KeyEncryptionKey } from '@kfrm/e2e-crypto';

/**
 * One user's personal text sealed at rest under the user data key (KFRM_USER_DATA_KEY_FILE, never
 * in the database): AES-256-GCM, stored as base64url(iv ‖ ciphertext ‖ tag). The AAD names the
 * purpose and the user, so a value opens neither as another kind of sealed data nor in another
 * user's row. Resident ids, KYC data and withdrawn members' names are sealed this way.
 */
export interface UserTextSealer {
  seal(userId: bigint, text: string): string;
  /** Throws what `openFailed` makes when the value does not open (wrong key, tampered, other user's). */
  open(userId: bigint, sealed: string): string;
}

/**
 * `purpose` is part of the AAD (e.g. `kfrm-resident-id-v1`): changing it makes every stored value
 * unreadable. `openFailed` names the user only, never the value; the GCM failure itself says
 * nothing useful and is left out of the logged error.
 */
export function createUserTextSealer(key: KeyEncryptionKey, purpose: string, openFailed: (userId: bigint) => Error): UserTextSealer {
  const aad = (userId: bigint) => `${purpose}|${userId}`;
  return {
    seal(userId, text) {
      return key.seal(Buffer.from(text, 'utf8'), aad(userId)).toString('base64url');
    },
    open(userId, sealed) {
      try {
        return key.open(Buffer.from(sealed, 'base64url'), aad(userId)).toString('utf8');
      } catch {
        throw openFailed(userId);
      }
    },
  };
}
