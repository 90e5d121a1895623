import { createPublicKey, type KeyObject, webcrypto } from 'node:crypto';
import type { CryptoKey, CryptoKeyPair, JsonWebKey } from './webcrypto-types';
import type { P256PublicJwk } from './jwe';

const subtle = webcrypto.subtle;
const ECDH_P256 = { name: 'ECDH', namedCurve: 'P-256' } as const;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Length of a P-256 SubjectPublicKeyInfo in DER: a 26-byte header, then the 65-byte uncompressed point. */
export const P256_SPKI_DER_LENGTH = 91;

/** A fresh P-256 key pair for ECDH. Extractable, because a session's private key is sealed into the store. */
export async function generateP256KeyPair(): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(ECDH_P256, true, ['deriveBits'])) as CryptoKeyPair;
}

/** The public key as the app receives it: base64 (standard alphabet, padded) of the SPKI DER. */
export async function exportSpkiBase64(publicKey: CryptoKey): Promise<string> {
  return Buffer.from(await subtle.exportKey('spki', publicKey)).toString('base64');
}

/**
 * Reads a base64 SPKI DER public key; refuses anything that is not a P-256 point. A KeyObject
 * at once, not a WebCrypto job.
 */
export function publicKeyFromSpkiBase64(spkiBase64: string): KeyObject {
  if (typeof spkiBase64 !== 'string' || !BASE64.test(spkiBase64)) throw new TypeError('public key is not base64');
  const der = Buffer.from(spkiBase64, 'base64');
  if (der.length !== P256_SPKI_DER_LENGTH) throw new TypeError('public key is not a P-256 SPKI');
  const key = createPublicKey({ key: der, format: 'der', type: 'spki' });
  if (key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new TypeError('public key is not a P-256 SPKI');
  return key;
}

export async function exportPkcs8(privateKey: CryptoKey): Promise<Buffer> {
  return Buffer.from(await subtle.exportKey('pkcs8', privateKey));
}

/** Non-extractable: once unsealed for one decryption, the key cannot be exported again. */
export async function importPkcs8(der: Uint8Array): Promise<CryptoKey> {
  return subtle.importKey('pkcs8', der, ECDH_P256, false, ['deriveBits']);
}

export async function importPublicJwk(jwk: P256PublicJwk): Promise<CryptoKey> {
  return subtle.importKey('jwk', { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, ECDH_P256, true, []);
}

export async function importPrivateJwk(jwk: JsonWebKey, extractable = false): Promise<CryptoKey> {
  return subtle.importKey('jwk', jwk, ECDH_P256, extractable, ['deriveBits']);
}
