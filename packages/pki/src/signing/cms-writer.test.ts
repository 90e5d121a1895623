import { createPublicKey, verify as cryptoVerify, type webcrypto as WebCrypto } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { webcrypto, x509 } from '../crypto-provider';
import type { HashName } from './algorithms';
import { buildSignedData, signData, verifySignedData } from './cms';
import { childrenOf, readContentInfo, readSignedData, readSignerInfo, whole } from './cms-structure';
import { writeSignedData } from './cms-writer';
import { createCsr, parseSigningCsr } from './csr';
import { issueSigningCertificate, type SigningCa } from './issue';
import { createSigningCa } from './signing-ca';
import { ecKeys, rsaKeys } from '../testing/signing.fixtures';

type CryptoKeyPair = WebCrypto.CryptoKeyPair;

// signData writes the SignedData itself (cms-writer.ts) where it used to assemble it with pkijs,
// which buildSignedData still does. Both must give the same bytes: RSASSA-PKCS1-v1_5 signatures
// are deterministic, so those compare whole; ECDSA signatures are not, so everything but the
// signature compares, and the signature verifies.

const signingTimes = [new Date('2026-12-07T01:02:03.456Z'), new Date('2049-12-31T23:59:59.999Z'), new Date('2000-01-01T00:00:00Z')];
const contents = [
  new Uint8Array(0),
  new TextEncoder().encode('{"v":1,"process_id":"p","amount_minor":"150000"}'),
  new Uint8Array(200).fill(0x41),
  // Past one and two of asn1js's 64 KiB pieces of an attached content.
  new Uint8Array(65536).map((_, i) => i % 251),
  new Uint8Array(2 * 65536 + 17).map((_, i) => (i * 7) % 256),
];

let ca: SigningCa;
async function enroll(keys: CryptoKeyPair): Promise<Uint8Array> {
  // Our signing CA issues for P-256 and RSA only; the writer takes any ECDSA key, so a P-384
  // signer gets a self-signed certificate (only its issuer and serial number are used here).
  if ((keys.privateKey.algorithm as WebCrypto.EcKeyAlgorithm).namedCurve === 'P-384') {
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '00c0ffee01',
      name: 'CN=P-384 signer',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
      keys,
    });
    return new Uint8Array(certificate.rawData);
  }
  const csr = await parseSigningCsr((await createCsr(keys)).base64);
  return (await issueSigningCertificate({ csr, ca, userId: 'writer-test', validityDays: 30 })).der;
}

beforeAll(async () => {
  ca = await createSigningCa();
});

/** The DER with the (only) signer's signature left out, and that signature. */
function apartFromSignature(der: Uint8Array): { rest: Uint8Array[]; signature: Uint8Array; signedAttributes: Uint8Array } {
  const info = readContentInfo(der)!;
  const signedData = readSignedData(der, info.content)!;
  expect(signedData.signerInfos).toHaveLength(1);
  const signerTlv = signedData.signerInfos[0]!;
  const signer = readSignerInfo(der, signerTlv)!;
  const fields = childrenOf(der, signerTlv)!;
  const signedAttributes = whole(der, signer.signedAttributesTlv!).slice();
  signedAttributes[0] = 0x31;
  return {
    // The content type, SignedData's fields before its signerInfos, and the SignerInfo's fields
    // but the last (the signature). The lengths around them follow the signature's, which varies.
    rest: [
      new TextEncoder().encode(info.contentType),
      ...childrenOf(der, info.content)!
        .slice(0, -1)
        .map((f) => whole(der, f)),
      ...fields.slice(0, -1).map((f) => whole(der, f)),
    ],
    signature: signer.signature,
    signedAttributes,
  };
}

