import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { webcrypto as WebCrypto } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { webcrypto, x509 } from '../crypto-provider';
import { buildSignedData, signData, verifySignedData, type SignedDataVerification } from './cms';
import { createCsr, parseSigningCsr } from './csr';
import { issueSigningCertificate, SIGNING_CERTIFICATE_EKU, type SigningCa } from './issue';
import { createSigningCa } from './signing-ca';
import { ecKeys, nestedSequences, rsaKeys } from '../testing/signing.fixtures';

type CryptoKeyPair = WebCrypto.CryptoKeyPair;
type CryptoKey = WebCrypto.CryptoKey;

interface User {
  keys: CryptoKeyPair;
  certificateDer: Uint8Array;
}

const DAY_MS = 24 * 3600 * 1000;
const text = (s: string) => new TextEncoder().encode(s);

async function enroll(ca: SigningCa, keys: CryptoKeyPair, userId: string, validityDays = 30, now?: Date): Promise<User> {
  const csr = await parseSigningCsr((await createCsr(keys)).base64);
  const issued = await issueSigningCertificate({ csr, ca, userId, validityDays, ...(now ? { now } : {}) });
  return { keys, certificateDer: issued.der };
}

/** A certificate made outside issueSigningCertificate, for structures our issuer never makes. */
async function craftCertificate(options: {
  issuer: { subject: string; privateKey: CryptoKey; signingCa?: x509.X509Certificate };
  publicKey: CryptoKey;
  subject: string;
  serialNumber?: string;
  isCa?: boolean;
}): Promise<Uint8Array> {
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: options.serialNumber ?? '0badc0de',
    subject: options.subject,
    issuer: options.issuer.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 30 * DAY_MS),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    publicKey: options.publicKey,
    signingKey: options.issuer.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(options.isCa ?? false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation | (options.isCa ? x509.KeyUsageFlags.keyCertSign : 0),
        true,
      ),
      new x509.ExtendedKeyUsageExtension([SIGNING_CERTIFICATE_EKU]),
    ],
  });
  return new Uint8Array(cert.rawData);
}

function signatureAlgorithmOf(der: Uint8Array): string {
  const contentInfo = pkijs.ContentInfo.fromBER(der);
  return new pkijs.SignedData({ schema: contentInfo.content }).signerInfos[0]!.signatureAlgorithm.algorithmId;
}

function rejected(result: SignedDataVerification): string {
  expect(result.ok).toBe(false);
  return result.ok ? 'accepted' : result.detail;
}

