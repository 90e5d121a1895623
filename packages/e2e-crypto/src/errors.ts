import { DomainError } from '@kfrm/errors';

/**
 * The one message every decryption failure carries. Which check failed (a bad tag, a foreign
 * header, a replay into another session, a disallowed algorithm) is never told to the client:
 * distinct answers would be an oracle. The reason goes into `cause`, which is never sent.
 */
export const DECRYPTION_FAILED_MESSAGE = 'the encrypted message could not be decrypted';
export const SESSION_EXPIRED_MESSAGE = 'the E2E key session has expired: fetch a new key';

export function decryptionFailed(reason: string, cause?: unknown): DomainError<'E2E_DECRYPTION_FAILED'> {
  return new DomainError('E2E_DECRYPTION_FAILED', DECRYPTION_FAILED_MESSAGE, { cause: new Error(reason, { cause }) });
}

export function sessionExpired(reason = 'no such key session'): DomainError<'E2E_KEY_SESSION_EXPIRED'> {
  return new DomainError('E2E_KEY_SESSION_EXPIRED', SESSION_EXPIRED_MESSAGE, { cause: new Error(reason) });
}
