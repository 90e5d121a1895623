import { X509Certificate } from 'node:crypto';
import * as pkijs from 'pkijs';
import { beforeAll, describe, expect, it } from 'vitest';
import { x509 } from '../crypto-provider';
import { verifyIssuedBy } from '../verify-certificate';
import { createCsr, parseSigningCsr, type SigningCsr } from './csr';
import { SigningError } from './errors';
import { createVerificationToken, issueSigningCertificate, SIGNING_CERTIFICATE_EKU, type SigningCa } from './issue';
import { createSigningCa } from './signing-ca';
import { ecKeys, rsaKeys } from '../testing/signing.fixtures';

async function issuanceFailure(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SigningError);
  expect((error as SigningError).seedCode).toBe('SIGNING_CERTIFICATE_ISSUANCE_FAILED');
  return (error as SigningError).reason;
}

describe('issueSigningCertificate', () => {
  let ca: SigningCa;
  let csr: SigningCsr;
  beforeAll(async () => {
    ca = await createSigningCa();
    csr = await parseSigningCsr((await createCsr(await ecKeys())).base64);
  });

  it('issues a leaf for the CSR key with the server subject, validity and extensions', async () => {
    const now = new Date('2030-01-02T03:04:05.678Z');
    const longCa = await createSigningCa({ now: new Date('2029-12-01T00:00:00Z') });
    const issued = await issueSigningCertificate({ csr, ca: longCa, userId: '42', validityDays: 365, now });
    const cert = new X509Certificate(issued.der);
    expect(cert.subject).toBe('CN=user-42\nO=KFRM');
    expect(cert.issuer).toBe(longCa.cert.subject.split(', ').join('\n'));
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual([SIGNING_CERTIFICATE_EKU]); // node reports the EKU list here
    expect(cert.subjectAltName).toBeUndefined();
    expect(issued.notBefore).toEqual(new Date('2030-01-02T03:04:05Z'));
    expect(issued.notAfter).toEqual(new Date('2031-01-02T03:04:05Z'));
    expect(issued.serialNumber).toBe(cert.serialNumber.toLowerCase().replace(/^00/, ''));
    expect(Buffer.from(issued.base64, 'base64')).toEqual(Buffer.from(issued.der));
    expect(new Uint8Array(cert.publicKey.export({ type: 'spki', format: 'der' }))).toEqual(csr.subjectPublicKeyInfo);

    const parsed = new x509.X509Certificate(issued.der);
    const usage = parsed.getExtension(x509.KeyUsagesExtension)!;
    expect(usage.critical).toBe(true);
    expect(usage.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation);
    const constraints = parsed.getExtension(x509.BasicConstraintsExtension)!;
    expect(constraints.critical).toBe(true);
    expect(constraints.ca).toBe(false);
    // SKI = SHA-1 of the key bits (RFC 5280 method 1), which is what a CMS subjectKeyIdentifier sid carries.
    const keyBits = pkijs.PublicKeyInfo.fromBER(csr.subjectPublicKeyInfo).subjectPublicKey.valueBlock.valueHexView;
    const sha1 = Buffer.from(await crypto.subtle.digest('SHA-1', keyBits)).toString('hex');
    expect(parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toBe(sha1);
    expect(parsed.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(
      longCa.cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    );
    const check = await verifyIssuedBy(issued.der, longCa.cert, { now, requiredExtendedKeyUsage: SIGNING_CERTIFICATE_EKU });
    expect(check.ok).toBe(true);
  });

  it('ignores the subject and extensions the CSR asks for', async () => {
    const keys = await rsaKeys(2048);
    const greedy = await createCsr(keys, {
      subject: 'CN=admin, O=Evil Bank',
      extensions: [
        new x509.BasicConstraintsExtension(true, 5, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.codeSigning]),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'bank.example' }]),
      ],
    });
    const issued = await issueSigningCertificate({ csr: await parseSigningCsr(greedy.pem), ca, userId: 'u-7', validityDays: 30 });
    const cert = new X509Certificate(issued.der);
    expect(cert.subject).toBe('CN=user-u-7\nO=KFRM');
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual([SIGNING_CERTIFICATE_EKU]);
    expect(cert.subjectAltName).toBeUndefined();
    const parsed = new x509.X509Certificate(issued.der);
    expect(parsed.extensions.map((e) => e.type).sort()).toEqual(
      ['2.5.29.14', '2.5.29.15', '2.5.29.19', '2.5.29.35', '2.5.29.37'].sort(), // SKI, KU, BC, AKI, EKU
    );
    expect(parsed.getExtension(x509.KeyUsagesExtension)?.usages).toBe(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation,
    );
  });

  it('gives each certificate a different positive serial of at most 128 bits', async () => {
    const serials = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const issued = await issueSigningCertificate({ csr, ca, userId: '1', validityDays: 1 });
      const integer = pkijs.Certificate.fromBER(issued.der).serialNumber.valueBlock.valueHexView;
      expect(integer[0]! & 0x80).toBe(0); // positive
      expect(issued.serialNumber.length).toBeLessThanOrEqual(32);
      serials.add(issued.serialNumber);
    }
    expect(serials.size).toBe(8);
  });

  it('refuses a user id that could inject name attributes, and validity out of range', async () => {
    expect(await issuanceFailure(issueSigningCertificate({ csr, ca, userId: '1, O=Evil', validityDays: 1 }))).toBe('invalid-user-id');
    expect(await issuanceFailure(issueSigningCertificate({ csr, ca, userId: '', validityDays: 1 }))).toBe('invalid-user-id');
    expect(await issuanceFailure(issueSigningCertificate({ csr, ca, userId: '1', validityDays: 0 }))).toBe('invalid-validity');
    expect(await issuanceFailure(issueSigningCertificate({ csr, ca, userId: '1', validityDays: 1.5 }))).toBe('invalid-validity');
  });

  it('refuses to issue past the CA lifetime, from an expired CA, or from a CA that is not a CA', async () => {
    const shortCa = await createSigningCa({ validityDays: 10 });
    expect(await issuanceFailure(issueSigningCertificate({ csr, ca: shortCa, userId: '1', validityDays: 30 }))).toBe('ca-expires-too-soon');
    const later = new Date(Date.now() + 20 * 24 * 3600 * 1000);
    expect(await issuanceFailure(issueSigningCertificate({ csr, ca: shortCa, userId: '1', validityDays: 1, now: later }))).toBe(
      'ca-not-valid-now',
    );
    const leaf = await issueSigningCertificate({ csr, ca, userId: '1', validityDays: 30 });
    const leafAsCa = { cert: new x509.X509Certificate(leaf.der), privateKey: ca.privateKey };
    expect(await issuanceFailure(issueSigningCertificate({ csr, ca: leafAsCa, userId: '1', validityDays: 1 }))).toBe('ca-not-a-ca');
  });

  it('refuses a CSR object carrying a key parseSigningCsr would not have accepted', async () => {
    const weak = await rsaKeys(1024);
    const spki = new Uint8Array(await crypto.subtle.exportKey('spki', weak.publicKey));
    const forged: SigningCsr = { ...csr, subjectPublicKeyInfo: spki, keyKind: 'RSA' };
    expect(await issuanceFailure(issueSigningCertificate({ csr: forged, ca, userId: '1', validityDays: 1 }))).toBe('unsupported-rsa-size');
  });
});

describe('createVerificationToken', () => {
  it('is 256 random bits, URL-safe, different every time', () => {
    const tokens = new Set(Array.from({ length: 100 }, () => createVerificationToken()));
    expect(tokens.size).toBe(100);
    for (const token of tokens) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    }
  });
});
