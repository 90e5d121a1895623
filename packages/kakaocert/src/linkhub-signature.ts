/**
 * The two HMAC signatures of the Linkhub protocol (API version 2.0, as the current `linkhub`
 * and `kakaocert` npm modules compute them; the 1.0 protocol used MD5 and HMAC-SHA1).
 *
 * Token request (auth host):
 *   Authorization: LINKHUB {LinkID} base64(HMAC-SHA256(base64decode(SecretKey),
 *     "POST\n" + base64(sha256(body)) + "\n" + xDate + "\n" + [forwardIp + "\n"] + "2.0\n" + uri))
 * Service POST (kakaoCert host):
 *   x-kc-auth: {LinkID} base64(HMAC-SHA256(key, "POST\n" + base64(sha256(body)) + "\n" + xDate + "\n2.0\n"))
 *   (no URI in the signed string).
 *
 * The body digest is over exactly the bytes sent, so callers sign the Buffer they then write.
 */
import { createHash, createHmac } from 'node:crypto';

export const LINKHUB_API_VERSION = '2.0';

export function sha256Base64(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('base64');
}

function hmacBase64(secretKeyBase64: string, target: string): string {
  return createHmac('sha256', Buffer.from(secretKeyBase64, 'base64')).update(target, 'utf8').digest('base64');
}

export function tokenSignatureTarget(input: { body: Uint8Array; xDate: string; uri: string; forwardIp?: string }): string {
  return (
    'POST\n' +
    sha256Base64(input.body) +
    '\n' +
    input.xDate +
    '\n' +
    (input.forwardIp ? `${input.forwardIp}\n` : '') +
    LINKHUB_API_VERSION +
    '\n' +
    input.uri
  );
}

/** The value of the Authorization header of a token request. */
export function linkhubAuthorization(input: {
  linkId: string;
  secretKey: string;
  body: Uint8Array;
  xDate: string;
  uri: string;
  forwardIp?: string;
}): string {
  return `LINKHUB ${input.linkId} ${hmacBase64(input.secretKey, tokenSignatureTarget(input))}`;
}

export function kcAuthSignatureTarget(input: { body: Uint8Array; xDate: string }): string {
  return `POST\n${sha256Base64(input.body)}\n${input.xDate}\n${LINKHUB_API_VERSION}\n`;
}

/** The value of the x-kc-auth header of a service POST. */
export function kcAuthHeader(input: { linkId: string; secretKey: string; body: Uint8Array; xDate: string }): string {
  return `${input.linkId} ${hmacBase64(input.secretKey, kcAuthSignatureTarget(input))}`;
}
