import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { InvalidArgumentError } from '@kfrm/errors';

/**
 * A biometric key as the app sends it (inside an E2E message): base64 or PEM of the
 * SubjectPublicKeyInfo of a P-256 or RSA (2048-4096 bit, e = 65537) key made in the device's
 * secure hardware.
 */
export function parseBiometricPublicKey(text: string): Uint8Array {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    key = trimmed.startsWith('-----BEGIN')
      ? createPublicKey({ key: trimmed, format: 'pem' })
      : createPublicKey({ key: Buffer.from(trimmed, 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new InvalidArgumentError('public_key is not a P-256 or RSA public key');
  }
  const details = key.asymmetricKeyDetails ?? {};
  const ok =
    (key.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1') ||
    (key.asymmetricKeyType === 'rsa' &&
      (details.modulusLength ?? 0) >= 2048 &&
      (details.modulusLength ?? 0) <= 4096 &&
      details.publicExponent === 65537n);
  if (!ok) throw new InvalidArgumentError('public_key is not a P-256 or RSA public key');
  return new Uint8Array(key.export({ format: 'der', type: 'spki' }));
}

/**
 * What the app signs to pass a biometric authentication: the UTF-8 bytes of
 * `kfrm-biometric-v1:<process_id>`. The process id is the server's challenge (128 random bits
 * from the user service); the prefix keeps the signature from meaning anything elsewhere.
 */
export function biometricChallenge(processId: string): Buffer {
  return Buffer.from(`kfrm-biometric-v1:${processId}`, 'utf8');
}

/**
 * Checks `signatureBase64` over the challenge: ECDSA with SHA-256 (DER signature, as Android
 * Keystore and iOS SecKeyCreateSignature produce) for P-256 keys, RSASSA-PKCS1-v1_5 with SHA-256
 * for RSA keys. Never throws for a malformed signature: it is just not valid.
 */
export function verifyBiometricSignature(publicKeySpki: Uint8Array, processId: string, signatureBase64: string): boolean {
  if (!signatureBase64 || signatureBase64.length > 2048) return false;
  try {
    return verify('sha256', biometricChallenge(processId), publicKeyOf(publicKeySpki), Buffer.from(signatureBase64, 'base64'));
  } catch {
    return false;
  }
}

/**
 * Imported keys by their SPKI bytes (public values: the bytes are the key). Importing one
 * (`createPublicKey`: DER parsing and an OpenSSL key object) cost more than the signature check
 * itself — ≈ 2.5 % of the backend's main thread under biometric transfers. Bounded: the oldest
 * entry goes first once full, so a flood of distinct keys costs at most an import each.
 */
const importedKeys = new Map<string, KeyObject>();
const IMPORTED_KEYS_MAX = 4096;

function publicKeyOf(spki: Uint8Array): KeyObject {
  const id = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength).toString('base64');
  let key = importedKeys.get(id);
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    if (importedKeys.size >= IMPORTED_KEYS_MAX) importedKeys.delete(importedKeys.keys().next().value as string);
    importedKeys.set(id, key);
  }
  return key;
}
