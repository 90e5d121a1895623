import type { KeyEncryptionKey } from '@kfrm/e2e-crypto';
import { createUserTextSealer } from './user-text-seal';
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
  const sealer = createUserTextSealer(
    key,
    'kfrm-withdrawn-name-v1',
    (userId) => new Error(`the sealed name of user ${userId} does not open`),
  );
  return { sealName: sealer.seal, openName: sealer.open };
}