describe('signData writes the SignedData pkijs wrote', () => {
  it.each([
    ['RSA-2048 with SHA-256', 'SHA-256'],
    ['RSA-2048 with SHA-384', 'SHA-384'],
  ] as const)('%s: the same bytes, attached and detached, for every content size and signing time', async (_name, hash) => {
    const keys = await rsaKeys(2048, 65537, hash);
    const certificateDer = await enroll(keys);
    for (const content of contents) {
      for (const signingTime of signingTimes) {
        for (const detached of [false, true]) {
          const params = { content, certificateDer, privateKey: keys.privateKey, detached, signingTime };
          const written = await signData(params);
          const built = await buildSignedData(params, {});
          expect(Buffer.from(written.der).equals(Buffer.from(built.der))).toBe(true);
          expect(written.base64).toBe(built.base64);
        }
      }
    }
  });

  it.each([
    ['P-256', 'P-256', undefined],
    ['P-256 with SHA-384', 'P-256', 'SHA-384'],
    ['P-256 with SHA-512', 'P-256', 'SHA-512'],
    ['P-384', 'P-384', undefined],
  ] as const)('%s: the same bytes but the signature, which verifies', async (_name, curve, hash) => {
    const keys = await ecKeys(curve);
    const certificateDer = await enroll(keys);
    const publicKey = createPublicKey({
      key: Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey)),
      format: 'der',
      type: 'spki',
    });
    const nodeHash = (hash ?? 'SHA-256').replace('-', '').toLowerCase();
    for (const content of contents) {
      for (const detached of [false, true]) {
        const params = {
          content,
          certificateDer,
          privateKey: keys.privateKey,
          detached,
          signingTime: signingTimes[0]!,
          ...(hash ? { hash } : {}),
        };
        const written = apartFromSignature((await signData(params)).der);
        const built = apartFromSignature((await buildSignedData(params, {})).der);
        expect(written.rest.map((b) => Buffer.from(b).toString('hex'))).toEqual(built.rest.map((b) => Buffer.from(b).toString('hex')));
        expect(cryptoVerify(nodeHash, written.signedAttributes, { key: publicKey, dsaEncoding: 'der' }, written.signature)).toBe(true);
      }
    }
  });

  it('what it writes passes the server check, attached and detached', async () => {
    const keys = await ecKeys('P-256');
    const certificateDer = await enroll(keys);
    const content = new TextEncoder().encode('{"v":1,"amount_minor":"150000"}');
    for (const detached of [false, true]) {
      const signed = await signData({ content, certificateDer, privateKey: keys.privateKey, detached });
      const verdict = await verifySignedData({
        signedData: signed.base64,
        expectedContent: content,
        trustedSigner: certificateDer,
        signingCa: ca.cert,
      });
      expect(verdict).toMatchObject({ ok: true });
    }
  });

  it('leaves to pkijs what it does not write: an RSA key asked for another digest than its own', async () => {
    const keys = await rsaKeys(2048, 65537, 'SHA-256');
    const certificateDer = await enroll(keys);
    const params = {
      content: new Uint8Array([1, 2, 3]),
      certificateDer,
      privateKey: keys.privateKey,
      detached: false,
      hash: 'SHA-512' as HashName,
    };
    expect(writeSignedData({ ...params, signingTime: new Date() })).toBeUndefined();
    const signingTime = signingTimes[0]!;
    const written = await signData({ ...params, signingTime });
    const built = await buildSignedData({ ...params, signingTime }, {});
    expect(Buffer.from(written.der).equals(Buffer.from(built.der))).toBe(true);
  });

  it('leaves a key of another kind (ECDH) to pkijs, which refuses it, as before', async () => {
    const keys = await ecKeys('P-256');
    const certificateDer = await enroll(keys);
    const ecdh = (await webcrypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])) as CryptoKeyPair;
    const params = { content: new Uint8Array([1]), certificateDer, privateKey: ecdh.privateKey, detached: false };
    expect(writeSignedData({ ...params, hash: 'SHA-256', signingTime: new Date() })).toBeUndefined();
    await expect(signData(params)).rejects.toThrow();
  });

  it('names the signer from a certificate that is not X.509 only through pkijs, which refuses it', async () => {
    const keys = await ecKeys('P-256');
    const params = {
      content: new Uint8Array([1]),
      certificateDer: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]),
      privateKey: keys.privateKey,
      detached: false,
    };
    expect(writeSignedData({ ...params, hash: 'SHA-256', signingTime: new Date() })).toBeUndefined();
    await expect(signData(params)).rejects.toThrow();
  });
});
