/**
 * Message encryption ("ME" in Konaplate's guide): where an API marks its request or response
 * "Encrypted", the JSON payload travels as a compact JWE inside `{"encData": "<JWE>"}`. Requests
 * are encrypted to Konaplate's server public key, responses to the client's public key; the
 * key pair in use is named by X-KM-Crypto-Key-Id (32 characters, up to two per project).
 *
 * What is public: RSA-OAEP key wrapping with 2048-bit keys and AES-GCM (128 or 256 bits)
 * content encryption, JWE compact serialisation, the `encData` field.
 * ASSUMED: RSA-OAEP-256 (SHA-256) as the key wrapping, A256GCM as the default content
 * encryption, a protected header of only `alg` and `enc`, and the whole JSON payload (not single
 * fields) as the JWE plaintext. Everything sits behind `FieldCipher`, so another scheme is one
 * new implementation.
 */
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { compactDecrypt, CompactEncrypt, decodeProtectedHeader } from 'jose';

export interface FieldCipher {
  /** X-KM-Crypto-Key-Id sent with every request while encryption is on. */
  readonly keyId: string;
  /** Encrypts a request payload (UTF-8 JSON text) to the server: a compact JWE. */
  encrypt(plaintext: string): Promise<string>;
  /** Decrypts a response's `encData` with the client's private key: UTF-8 JSON text. */
  decrypt(jwe: string): Promise<string>;
}

/** A PEM string (SPKI, PKCS#1, PKCS#8 or an X.509 certificate), a JWK, or a KeyObject. */
export type KeyMaterial = string | JsonWebKey | KeyObject;

export type KeyWrapAlgorithm = 'RSA-OAEP-256' | 'RSA-OAEP';
export type ContentEncryption = 'A256GCM' | 'A128GCM';

export interface JweFieldCipherOptions {
  keyId: string;
  /** The public key to encrypt requests to (Konaplate's "server key"). */
  encryptTo: KeyMaterial;
  /** The private key for responses (the private half of the "client key"). */
  decryptWith: KeyMaterial;
  keyWrap?: KeyWrapAlgorithm;
  contentEncryption?: ContentEncryption;
  /** Algorithms accepted when decrypting; anything else is refused before any RSA operation. */
  acceptKeyWraps?: readonly KeyWrapAlgorithm[];
  acceptContentEncryptions?: readonly ContentEncryption[];
}

export const CRYPTO_KEY_ID_LENGTH = 32;
const MIN_RSA_BITS = 2048;

export class CipherError extends Error {
  override name = 'CipherError';
}

export function toPublicKey(material: KeyMaterial): KeyObject {
  const key = isKeyObject(material)
    ? material.type === 'private'
      ? createPublicKey(material)
      : material
    : typeof material === 'string'
      ? createPublicKey(material)
      : createPublicKey({ key: material, format: 'jwk' });
  return assertRsa(key);
}

export function toPrivateKey(material: KeyMaterial): KeyObject {
  const key = isKeyObject(material)
    ? material
    : typeof material === 'string'
      ? createPrivateKey(material)
      : createPrivateKey({ key: material, format: 'jwk' });
  if (key.type !== 'private') throw new CipherError('a private key is required');
  return assertRsa(key);
}

function isKeyObject(value: KeyMaterial): value is KeyObject {
  return typeof value === 'object' && value !== null && 'asymmetricKeyType' in value && typeof (value as KeyObject).export === 'function';
}

function assertRsa(key: KeyObject): KeyObject {
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== 'rsa' || bits < MIN_RSA_BITS) {
    throw new CipherError(`an RSA key of at least ${MIN_RSA_BITS} bits is required`);
  }
  return key;
}

/** The default `FieldCipher`: JWE RSA-OAEP-256 + A256GCM through jose. */
export function createJweFieldCipher(options: JweFieldCipherOptions): FieldCipher {
  if (options.keyId.length !== CRYPTO_KEY_ID_LENGTH) {
    throw new CipherError(`keyId must have ${CRYPTO_KEY_ID_LENGTH} characters`);
  }
  const publicKey = toPublicKey(options.encryptTo);
  const privateKey = toPrivateKey(options.decryptWith);
  const alg = options.keyWrap ?? 'RSA-OAEP-256';
  const enc = options.contentEncryption ?? 'A256GCM';
  const acceptAlgs = options.acceptKeyWraps ?? ['RSA-OAEP-256'];
  // Konaplate's guide allows 128- or 256-bit AES-GCM, so responses may use either.
  const acceptEncs = options.acceptContentEncryptions ?? ['A256GCM', 'A128GCM'];
  return {
    keyId: options.keyId,
    encrypt: (plaintext) => encryptCompact(plaintext, publicKey, alg, enc),
    decrypt: (jwe) => decryptCompact(jwe, privateKey, acceptAlgs, acceptEncs),
  };
}

export async function encryptCompact(
  plaintext: string,
  publicKey: KeyObject,
  alg: KeyWrapAlgorithm = 'RSA-OAEP-256',
  enc: ContentEncryption = 'A256GCM',
): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(plaintext)).setProtectedHeader({ alg, enc }).encrypt(publicKey);
}

/**
 * Every failure (malformed, wrong key, tampered, algorithm not allowed) becomes the same
 * CipherError without detail, so a caller cannot learn which step failed.
 */
export async function decryptCompact(
  jwe: string,
  privateKey: KeyObject,
  acceptAlgs: readonly KeyWrapAlgorithm[] = ['RSA-OAEP-256'],
  acceptEncs: readonly ContentEncryption[] = ['A256GCM', 'A128GCM'],
): Promise<string> {
  try {
    // Checked before decrypting so a header naming another algorithm costs nothing.
    const header = decodeProtectedHeader(jwe);
    if (!acceptAlgs.includes(header.alg as KeyWrapAlgorithm) || !acceptEncs.includes(header.enc as ContentEncryption)) {
      throw new CipherError('algorithm not allowed');
    }
    const { plaintext } = await compactDecrypt(jwe, privateKey, {
      keyManagementAlgorithms: [...acceptAlgs],
      contentEncryptionAlgorithms: [...acceptEncs],
    });
    return new TextDecoder('utf-8', { fatal: true }).decode(plaintext);
  } catch (cause) {
    throw new CipherError('cannot decrypt', { cause });
  }
}
