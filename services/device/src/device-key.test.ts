import { createHash, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DomainError } from '@kfrm/errors';
import { encodeTlv } from './der';
import { MAX_PUBLIC_KEY_CHARS, parseDevicePublicKey, type DeviceKeyAlgorithm } from './device-key';
import { keyPair, keyText, P256, RSA2048, spkiBase64, spkiDer, spkiPem, RSA_PUBLIC_FIXTURES, type KeySpec } from './testing/keys.fixtures';

async function refusal(text: string): Promise<string> {
  try {
    await parseDevicePublicKey(text);
    return 'accepted';
  } catch (err) {
    return err instanceof DomainError ? err.code : `unexpected ${String(err)}`;
  }
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const hex = (text: string) => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

describe('parseDevicePublicKey accepts the keys phones make', () => {
  const accepted: Array<[string, KeySpec | keyof typeof RSA_PUBLIC_FIXTURES, DeviceKeyAlgorithm]> = [
    ['EC P-256', P256, 'EC_P256'],
    ['RSA 2048', RSA2048, 'RSA_2048'],
    ['RSA 3072', 'RSA_3072', 'RSA_3072'],
    ['RSA 4096', 'RSA_4096', 'RSA_4096'],
  ];
  for (const [name, source, algorithm] of accepted) {
    it(`${name}, as PEM and as base64 DER, unchanged`, async () => {
      const key = keyText(source);
      const fromPem = await parseDevicePublicKey(key.pem);
      const fromBase64 = await parseDevicePublicKey(key.base64);
      expect(fromPem.algorithm).toBe(algorithm);
      expect(fromBase64).toEqual(fromPem);
      // Node's export is canonical DER: re-encoding gives the same bytes and fingerprint.
      expect(b64(fromPem.spki)).toBe(key.base64);
      expect(fromPem.fingerprint).toBe(createHash('sha256').update(key.der).digest('hex'));
    });
  }

  it('base64 wrapped over lines (as Android Base64.DEFAULT writes it)', async () => {
    const wrapped = spkiBase64(P256).replace(/(.{76})/g, '$1\n');
    expect((await parseDevicePublicKey(wrapped)).algorithm).toBe('EC_P256');
  });

  it('an RSA key without the NULL parameters, re-encoded canonically', async () => {
    const der = spkiDer(RSA2048);
    // 30 82 01 22 | 30 0d (06 09 rsaEncryption, 05 00) | 03 82 01 0f ... → drop the NULL.
    const algorithmWithoutNull = encodeTlv(0x30, der.subarray(6, 17));
    const rest = der.subarray(19);
    const variant = encodeTlv(0x30, Uint8Array.from([...algorithmWithoutNull, ...rest]));
    const parsed = await parseDevicePublicKey(b64(variant));
    expect(b64(parsed.spki)).toBe(spkiBase64(RSA2048));
  });
});

describe('parseDevicePublicKey refuses everything else with DEVICE_CERTIFICATE_ISSUANCE_FAILED', () => {
  const refusedKeys: Array<[string, KeySpec | keyof typeof RSA_PUBLIC_FIXTURES]> = [
    ['RSA 1024', 'RSA_1024'],
    ['RSA 2047-bit modulus', 'RSA_2047'],
    ['RSA 2048 with e=3', 'RSA_2048_E3'],
    ['EC P-384', { type: 'ec', namedCurve: 'secp384r1' }],
    ['EC secp256k1', { type: 'ec', namedCurve: 'secp256k1' }],
    ['Ed25519', { type: 'ed25519' }],
  ];
  for (const [name, source] of refusedKeys) {
    it(name, async () => {
      const key = keyText(source);
      expect(await refusal(key.pem)).toBe('DEVICE_CERTIFICATE_ISSUANCE_FAILED');
      expect(await refusal(key.base64)).toBe('DEVICE_CERTIFICATE_ISSUANCE_FAILED');
    });
  }

  it('the fixtures are what their names say', () => {
    const details = (name: keyof typeof RSA_PUBLIC_FIXTURES) =>
      createPublicKey({ key: Buffer.from(RSA_PUBLIC_FIXTURES[name], 'base64'), format: 'der', type: 'spki' }).asymmetricKeyDetails;
    expect(details('RSA_3072')).toEqual({ modulusLength: 3072, publicExponent: 65537n });
    expect(details('RSA_4096')).toEqual({ modulusLength: 4096, publicExponent: 65537n });
    expect(details('RSA_1024')).toEqual({ modulusLength: 1024, publicExponent: 65537n });
    expect(details('RSA_2047')).toEqual({ modulusLength: 2047, publicExponent: 65537n });
    expect(details('RSA_2048_E3')).toEqual({ modulusLength: 2048, publicExponent: 3n });
  });

  it('an RSA-PSS key', async () => {
    const pss = keyPair(RSA2048).publicKey; // the same key, with the RSA-PSS OID written below
    const der = new Uint8Array(pss.export({ type: 'spki', format: 'der' }));
    const index = Buffer.from(der).indexOf(Buffer.from('2a864886f70d010101', 'hex'));
    der[index + 8] = 0x0a; // 1.2.840.113549.1.1.10
    expect(await refusal(b64(der))).toBe('DEVICE_CERTIFICATE_ISSUANCE_FAILED');
  });

  it('a P-256 point that is not on the curve, and a compressed point', async () => {
    const prefix = '3059301306072a8648ce3d020106082a8648ce3d030107034200';
    expect(await refusal(b64(hex(`${prefix}04${'01'.repeat(64)}`)))).toBe('DEVICE_CERTIFICATE_ISSUANCE_FAILED');
    const compressed = keyPair(P256).publicKey.export({ format: 'jwk' });
    expect(compressed.kty).toBe('EC');
    const x = Buffer.from(compressed.x!, 'base64url').toString('hex');
    const der = hex(`3039301306072a8648ce3d020106082a8648ce3d03010703220002${x}`);
    expect(await refusal(b64(der))).toBe('DEVICE_CERTIFICATE_ISSUANCE_FAILED');
  });

  it('garbage, empty input, a certificate or private key PEM, PKCS#1, two PEM blocks', async () => {
    const random = new Uint8Array(300).map(() => Math.floor(Math.random() * 256));
    const pem = spkiPem(P256);
    const pkcs1 = keyPair(RSA2048).publicKey.export({ type: 'pkcs1', format: 'pem' }) as string;
    const privatePem = keyPair(P256).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    for (const text of [
      '',
      '   ',
      'not base64 at all!',
      b64(random),
      pkcs1,
      privatePem,
      pem + pem,
      pem.replaceAll('PUBLIC KEY', 'CERTIFICATE'),
    ]) {
      expect(await refusal(text), text.slice(0, 40)).toBe('DEVICE_CERTIFICATE_ISSUANCE_FAILED');
    }
  });

  it('valid keys with trailing bytes, BER indefinite lengths or non-minimal lengths', async () => {
    const der = spkiDer(P256);
    expect(await refusal(b64(Uint8Array.from([...der, 0])))).toBe('DEVICE_CERTIFICATE_ISSUANCE_FAILED');
    const indefinite = Uint8Array.from([0x30, 0x80, ...der.subarray(2), 0, 0]);
    expect(await refusal(b64(indefinite))).toBe('DEVICE_CERTIFICATE_ISSUANCE_FAILED');
    const longForm = Uint8Array.from([0x30, 0x81, der[1]!, ...der.subarray(2)]);
    expect(await refusal(b64(longForm))).toBe('DEVICE_CERTIFICATE_ISSUANCE_FAILED');
  });

  it('deeply nested DER within the size limit', async () => {
    let nested: Uint8Array = new Uint8Array();
    while (b64(encodeTlv(0x30, nested)).length < MAX_PUBLIC_KEY_CHARS - 8) nested = encodeTlv(0x30, nested);
    expect(await refusal(b64(nested))).toBe('DEVICE_CERTIFICATE_ISSUANCE_FAILED');
  });

  it('input over 8 KiB, even if it would otherwise parse', async () => {
    const padded = spkiPem(P256).replace('\n', `\n${' '.repeat(MAX_PUBLIC_KEY_CHARS)}`);
    expect(await refusal(padded)).toBe('DEVICE_CERTIFICATE_ISSUANCE_FAILED');
    expect(await refusal('A'.repeat(1024 * 1024))).toBe('DEVICE_CERTIFICATE_ISSUANCE_FAILED');
  });
});
