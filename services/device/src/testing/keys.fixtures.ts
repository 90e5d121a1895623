// Test helper: public keys as a phone (or an attacker) would send them.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';

export type KeySpec =
  | { type: 'ec'; namedCurve: string }
  | { type: 'rsa'; modulusLength: number; publicExponent?: number }
  | { type: 'ed25519' };

const cache = new Map<string, { publicKey: KeyObject; privateKey: KeyObject }>();

/** Key generation (RSA 4096 above all) is slow; each spec is generated once per test file. */
export function keyPair(spec: KeySpec): { publicKey: KeyObject; privateKey: KeyObject } {
  const id = JSON.stringify(spec);
  let pair = cache.get(id);
  if (!pair) {
    if (spec.type === 'ec') pair = generateKeyPairSync('ec', { namedCurve: spec.namedCurve });
    else if (spec.type === 'rsa')
      pair = generateKeyPairSync('rsa', { modulusLength: spec.modulusLength, publicExponent: spec.publicExponent ?? 65537 });
    else pair = generateKeyPairSync('ed25519');
    cache.set(id, pair);
  }
  return pair;
}

export const spkiPem = (spec: KeySpec) => keyPair(spec).publicKey.export({ type: 'spki', format: 'pem' }) as string;
export const spkiDer = (spec: KeySpec) => new Uint8Array(keyPair(spec).publicKey.export({ type: 'spki', format: 'der' }));
export const spkiBase64 = (spec: KeySpec) => Buffer.from(spkiDer(spec)).toString('base64');

export const P256: KeySpec = { type: 'ec', namedCurve: 'prime256v1' };
export const RSA2048: KeySpec = { type: 'rsa', modulusLength: 2048 };

/**
 * Public keys generated once with node:crypto (`generateKeyPairSync('rsa', …)`), kept as base64
 * SPKI because generating RSA 3072/4096 or e=3 keys in every run takes seconds to a minute.
 * Only public halves: nothing can be signed with them.
 */
