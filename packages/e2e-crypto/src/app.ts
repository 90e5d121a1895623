import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { EncryptedMessage } from '@kfrm/proto/gen/kfrm/api/common/common';
import type { CryptoKey } from './webcrypto-types';
import { decryptCompact, encryptCompact, parseE2eJwe, PROVIDER_HEADER } from './jwe';
import { publicKeyFromSpkiBase64 } from './keys';
import { providerType, type E2eProvider } from './provider';

/**
 * The app's side of the scheme, for tests, benchmarks and the typed client. A phone does the
 * same with its platform's JOSE library (see docs/e2e.md).
 */
export interface AppEncryption {
  encryptedMessage: EncryptedMessage;
  /**
   * The ephemeral private key this message was encrypted with. Keep it only while waiting for a
   * server reply in the same session (EncryptText): the reply is encrypted to its public half.
   */
  ephemeralPrivateKey: CryptoKey | KeyObject;
}

export interface AppEncryptionOptions {
  /** Test vectors only: a fixed ephemeral key and IV make the output deterministic. */
  fixed?: { ephemeralPrivateKey: CryptoKey | KeyObject; iv: Uint8Array };
}

function bytesOf(plaintext: Uint8Array | string): Uint8Array {
  return typeof plaintext === 'string' ? new TextEncoder().encode(plaintext) : plaintext;
}

/**
 * The server keys this process encrypted for lately, read once each: importing a P-256 point
 * (OpenSSL checks it is on the curve) costs ≈ 150 µs, more than the key agreement. A phone
 * holds one or two key sessions at a time; a test or benchmark process drives many phones.
 */
const serverKeys = new Map<string, KeyObject>();
const SERVER_KEYS_KEPT = 256;

function serverKeyOf(publicKeySpkiBase64: string): KeyObject {
  let key = serverKeys.get(publicKeySpkiBase64);
  if (!key) {
    key = publicKeyFromSpkiBase64(publicKeySpkiBase64);
    if (serverKeys.size >= SERVER_KEYS_KEPT) serverKeys.delete(serverKeys.keys().next().value!);
    serverKeys.set(publicKeySpkiBase64, key);
  }
  return key;
}

/** Encrypts for a key session obtained from GetKey/ListKeys. */
export async function encryptForSession(
  publicKeySpkiBase64: string,
  sessionId: string,
  provider: E2eProvider,
  plaintext: Uint8Array | string,
  options: AppEncryptionOptions = {},
): Promise<AppEncryption> {
  const serverKey = serverKeyOf(publicKeySpkiBase64);
  // The ephemeral key is made here rather than inside encryptCompact so the app can keep its
  // private half.
  const fresh = options.fixed ? undefined : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ephemeralPrivateKey = options.fixed?.ephemeralPrivateKey ?? fresh!.privateKey;
  const message = await encryptCompact(serverKey, { kid: sessionId, provider }, bytesOf(plaintext), {
    ephemeralPrivateKey,
    ephemeralPublicKey: fresh?.publicKey,
    iv: options.fixed?.iv,
  });
  return { encryptedMessage: { message, provider: providerType(provider), sessionId }, ephemeralPrivateKey };
}

/**
 * Decrypts what the server encrypted for the app (EncryptText's `encrypted_text`) with the
 * ephemeral private key of the app's last message in that session, checking the same header
 * rules as the server and that kid and provider are the expected session's. Throws on failure.
 */
export async function decryptFromServer(
  compact: string,
  ephemeralPrivateKey: CryptoKey | KeyObject,
  expected: { sessionId: string; provider: E2eProvider },
): Promise<Uint8Array> {
  const header = parseE2eJwe(compact);
  if (header.kid !== expected.sessionId) throw new Error('kid is not the expected session');
  if (header[PROVIDER_HEADER] !== expected.provider) throw new Error('provider is not the expected one');
  return decryptCompact(compact, ephemeralPrivateKey, header);
}
