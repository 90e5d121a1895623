// Test helper (not exported from the package index): certificates made directly with a CA key,
// including the broken ones the device service would never issue.
import { webcrypto, x509 } from '@kfrm/pki';
import { deviceCertificateNames } from '../device-identity';
import type { DeviceCaSigner } from '../device-ca';
type CryptoKeyPair = import('node:crypto').webcrypto.CryptoKeyPair;

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

export async function deviceKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export interface TestCertificateOptions {
  deviceId?: bigint;
  /** Overrides the device names (to make certificates that name no device, or the wrong one). */
  subject?: string;
  sanUris?: string[];
  notBefore?: Date;
  notAfter?: Date;
  usages?: string[];
  isCa?: boolean;
}

/** Signs a device certificate with `signer`'s key; `signer` may be any CA, or a self-signed key. */
export async function issueTestCertificate(
  signer: Pick<DeviceCaSigner, 'privateKey' | 'signingAlgorithm'> & { issuer: string },
  options: TestCertificateOptions = {},
): Promise<{ certificate: x509.X509Certificate; der: Uint8Array; keys: CryptoKeyPair }> {
  const keys = await deviceKeyPair();
  const names = deviceCertificateNames(options.deviceId ?? 42n);
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
      .toString('hex')
      .replace(/^./, '1'),
    subject: options.subject ?? names.subject,
    issuer: signer.issuer,
    notBefore: options.notBefore ?? new Date(now - 60_000),
    notAfter: options.notAfter ?? new Date(now + 30 * DAY_MS),
    signingAlgorithm: signer.signingAlgorithm,
    publicKey: keys.publicKey,
    signingKey: signer.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(options.isCa ?? false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(options.usages ?? [x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension((options.sanUris ?? [names.uri]).map((value) => ({ type: 'url' as const, value }))),
    ],
  });
  return { certificate, der: new Uint8Array(certificate.rawData), keys };
}

/** A key that signs its own certificate: issuer = subject = `issuer`. */
export async function selfSigner(issuer: string) {
  const keys = await deviceKeyPair();
  return { privateKey: keys.privateKey, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, issuer };
}
