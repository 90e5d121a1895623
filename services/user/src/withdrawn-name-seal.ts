import type { KeyEncryptionKey } from '@kfrm/e2e-crypto';
import type { WithdrawnNameSealer } from './withdrawal';

/**
 * A withdrawn member's name, sealed under the user data key (as resident ids are) for the
 * retention period: AES-256-GCM, base64url(iv ‖ ciphertext ‖ tag), AAD naming the user and the
 * purpose, so it opens neither as a resident id nor in another row. Opened only to answer an
 * authority's request about a kept transaction record (no RPC does that today).
 */
export function createWithdrawnNameSealer(
  key: KeyEncryptionKey,
): WithdrawnNameSealer & { openName(userId: bigint, sealed: string): string } {
  const aad = (userId: bigint) => `kfrm-withdrawn-name-v1|${userId}`;
  return {
    sealName(userId, name) {
      return key.seal(Buffer.from(name, 'utf8'), aad(userId)).toString('base64url');
    },
    openName(userId, sealed) {
      return key.open(Buffer.from(sealed, 'base64url'), aad(userId)).toString('utf8');
    },
  };
}
