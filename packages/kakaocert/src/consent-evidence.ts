/**
 * Checks a consent's signedData before it is kept as evidence: a CMS SignedData (PKCS#7) with one
 * signer, whose embedded certificate one of the trust anchors issued (and is in date), whose
 * signature is valid, over exactly the expected content. The CMS work is @kfrm/pki's (the same
 * verifier as transfer signing), with the signer taken from the SignedData itself: a kakaoCert
 * consent is signed with the user's own certificate, which we do not hold beforehand.
 */
import { embeddedSignerCertificate, verifySignedData, x509 } from '@kfrm/pki';

/** Why evidence was refused (for logs and the funding state); outwardly all are one code. */
export type EvidenceRejection = 'malformed' | 'untrusted_signer' | 'bad_signature' | 'content_mismatch';

export type EvidenceCheck = { ok: true; signerSerialNumber: string } | { ok: false; reason: EvidenceRejection; detail: string };

/** Every CERTIFICATE block of a PEM bundle (the trust anchor file). Throws when there is none. */
export function parseTrustAnchors(pem: string): x509.X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new TypeError('the trust anchor PEM holds no certificate');
  return blocks.map((block) => new x509.X509Certificate(block));
}

export async function checkConsentEvidence(params: {
  /** As kakaoCert returns it: base64url. */
  signedData: string;
  expectedContent: Uint8Array;
  trustAnchors: readonly x509.X509Certificate[];
  now?: Date;
}): Promise<EvidenceCheck> {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(params.signedData)) return { ok: false, reason: 'malformed', detail: 'not-base64url' };
  const base64 = Buffer.from(params.signedData, 'base64url').toString('base64');
  const signer = await embeddedSignerCertificate(base64);
  if (!signer) return { ok: false, reason: 'malformed', detail: 'no-signer-certificate' };
  const issuer = new x509.X509Certificate(signer).issuer;
  // Anchors named as the issuer; a look-alike CA with the same name fails on the signature.
  const anchors = params.trustAnchors.filter((anchor) => anchor.subject === issuer);
  if (anchors.length === 0) return { ok: false, reason: 'untrusted_signer', detail: 'signer-certificate-wrong-issuer' };
  let last: EvidenceCheck = { ok: false, reason: 'untrusted_signer', detail: 'no-anchor' };
  for (const anchor of anchors) {
    const result = await verifySignedData({
      signedData: base64,
      expectedContent: params.expectedContent,
      trustedSigner: signer,
      signingCa: anchor,
      now: params.now,
      signerExtendedKeyUsage: null,
    });
    if (result.ok) return { ok: true, signerSerialNumber: result.signerSerialNumber };
    last = { ok: false, reason: rejectionOf(result.detail), detail: result.detail };
    if (last.reason !== 'untrusted_signer') return last;
  }
  return last;
}

function rejectionOf(detail: string): EvidenceRejection {
  if (detail === 'content-mismatch' || detail === 'message-digest-mismatch') return 'content_mismatch';
  if (detail.startsWith('signer-certificate-') || detail.startsWith('signing-ca-') || detail === 'signer-key-usage') {
    return 'untrusted_signer';
  }
  if (detail === 'bad-signature' || detail === 'signer-id-mismatch' || detail === 'embedded-certificate-mismatch') return 'bad_signature';
  return 'malformed';
}
