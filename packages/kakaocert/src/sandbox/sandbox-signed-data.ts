/**
 * The sandbox's stand-in for kakaoCert's signedData: a CMS ContentInfo (RFC 5652) of type
 * signedData whose encapsulated content is a UTF-8 text describing the consent, opening with
 * the marker below. It has NO signerInfos and no certificates: it parses like the real thing
 * (openssl asn1parse / cms -cmsout) but proves nothing, and the marker makes sure it can never
 * be mistaken for evidence fit for KFTC. Encoded base64url without padding, as kakaoCert sends it.
 */
import { explicit, integer, objectIdentifier, octetString, sequence, set, derNull } from './der';

export const SANDBOX_EVIDENCE_MARKER = 'KFRM-SANDBOX NOT-A-SIGNATURE';

export const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
export const OID_DATA = '1.2.840.113549.1.7.1';
export const OID_SHA256 = '2.16.840.1.101.3.4.2.1';

export function sandboxSignedData(consent: Record<string, string>): string {
  const text = [SANDBOX_EVIDENCE_MARKER, ...Object.entries(consent).map(([k, v]) => `${k}=${v}`)].join('\n');
  const signedData = sequence(
    integer(1),
    set(sequence(objectIdentifier(OID_SHA256), derNull())),
    sequence(objectIdentifier(OID_DATA), explicit(0, octetString(Buffer.from(text, 'utf8')))),
    set(),
  );
  const contentInfo = sequence(objectIdentifier(OID_SIGNED_DATA), explicit(0, signedData));
  return contentInfo.toString('base64url');
}
