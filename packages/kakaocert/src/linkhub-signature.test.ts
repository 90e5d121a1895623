import { describe, expect, it } from 'vitest';
import { kcAuthHeader, linkhubAuthorization, sha256Base64 } from './linkhub-signature';

// Expected values computed with the openssl CLI (dgst -sha256, -mac HMAC), independently of
// node:crypto and of this code, from the string layout in docs/external-apis.md.
const SECRET = Buffer.from('secret').toString('base64');
const TOKEN_BODY = Buffer.from('{"access_id":"020040000001","scope":["member","310","320","330"]}');
const X_DATE = '2025-03-01T01:00:00.000Z';

describe('Linkhub signatures (API 2.0)', () => {
  it('digests the body with SHA-256 in base64', () => {
    expect(sha256Base64(TOKEN_BODY)).toBe('bjV3lbLKhiyFkwrvq2m4wAgkfQPQnoHjtIHPLhIby5w=');
  });

  it('signs a token request over method, digest, date, version and URI', () => {
    expect(linkhubAuthorization({ linkId: 'LINK', secretKey: SECRET, body: TOKEN_BODY, xDate: X_DATE, uri: '/KAKAOCERT/Token' })).toBe(
      'LINKHUB LINK aR4o0IHtj09xF0P+0MpVTW8jcU1kjfAbKiW2ij1Kf2M=',
    );
  });

  it('puts the forwarded IP between date and version when given', () => {
    expect(
      linkhubAuthorization({ linkId: 'LINK', secretKey: SECRET, body: TOKEN_BODY, xDate: X_DATE, uri: '/KAKAOCERT/Token', forwardIp: '*' }),
    ).toBe('LINKHUB LINK gDqTYpLVt7crZ/eG/iZyVmalEpgKZXAE2LopMB0Eoaw=');
  });

  it('signs a service POST without the URI', () => {
    expect(kcAuthHeader({ linkId: 'LINK', secretKey: SECRET, body: Buffer.from('{"a":false}'), xDate: X_DATE })).toBe(
      'LINK C/FLgNWL8Fo7tPUGSrFo30/y6JSiEJVqE/eeeAzwDak=',
    );
  });
});