describe('signData / verifySignedData', () => {
  let ca: SigningCa;
  let alice: User;
  let bob: User;
  let rsaUser: User;
  const token = text('verification-token-Zm9vYmFy');

  beforeAll(async () => {
    ca = await createSigningCa();
    alice = await enroll(ca, await ecKeys(), 'alice');
    bob = await enroll(ca, await ecKeys(), 'bob');
    rsaUser = await enroll(ca, await rsaKeys(2048), 'rsa');
  });

  const verifyAs = (user: User, signedData: string, expectedContent: Uint8Array, now?: Date) =>
    verifySignedData({ signedData, expectedContent, trustedSigner: user.certificateDer, signingCa: ca.cert, ...(now ? { now } : {}) });

  it('accepts an attached and a detached signature by the user over exactly the expected content', async () => {
    const signingTime = new Date('2031-05-06T07:08:09Z');
    for (const detached of [false, true]) {
      const signed = await signData({
        content: token,
        certificateDer: alice.certificateDer,
        privateKey: alice.keys.privateKey,
        detached,
        signingTime,
      });
      const result = await verifyAs(alice, signed.base64, token);
      expect(result).toEqual({
        ok: true,
        signerSerialNumber: new x509.X509Certificate(alice.certificateDer).serialNumber.toLowerCase(),
        digestAlgorithm: 'SHA-256',
        signingTime,
      });
    }
  });

  it('signs and verifies content given as a small Node Buffer (a view into the shared pool)', async () => {
    const content = Buffer.from('{"v":1,"amount_minor":"1000"}');
    expect(content.buffer.byteLength).toBeGreaterThan(content.byteLength);
    for (const detached of [false, true]) {
      const signed = await signData({ content, certificateDer: alice.certificateDer, privateKey: alice.keys.privateKey, detached });
      expect((await verifyAs(alice, signed.base64, Buffer.from('{"v":1,"amount_minor":"1000"}'))).ok).toBe(true);
      expect((await verifyAs(alice, signed.base64, Buffer.from('{"v":1,"amount_minor":"9000"}'))).ok).toBe(false);
    }
  });

  it('accepts RSA PKCS#1 v1.5, RSA-PSS, SHA-512 and a subjectKeyIdentifier signer id', async () => {
    const rsa = await signData({
      content: token,
      certificateDer: rsaUser.certificateDer,
      privateKey: rsaUser.keys.privateKey,
      detached: false,
    });
    expect((await verifyAs(rsaUser, rsa.base64, token)).ok).toBe(true);

    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', rsaUser.keys.privateKey);
    const pssKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSA-PSS', hash: 'SHA-256' }, false, ['sign']);
    const pss = await signData({ content: token, certificateDer: rsaUser.certificateDer, privateKey: pssKey, detached: true });
    expect(signatureAlgorithmOf(pss.der)).toBe('1.2.840.113549.1.1.10');
    expect(await verifyAs(rsaUser, pss.base64, token)).toMatchObject({ ok: true });

    const sha512 = await signData({
      content: token,
      certificateDer: alice.certificateDer,
      privateKey: alice.keys.privateKey,
      detached: true,
      hash: 'SHA-512',
    });
    expect(await verifyAs(alice, sha512.base64, token)).toMatchObject({ ok: true, digestAlgorithm: 'SHA-512' });

    const ski = await buildSignedData(
      { content: token, certificateDer: alice.certificateDer, privateKey: alice.keys.privateKey, detached: true },
      { subjectKeyIdentifierSid: true },
    );
    expect((await verifyAs(alice, ski.base64, token)).ok).toBe(true);
  });

  it('accepts the BER indefinite-length framing Bouncy Castle produces', async () => {
    const signed = await signData({
      content: token,
      certificateDer: alice.certificateDer,
      privateKey: alice.keys.privateKey,
      detached: false,
    });
    // ContentInfo ::= SEQUENCE { contentType OID, [0] EXPLICIT SignedData }: re-frame both outer
    // layers with indefinite lengths.
    const contentInfo = asn1js.fromBER(signed.der).result as asn1js.Sequence;
    const [oid, explicit] = contentInfo.valueBlock.value as [asn1js.ObjectIdentifier, asn1js.Constructed];
    const inner = new Uint8Array(explicit.valueBlock.value[0]!.valueBeforeDecodeView);
    const ber = new Uint8Array([0x30, 0x80, ...new Uint8Array(oid.toBER()), 0xa0, 0x80, ...inner, 0, 0, 0, 0]);
    expect(await verifyAs(alice, Buffer.from(ber).toString('base64'), token)).toMatchObject({ ok: true });
  });

  it('accepts attached content as a BER constructed OCTET STRING in segments', async () => {
    const signed = await signData({
      content: token,
      certificateDer: alice.certificateDer,
      privateKey: alice.keys.privateKey,
      detached: false,
    });
    const raw = (block: asn1js.BaseBlock) => [...new Uint8Array(block.valueBeforeDecodeView)];
    const contentInfo = asn1js.fromBER(signed.der).result as asn1js.Sequence;
    const [oid, explicit] = contentInfo.valueBlock.value as [asn1js.ObjectIdentifier, asn1js.Constructed];
    const signedData = explicit.valueBlock.value[0] as asn1js.Sequence;
    const [version, digests, encap, ...rest] = signedData.valueBlock.value as [asn1js.BaseBlock, asn1js.BaseBlock, asn1js.Sequence];
    const eContentType = encap.valueBlock.value[0]!;
    // eContent [0] { OCTET STRING (constructed, indefinite) { first part, second part } }
    const segments = [token.subarray(0, 5), token.subarray(5)].flatMap((part) => [0x04, part.length, ...part]);
    const ber = new Uint8Array([
      ...[0x30, 0x80, ...raw(oid), 0xa0, 0x80],
      ...[0x30, 0x80, ...raw(version), ...raw(digests)],
      ...[0x30, 0x80, ...raw(eContentType), 0xa0, 0x80, 0x24, 0x80, ...segments, 0, 0, 0, 0, 0, 0],
      ...rest.flatMap(raw),
      ...[0, 0, 0, 0, 0, 0],
    ]);
    const base64 = Buffer.from(ber).toString('base64');
    expect(await verifyAs(alice, base64, token)).toMatchObject({ ok: true });
    expect(rejected(await verifyAs(alice, base64, text('verification-token-b3RoZXI')))).toBe('content-mismatch');
  });

  it('matches a signer id whose issuer name is encoded differently, as pkijs compared names', async () => {
    const signed = await signData({
      content: token,
      certificateDer: alice.certificateDer,
      privateKey: alice.keys.privateKey,
      detached: true,
    });
    // The sid is not signed: re-tag the issuer's string values in the SignerInfo (the last copy
    // of the issuer Name) between UTF8String and PrintableString, which name the same issuer.
    const issuer = new Uint8Array(pkijs.Certificate.fromBER(alice.certificateDer).issuer.valueBeforeDecode);
    const der = signed.der.slice();
    const hex = Buffer.from(der).toString('hex');
    const at = hex.lastIndexOf(Buffer.from(issuer).toString('hex')) / 2;
    expect(at).toBeGreaterThan(0);
    let retagged = 0;
    for (let i = at; i < at + issuer.length - 1; i++) {
      // AttributeTypeAndValue: OID 2.5.4.x (06 03 55 04 xx) then the string value's tag.
      if (der[i] === 0x06 && der[i + 1] === 0x03 && der[i + 2] === 0x55 && der[i + 3] === 0x04) {
        const tag = i + 5;
        der[tag] = der[tag] === 0x0c ? 0x13 : 0x0c;
        retagged++;
      }
    }
    expect(retagged).toBeGreaterThan(0);
    expect(await verifyAs(alice, Buffer.from(der).toString('base64'), token)).toMatchObject({ ok: true });
  });

  it('refuses the right signature over other content, attached or detached (replay over a new token)', async () => {
    const other = text('verification-token-b3RoZXI');
    const attached = await signData({
      content: token,
      certificateDer: alice.certificateDer,
      privateKey: alice.keys.privateKey,
      detached: false,
    });
    expect(rejected(await verifyAs(alice, attached.base64, other))).toBe('content-mismatch');
    const detached = await signData({
      content: token,
      certificateDer: alice.certificateDer,
      privateKey: alice.keys.privateKey,
      detached: true,
    });
    expect(rejected(await verifyAs(alice, detached.base64, other))).toBe('message-digest-mismatch');
    expect(rejected(await verifyAs(alice, detached.base64, new Uint8Array()))).toBe('empty-content');
  });

  it('refuses an altered signature', async () => {
    for (const user of [alice, rsaUser]) {
      const signed = await signData({
        content: token,
        certificateDer: user.certificateDer,
        privateKey: user.keys.privateKey,
        detached: true,
      });
      const der = signed.der.slice();
      der[der.length - 1]! ^= 0x01; // the SignerInfo's signature is the last field
      expect(rejected(await verifyAs(user, Buffer.from(der).toString('base64'), token))).toBe('bad-signature');
    }
  });

  it('refuses a signature by another user of the same CA', async () => {
    const byBob = await signData({ content: token, certificateDer: bob.certificateDer, privateKey: bob.keys.privateKey, detached: true });
    expect(rejected(await verifyAs(alice, byBob.base64, token))).toBe('signer-id-mismatch');
    // Bob naming Alice as signer, with or without her certificate embedded: his key does not verify.
    const naming = await buildSignedData(
      { content: token, certificateDer: alice.certificateDer, privateKey: bob.keys.privateKey, detached: true },
      { embeddedCertificates: [bob.certificateDer] },
    );
    expect(rejected(await verifyAs(alice, naming.base64, token))).toBe('bad-signature');
  });

  it('refuses signer certificates from another CA, including a look-alike with our CA name and the user serial', async () => {
    const otherCa = await createSigningCa({ commonName: 'KFRM Signing CA' }); // same name as ours
    const mallory = await ecKeys();
    const aliceCert = new x509.X509Certificate(alice.certificateDer);
    const lookAlike = await craftCertificate({
      issuer: { subject: otherCa.cert.subject, privateKey: otherCa.privateKey },
      publicKey: mallory.publicKey,
      subject: aliceCert.subject,
      serialNumber: aliceCert.serialNumber,
    });
    const forged = await signData({ content: token, certificateDer: lookAlike, privateKey: mallory.privateKey, detached: true });
    expect(rejected(await verifyAs(alice, forged.base64, token))).toBe('embedded-certificate-mismatch');

    // The caller handing in a certificate from another CA (e.g. a corrupted record) fails the chain.
    const foreign = await enroll(otherCa, mallory, 'alice');
    const signed = await signData({
      content: token,
      certificateDer: foreign.certificateDer,
      privateKey: mallory.privateKey,
      detached: true,
    });
    expect(rejected(await verifyAs(foreign, signed.base64, token))).toBe('signer-certificate-bad-signature');

    // A certificate that passed under our CA (checks remembered per CA) does not pass under another.
    const byAlice = await signData({
      content: token,
      certificateDer: alice.certificateDer,
      privateKey: alice.keys.privateKey,
      detached: true,
    });
    expect((await verifyAs(alice, byAlice.base64, token)).ok).toBe(true);
    const underOther = await verifySignedData({
      signedData: byAlice.base64,
      expectedContent: token,
      trustedSigner: alice.certificateDer,
      signingCa: otherCa.cert,
    });
    expect(rejected(underOther)).toBe('signer-certificate-bad-signature');
  });

  it('refuses an expired (or not yet valid) signer certificate', async () => {
    const shortLived = await enroll(ca, await ecKeys(), 'short', 1);
    const signed = await signData({
      content: token,
      certificateDer: shortLived.certificateDer,
      privateKey: shortLived.keys.privateKey,
      detached: true,
    });
    expect((await verifyAs(shortLived, signed.base64, token)).ok).toBe(true);
    expect(rejected(await verifyAs(shortLived, signed.base64, token, new Date(Date.now() + 2 * DAY_MS)))).toBe(
      'signer-certificate-expired',
    );
    const future = await enroll(ca, await ecKeys(), 'future', 30, new Date(Date.now() + 5 * DAY_MS));
    const early = await signData({
      content: token,
      certificateDer: future.certificateDer,
      privateKey: future.keys.privateKey,
      detached: true,
    });
    expect(rejected(await verifyAs(future, early.base64, token))).toBe('signer-certificate-not-yet-valid');
  });

  it('refuses a leaf acting as a CA, and a signer certificate that is itself a CA', async () => {
    const aliceCert = new x509.X509Certificate(alice.certificateDer);
    const mallory = await ecKeys();
    const underAlice = await craftCertificate({
      issuer: { subject: aliceCert.subject, privateKey: alice.keys.privateKey },
      publicKey: mallory.publicKey,
      subject: 'CN=user-mallory, O=KFRM',
    });
    const signed = await signData({ content: token, certificateDer: underAlice, privateKey: mallory.privateKey, detached: true });
    const asLeaf = { keys: mallory, certificateDer: underAlice };
    expect(rejected(await verifyAs(asLeaf, signed.base64, token))).toBe('signer-certificate-wrong-issuer');
    expect(
      rejected(
        await verifySignedData({ signedData: signed.base64, expectedContent: token, trustedSigner: underAlice, signingCa: aliceCert }),
      ),
    ).toBe('signing-ca-not-a-ca');

    const caFlagged = await craftCertificate({
      issuer: { subject: ca.cert.subject, privateKey: ca.privateKey },
      publicKey: mallory.publicKey,
      subject: 'CN=user-sub-ca, O=KFRM',
      isCa: true,
    });
    const bySubCa = await signData({ content: token, certificateDer: caFlagged, privateKey: mallory.privateKey, detached: true });
    expect(rejected(await verifyAs({ keys: mallory, certificateDer: caFlagged }, bySubCa.base64, token))).toBe(
      'signer-certificate-is-a-ca',
    );
  });

  it('refuses an RSA signer certificate whose exponent is not 65537', async () => {
    const e3 = await rsaKeys(2048, 3);
    const der = await craftCertificate({
      issuer: { subject: ca.cert.subject, privateKey: ca.privateKey },
      publicKey: e3.publicKey,
      subject: 'CN=user-e3, O=KFRM',
    });
    const signed = await signData({ content: token, certificateDer: der, privateKey: e3.privateKey, detached: true });
    expect(rejected(await verifyAs({ keys: e3, certificateDer: der }, signed.base64, token))).toBe('signer-key-unsupported-rsa-exponent');
  });

  it('refuses a messageDigest attribute that does not match the content, even when correctly signed', async () => {
    const otherDigest = new Uint8Array(await webcrypto.subtle.digest('SHA-256', text('something else')));
    for (const detached of [false, true]) {
      const signed = await buildSignedData(
        { content: token, certificateDer: alice.certificateDer, privateKey: alice.keys.privateKey, detached },
        { messageDigest: otherDigest },
      );
      expect(rejected(await verifyAs(alice, signed.base64, token))).toBe('message-digest-mismatch');
    }
  });

  it('refuses two signers, missing signed attributes and a SHA-1 digest', async () => {
    const params = { content: token, certificateDer: alice.certificateDer, privateKey: alice.keys.privateKey, detached: true };
    const twoSigners = await buildSignedData(params, {
      extraSigners: [{ certificateDer: bob.certificateDer, privateKey: bob.keys.privateKey }],
    });
    expect(rejected(await verifyAs(alice, twoSigners.base64, token))).toBe('signer-count');
    const bare = await buildSignedData(params, { omitSignedAttributes: true });
    expect(rejected(await verifyAs(alice, bare.base64, token))).toBe('signed-attributes-missing');
    const sha1 = await signData({ ...params, hash: 'SHA-1' as 'SHA-256' });
    expect(rejected(await verifyAs(alice, sha1.base64, token))).toBe('digest-algorithm-not-allowed');
  });

  it('refuses garbage, non-SignedData, oversize input and a 10,000-deep nested DER without crashing', async () => {
    expect(rejected(await verifyAs(alice, 'not base64!', token))).toBe('not-base64');
    expect(rejected(await verifyAs(alice, Buffer.from([1, 2, 3, 4, 5]).toString('base64'), token))).toBe('malformed-der');
    expect(rejected(await verifyAs(alice, Buffer.from(alice.certificateDer).toString('base64'), token))).toBe('unparseable');
    const dataContentInfo = new pkijs.ContentInfo({
      contentType: '1.2.840.113549.1.7.1',
      content: new asn1js.OctetString({ valueHex: token }),
    });
    const dataOnly = Buffer.from(dataContentInfo.toSchema().toBER()).toString('base64');
    expect(rejected(await verifyAs(alice, dataOnly, token))).toBe('not-signed-data');
    expect(rejected(await verifyAs(alice, Buffer.from(nestedSequences(10_000)).toString('base64'), token))).toBe('too-deep');
    expect(rejected(await verifyAs(alice, 'A'.repeat(2 * 1024 * 1024), token))).toBe('too-large');
    const signed = await signData({
      content: token,
      certificateDer: alice.certificateDer,
      privateKey: alice.keys.privateKey,
      detached: true,
    });
    expect(rejected(await verifyAs(alice, Buffer.from(signed.der.subarray(0, signed.der.length - 3)).toString('base64'), token))).toBe(
      'malformed-der',
    );
  });
});