export const RSA_PUBLIC_FIXTURES = {
  RSA_3072:
    'MIIBojANBgkqhkiG9w0BAQEFAAOCAY8AMIIBigKCAYEA7SNPHz+Res0tc8Vz8paKzFLLDlLTEuKupxwzLOBK0dPQ6i7Kpy49aeJJ' +
    'iVNkxa+PybksZh12FCcM3U+7Wvn6UgcpiDzYQDhE4ljQFcx2KbJLLJrWlnBmeUq4AgLfpBZRVj6mYog0V86hfmasGUifWm97rW2m' +
    'PBO30nBhTzyz/NoPrGSLLSULmqkNuXTsqgZ1SrRD+oBqATPW0NJRk5bU/WDkc3LthiwS7tIfZsCbhn04yv64W+sgp1acnKUDkhLO' +
    'Wtwbr/d3ktgFuwfN/88rFyDnW0yp0i5otdjVEJQVRNeChgSHLMo6FxVe2WnEEeab7bICQ1jnrHwjIggXt+j50PugPll0ByVUoRst' +
    '/tfi9t2HYTCpsSstWkP7Uxq5y4TGHUZ4z4T9GDGVIk/6OW0S2jsBUOVgXDGDi4gGc2CK9MZp2LGwEG9b+02SoyshWOfLinnYXouJ' +
    'MNJFNIvsxUFEchzynI+cxI6cwOa7IXXJY3B44oiur7nz1t5/m+RKYdhJAgMBAAE=',
  RSA_4096:
    'MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAq3DtKddtf7mKWrt/dpDnlpTm5HZGc3NTj+UURzhWce+eWh1aoKYBh+iI' +
    '5rpr/7ONF2ETddzYSEuvlqNnNGf0+Sbt+1b6DG9yMQmCT5Thrj52/JwBzntKeOf8xBcJh5m45eNANH40tiusv8owCjnzKSES7JGw' +
    'zBVAASnHs24DiuHko4mhEORh0u6/r1fNY2PheWt3iHTz9mwxdz7kqmSE9Iscza8YNrX3v/V4NlLMZhRWTZwXNpTzWDsu0vTsGkCf' +
    'qLyE2Rq20VQFg5iajz8yuokImK3lTPnFK/5f/lVITr+bqBTauo2g2qv7IQ+SMLZxIhW4oCUkOQBi817Fw8FbW5MhcoLjcuJsNBgu' +
    'kjFxGl/xCcNEup6Fg41HHJSyCChiGtojOw4h8EuOf9OfznHC7zxcnXv2v46vnCfGFGHYqVytIPiX165iN4aOjouNc20sFRcufBDp' +
    'jQsNz35ma2xwxHEngL4j24WVna0pTa30WaX0okVDXDh8D2mxZlE5o2fOqPjhwe3OEzT1TO5m44k4LehuDfyYnJvxgruuAqTxcV35' +
    'sqGlVYS5J0T6Vu7N+ju3mkkFzGksl19KNO7aQFYO95qmzoRWshXvJEOPJ2wBPsojasQAqhv4FeQDNamTxZBDWrHntfIa/OAtA7qs' +
    'fHHJBtXlH+Pyd1eGIIf/XV8dj38CAwEAAQ==',
  RSA_1024:
    'MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCzLCEBDZDMUkFCiufNDVmnz1UT3uahoAaoW6GmFIJdbPWuSLAxwgFZjFD70Uw8' +
    'kLj/RfaaKPQ0CBRqup+iAPXKkWHAqvYm5wFQKJ6A3X8u5q3c+URBaNl2CoKQiTLa4Jr6Y48KsNvGy77CwrLcucJtPja9ShmZmsZ4' +
    'qPcZ/6zWbwIDAQAB',
  RSA_2047:
    'MIIBITANBgkqhkiG9w0BAQEFAAOCAQ4AMIIBCQKCAQBgy9Fy61ntNwUVpgMqEe4kOCbfoVHp5r73L4NTinhCJE9/VP72c5JCZWCc' +
    'rzZSoZluLtYj916MkKvx7KU49Fn8vx0z+VtQk+t6S61kegXV2Xq9yZMQLwqmdHG/j90xZrC0RWbOlclsdNaZT47wBmieYTS2GWl1' +
    'RPp8vGZQYNH2mKI7zeBXEEOO6hxzZ7eUwPxX0GLp1RjBGZvLUvMYVhp3es2TGWNOLfY9OWlc8i2zLlXvT+Yb+PXyzP/FMbs6p+Os' +
    'EuE7cR+Gk9qZwx5r298CBwZOsBN5+LjvNg7NhcSvIOdo1h9aVzOFDNOZwdIWkTbzY7qq/nhnTiN1J581Sl95AgMBAAE=',
  RSA_2048_E3:
    'MIIBIDANBgkqhkiG9w0BAQEFAAOCAQ0AMIIBCAKCAQEA6+zs7dImJ8BE9cSAr6nCWlyW+j5kHzfsn+RunzIh6y2LHqG2vEKl4iC6' +
    '/WydvsumbDaj2SBfknmrKt2/sDFQ9270Ig9GwDkS3rr9jBcqAzbzNwBV7QUK/52GPtlPBd9PMyGMNUVbZmOIZaX+QI+9EUcr8dY7' +
    'xuMPnIW/iLPk9JPY2b/cBrjvkC7d5XjORaqAn4APsriCYqF8fBA1aeEKqgETiXSscNQFj51QIlRFAle6M93Ghof/oEtRDbi/0DOx' +
    'N/7JSqLuGliNH5v4ussigaa1m9LK7YOm+ihZvwpJJvdSeAkEZfES9HzBwAK397w+mS6d+B4ouzJwTNmg15H5lwIBAw==',
} as const;

/** A key as text and bytes, from a generated spec or a fixture. */
export interface KeyText {
  pem: string;
  base64: string;
  der: Uint8Array;
}

export function keyText(source: KeySpec | keyof typeof RSA_PUBLIC_FIXTURES): KeyText {
  const der = typeof source === 'string' ? new Uint8Array(Buffer.from(RSA_PUBLIC_FIXTURES[source], 'base64')) : spkiDer(source);
  const base64 = Buffer.from(der).toString('base64');
  const pem = `-----BEGIN PUBLIC KEY-----\n${base64.match(/.{1,64}/g)!.join('\n')}\n-----END PUBLIC KEY-----\n`;
  return { pem, base64, der };
}
