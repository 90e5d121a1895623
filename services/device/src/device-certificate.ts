import { deviceCertificateNames, type DeviceCaSigner } from '@kfrm/device-trust';
import { webcrypto, x509 } from '@kfrm/pki';
import type { DevicePublicKey } from './device-key';

const DAY_MS = 24 * 60 * 60 * 1000;
/** notBefore is set this far back so a phone whose clock runs a little slow accepts the certificate. */
const CLOCK_SKEW_MS = 60_000;

export interface IssuedCertificate {
  der: Uint8Array;
  /** Lower-case hex, as the verifier reads it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * A random positive 128-bit serial (RFC 5280: at most 20 octets, unpredictable). The first byte is
 * kept in 0x01..0x7f so the DER INTEGER is exactly 16 bytes, positive and minimally encoded (a
 * leading 0x00 would be padding that strict TLS stacks refuse).
 */
export function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return Buffer.from(bytes).toString('hex');
}

/**
 * Issues the device's mTLS client certificate. Everything in it is the server's choice: only the
 * (already validated, re-encoded) public key comes from the caller. Validity is `validityDays`
 * from `now`, never past the CA's own notAfter.
 */
export async function issueDeviceCertificate(
  signer: DeviceCaSigner,
  request: { deviceId: bigint; key: DevicePublicKey; now: Date; validityDays: number },
): Promise<IssuedCertificate> {
  const names = deviceCertificateNames(request.deviceId);
  const ca = signer.certificate;
  const notBefore = new Date(request.now.getTime() - CLOCK_SKEW_MS);
  const notAfter = new Date(Math.min(request.now.getTime() + request.validityDays * DAY_MS, ca.notAfter.getTime()));
  if (notAfter.getTime() <= request.now.getTime())
    throw new Error('the device CA certificate has expired; renew it to issue device certificates');
  const caKeyId = ca.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: names.subject,
    // The CA's own encoded name, so the issuer matches its subject byte for byte.
    issuer: ca.subjectName,
    notBefore,
    notAfter,
    signingAlgorithm: signer.signingAlgorithm,
    publicKey: request.key.spki,
    signingKey: signer.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: names.uri }]),
      await x509.SubjectKeyIdentifierExtension.create(request.key.spki),
      caKeyId ? new x509.AuthorityKeyIdentifierExtension(caKeyId) : await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey),
    ],
  });
  // Read back what was encoded (UTCTime drops milliseconds) so the database stores the truth.
  return {
    der: new Uint8Array(certificate.rawData),
    serial: certificate.serialNumber.toLowerCase(),
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
  };
}
