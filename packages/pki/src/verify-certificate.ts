import { x509 } from './crypto-provider';

export type CertificateRejection =
  | 'unparseable'
  | 'wrong-issuer'
  | 'bad-signature'
  | 'not-yet-valid'
  | 'expired'
  | 'is-a-ca'
  | 'wrong-usage';

export type CertificateCheck = { ok: true; certificate: x509.X509Certificate } | { ok: false; reason: CertificateRejection };

/**
 * Checks a leaf certificate against the one CA that may have issued it: issuer name, signature,
 * validity at `now`, not a CA itself, and (when given) an extended key usage it must carry.
 * The TLS layer only *requests* client certificates (so public methods work without one), so
 * this check is what makes a certificate count.
 */
export async function verifyIssuedBy(
  der: Uint8Array,
  ca: x509.X509Certificate,
  options: { now?: Date; requiredExtendedKeyUsage?: string } = {},
): Promise<CertificateCheck> {
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(der);
  } catch {
    return { ok: false, reason: 'unparseable' };
  }
  if (certificate.issuer !== ca.subject) return { ok: false, reason: 'wrong-issuer' };
  let signed = false;
  try {
    signed = await certificate.verify({ publicKey: ca.publicKey, signatureOnly: true });
  } catch {
    signed = false;
  }
  if (!signed) return { ok: false, reason: 'bad-signature' };
  const now = options.now ?? new Date();
  if (now < certificate.notBefore) return { ok: false, reason: 'not-yet-valid' };
  if (now > certificate.notAfter) return { ok: false, reason: 'expired' };
  const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
  if (constraints?.ca) return { ok: false, reason: 'is-a-ca' };
  if (options.requiredExtendedKeyUsage) {
    const eku = certificate.getExtension(x509.ExtendedKeyUsageExtension);
    if (!eku?.usages.map(String).includes(options.requiredExtendedKeyUsage)) return { ok: false, reason: 'wrong-usage' };
  }
  return { ok: true, certificate };
}

export const CLIENT_AUTH_EKU = x509.ExtendedKeyUsage.clientAuth as string;
