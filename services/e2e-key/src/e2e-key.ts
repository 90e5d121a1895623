import { rateLimit } from '@kfrm/credentials';
import { failWith, InvalidArgumentError, RateLimitedError } from '@kfrm/errors';
import {
  E2E_PROVIDERS,
  createKeySession,
  decryptionFailed,
  encryptForApp,
  openEncryptedText,
  providerFromType,
  type KeySession,
  type KeySessions,
} from '@kfrm/e2e-crypto';
import type { EncryptedMessage } from '@kfrm/proto/gen/kfrm/api/common/common';
import type { Store } from '@kfrm/store';

/**
 * The e2e-key service's use cases. The cryptography is in @kfrm/e2e-crypto, shared with every
 * service that receives an EncryptedMessage; this file only decides what each RPC means.
 */

/** What issueKey raises (checked against GetKey's ApiError by its handler). */
export type IssueKeyCode = 'PROVIDER_NOT_FOUND';
const issueFailed = failWith<IssueKeyCode>();

/** GetKey: a new key session for AUTH or BANKING; PROVIDER_NOT_FOUND for UNKNOWN and numbers the contract does not define. */
/** How many key requests (GetKey and ListKeys together) one client address may make per window. */
export interface KeyRequestLimit {
  limit: number;
  windowMs: number;
}

/**
 * Too many key requests from one address (RESOURCE_EXHAUSTED). The seed has no code for it; like
 * the auth service's throttles it is a plain RESOURCE_EXHAUSTED, retry later.
 */
export class KeyRequestRateLimitedError extends RateLimitedError {
  override name = 'KeyRequestRateLimitedError';
}

/**
 * Counts one key request for the caller and refuses past the limit. GetKey and ListKeys are
 * public and each makes a key pair and a store entry, so they share one budget per address.
 */
export async function limitKeyRequests(store: Store, limit: KeyRequestLimit, caller: { address: string }): Promise<void> {
  const result = await rateLimit(store, `get-key:address:${caller.address}`, limit.limit, limit.windowMs);
  if (!result.allowed) throw new KeyRequestRateLimitedError('key request rate limit exceeded for this address');
}

export async function issueKey(sessions: KeySessions, providerType: number): Promise<KeySession> {
  const provider = providerFromType(providerType);
  if (!provider) throw issueFailed('PROVIDER_NOT_FOUND', 'provider must be AUTH or BANKING');
  return createKeySession(sessions, provider);
}

/** ListKeys: one fresh session per provider, in contract order. */
export async function issueAllKeys(sessions: KeySessions): Promise<KeySession[]> {
  return Promise.all(E2E_PROVIDERS.map((provider) => createKeySession(sessions, provider)));
}

/**
 * What the E2eTestService use cases raise, through @kfrm/e2e-crypto (its decryptionFailed and
 * sessionExpired): both CommonApiError codes, the only ones the seed gives these methods.
 */
export type DecryptTextCode = 'E2E_DECRYPTION_FAILED' | 'E2E_KEY_SESSION_EXPIRED';
export type EncryptTextCode = 'E2E_KEY_SESSION_EXPIRED';

/**
 * DecryptText: what a provider would do with a message the app encrypted, returned in clear so
 * the app team can check its implementation. The message names its own provider.
 */
export async function decryptText(sessions: KeySessions, message: EncryptedMessage | undefined): Promise<string> {
  if (!message) throw new InvalidArgumentError('encrypted_message is required');
  const provider = providerFromType(message.provider);
  if (!provider) throw decryptionFailed('message provider is UNKNOWN or undefined');
  return openEncryptedText(sessions, message, provider);
}

export interface EncryptTextInput {
  plainText: string;
  provider: number;
  sessionId: string;
}

/**
 * EncryptText: encrypts for the app, so it can check it decrypts what a provider sends. The
 * recipient key is the ephemeral key of the app's last message the server opened in this
 * session (see docs/e2e.md, "Server to app").
 */
export async function encryptText(sessions: KeySessions, input: EncryptTextInput): Promise<string> {
  const provider = providerFromType(input.provider);
  if (!provider) throw new InvalidArgumentError('provider must be AUTH or BANKING');
  return encryptForApp(sessions, input.sessionId, provider, new TextEncoder().encode(input.plainText));
}
