import { X509Certificate, verify } from 'node:crypto';

/**
 * What the app signs with its device key to prove the key is in use now: the UTF-8 bytes of
 * `kfrm-device-proof-v1:<challenge>` (kfrm/api/auth/credential.proto). The prefix keeps the
 * signature from meaning anything elsewhere (a biometric challenge has its own).
 */
export function deviceProofChallenge(challenge: string): Buffer {
  return Buffer.from(`kfrm-device-proof-v1:${challenge}`, 'utf8');
}

/**
 * Checks a device proof against the public key of the TLS client certificate the call came with
 * (already verified by the access guard): ECDSA-SHA256 (DER) for P-256 keys, RSASSA-PKCS1-v1_5
 * SHA-256 for RSA keys. Never throws for a malformed signature: it is just not valid.
 */
export function verifyDeviceProof(certificateDer: Uint8Array, challenge: string, signatureBase64: string): boolean {
  if (!challenge || !signatureBase64 || signatureBase64.length > 2048) return false;
  try {
    const key = new X509Certificate(Buffer.from(certificateDer)).publicKey;
    return verify('sha256', deviceProofChallenge(challenge), key, Buffer.from(signatureBase64, 'base64'));
  } catch {
    return false;
  }
}
