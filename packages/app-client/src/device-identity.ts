import { webcrypto } from 'node:crypto';
import { toPem } from '@kfrm/pki';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** What a phone keeps after CreateDevice: its key pair and the certificate we issued for it. */
export interface DeviceIdentity {
  deviceId: bigint;
  keyPair: CryptoKeyPair;
  /** PEM forms, as grpc-js wants them for the TLS client certificate. */
  certificatePem: string;
  privateKeyPem: string;
  certificateDer: Uint8Array;
}

export type DeviceKeyKind = 'ec-p256' | 'rsa-2048' | 'rsa-3072';

/** A key like a Secure Enclave / Android Keystore one: P-256 by default, RSA for older phones. */
export async function generateDeviceKeyPair(kind: DeviceKeyKind = 'ec-p256'): Promise<CryptoKeyPair> {
  if (kind === 'ec-p256') {
    return (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  }
  const modulusLength = kind === 'rsa-2048' ? 2048 : 3072;
  return (await webcrypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    true,
    ['sign', 'verify'],
  )) as CryptoKeyPair;
}

/** The public key as CreateDevice takes it: base64 SPKI DER. */
export async function spkiBase64(keyPair: CryptoKeyPair): Promise<string> {
  return Buffer.from(await webcrypto.subtle.exportKey('spki', keyPair.publicKey)).toString('base64');
}

export async function toDeviceIdentity(keyPair: CryptoKeyPair, deviceId: bigint, certificateBase64: string): Promise<DeviceIdentity> {
  const certificateDer = new Uint8Array(Buffer.from(certificateBase64, 'base64'));
  return {
    deviceId,
    keyPair,
    certificateDer,
    certificatePem: toPem('CERTIFICATE', certificateDer),
    privateKeyPem: toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keyPair.privateKey)),
  };
}
