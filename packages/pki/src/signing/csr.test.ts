import { beforeAll, describe, expect, it } from 'vitest';
import type { webcrypto as WebCrypto } from 'node:crypto';
import { x509 } from '../crypto-provider';
import { toPem } from '../pem';
import { createCsr, MAX_CSR_INPUT_LENGTH, parseSigningCsr } from './csr';
import { SigningError, type CsrRejection } from './errors';
import { ecKeys, nestedSequences, rsaKeys, wrapDer } from '../testing/signing.fixtures';

type CryptoKeyPair = WebCrypto.CryptoKeyPair;

async function refusal(input: string): Promise<CsrRejection> {
  const error = await parseSigningCsr(input).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SigningError);
  const signingError = error as SigningError;
  expect(signingError.seedCode).toBe('INVALID_SIGNING_CSR');
  return signingError.reason as CsrRejection;
}

const b64 = (der: Uint8Array) => Buffer.from(der).toString('base64');

describe('parseSigningCsr', () => {
  let rsa4096: CryptoKeyPair;
  // RSA-4096 generation is slow: once for the file.
  beforeAll(async () => {
    rsa4096 = await rsaKeys(4096);
  });

  it('accepts an EC P-256 CSR as PEM and as bare base64, keeping only its public key', async () => {
    const keys = await ecKeys();
    const csr = await createCsr(keys);
    for (const input of [csr.pem, csr.base64]) {
      const parsed = await parseSigningCsr(input);
      expect(parsed.keyKind).toBe('EC-P256');
      expect(parsed.der).toEqual(csr.der);
      const spki = new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey));
      expect(parsed.subjectPublicKeyInfo).toEqual(spki);
    }
  });

  it('accepts RSA 2048, 3072 and 4096 CSRs with e = 65537, and ECDSA with SHA-384', async () => {
    for (const [keys, bits] of [
      [await rsaKeys(2048), 2048],
      [await rsaKeys(3072, 65537, 'SHA-384'), 3072],
      [rsa4096, 4096],
    ] as const) {
      const parsed = await parseSigningCsr((await createCsr(keys)).base64);
      expect(parsed).toMatchObject({ keyKind: 'RSA', rsaModulusBits: bits });
    }
    const parsed = await parseSigningCsr((await createCsr(await ecKeys(), { hash: 'SHA-384' })).base64);
    expect(parsed.keyKind).toBe('EC-P256');
  });

  it('refuses a CSR whose self-signature does not verify (one byte of the signature flipped)', async () => {
    for (const keys of [await ecKeys(), rsa4096]) {
      const der = (await createCsr(keys)).der.slice();
      der[der.length - 1]! ^= 0x01;
      expect(await refusal(b64(der))).toBe('bad-signature');
    }
  });

  it('refuses a CSR whose signed subject was changed after signing', async () => {
    const csr = await createCsr(await ecKeys(), { subject: 'CN=aaaa' });
    const der = csr.der.slice();
    const at = Buffer.from(der).indexOf(Buffer.from('aaaa'));
    der[at] = 'b'.charCodeAt(0);
    expect(await refusal(b64(der))).toBe('bad-signature');
  });

  it('refuses RSA 1024, RSA with e = 3, P-384 and Ed25519 keys', async () => {
    expect(await refusal((await createCsr(await rsaKeys(1024))).base64)).toBe('unsupported-rsa-size');
    expect(await refusal((await createCsr(await rsaKeys(2048, 3))).base64)).toBe('unsupported-rsa-exponent');
    expect(await refusal((await createCsr(await ecKeys('P-384'), { hash: 'SHA-384' })).base64)).toBe('unsupported-curve');
    const ed = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const edCsr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys: ed, signingAlgorithm: { name: 'Ed25519' } });
    expect(await refusal(b64(new Uint8Array(edCsr.rawData)))).toBe('unsupported-key-type');
  });

  it('refuses an EC key whose point is not on P-256', async () => {
    const keys = await ecKeys();
    const der = (await createCsr(keys)).der.slice();
    const point = new Uint8Array(await crypto.subtle.exportKey('raw', keys.publicKey));
    const at = Buffer.from(der).indexOf(Buffer.from(point));
    expect(at).toBeGreaterThan(0);
    der[at + 64]! ^= 0x01; // last byte of y
    expect(await refusal(b64(der))).toBe('invalid-ec-point');
  });

  it('refuses a CSR signed with SHA-1', async () => {
    const keys = await ecKeys();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=x',
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-1' },
    });
    expect(await refusal(b64(new Uint8Array(csr.rawData)))).toBe('unsupported-signature-algorithm');
  });

  it('refuses garbage, empty input, a certificate instead of a CSR, and other PEM labels', async () => {
    expect(await refusal('')).toBe('empty');
    expect(await refusal('not base64 at all!')).toBe('not-base64');
    expect(await refusal(b64(new Uint8Array([1, 2, 3, 4, 5, 6])))).toBe('malformed-der');
    expect(await refusal(b64(nestedSequences(3)))).toBe('not-a-csr');
    const csr = await createCsr(await ecKeys());
    expect(await refusal(toPem('CERTIFICATE', csr.der))).toBe('not-base64');
    expect(await refusal(b64(csr.der.subarray(0, csr.der.length - 5)))).toBe('malformed-der');
    expect(await refusal(b64(new Uint8Array([...csr.der, 0x00])))).toBe('malformed-der');
  });

  it('refuses deeply nested DER (10,000 levels, and a depth bomb that fits the size limit) without crashing', async () => {
    expect(await refusal(b64(nestedSequences(10_000)))).toBe('too-large');
    const bomb = b64(nestedSequences(2_000));
    expect(bomb.length).toBeLessThan(MAX_CSR_INPUT_LENGTH);
    expect(await refusal(bomb)).toBe('too-deep');
    // The same bomb hidden in an OCTET STRING, which asn1js would also decode.
    expect(await refusal(b64(wrapDer(0x30, wrapDer(0x04, nestedSequences(1_000)))))).toBe('too-deep');
  });

  it('refuses input over 16 KiB before decoding it', async () => {
    const csr = await createCsr(await ecKeys());
    expect(await refusal(csr.pem + ' '.repeat(MAX_CSR_INPUT_LENGTH))).toBe('too-large');
  });
});
