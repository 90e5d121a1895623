import type { KeyEncryptionKey } from '@kfrm/e2e-crypto';
import { createUserTextSealer } from './user-text-seal';

/**
 * The KYC data a customer submitted (RegisterKyc), sealed at rest like resident ids:
 * AES-256-GCM under the user data key (KFRM_USER_DATA_KEY_FILE), base64url(iv ‖ ciphertext ‖
 * tag). The AAD names the purpose and the user, so the value opens neither as another kind of
 * sealed data nor in another user's row. Opened only for the reviewer (GetKycData, audited).
 */
export interface KycDataSealer {
  seal(userId: bigint, kycData: string): string;
  /** Throws {@link SealedKycDataError} when the value does not open (wrong key, tampered, other user's). */
  open(userId: bigint, sealed: string): string;
}

/** Stored KYC data that does not open: our fault (INTERNAL); the message never holds the value. */
export class SealedKycDataError extends Error {
  override name = 'SealedKycDataError';
}

export function createKycDataSealer(key: KeyEncryptionKey): KycDataSealer {
  return createUserTextSealer(
    key,
    'kfrm-kyc-data-v1',
    (userId) => new SealedKycDataError(`the stored KYC data of user ${userId} does not open under the user data key`),
  );
}
