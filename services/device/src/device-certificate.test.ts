import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeviceVerifier, loadDeviceCa, loadDeviceCaSigner, type DeviceCaSigner } from '@kfrm/device-trust';
import { CLIENT_AUTH_EKU, ensureDevCertificates, verifyIssuedBy, x509 } from '@kfrm/pki';
import { createMemoryStore } from '@kfrm/store';
import { issueDeviceCertificate, randomSerial } from './device-certificate';
import { parseDevicePublicKey } from './device-key';
import { P256, RSA2048, spkiPem } from './testing/keys.fixtures';

const DAY_MS = 24 * 60 * 60 * 1000;
let dir: string;
let signer: DeviceCaSigner;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'device-cert-'));
  const files = await ensureDevCertificates(dir);
  signer = await loadDeviceCaSigner(await loadDeviceCa({ certFile: files.deviceCaCertFile, keyFile: files.deviceCaKeyFile }));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function issue(pem = spkiPem(P256), deviceId = 1234n, validityDays = 365, now = new Date()) {
  const key = await parseDevicePublicKey(pem);
  const issued = await issueDeviceCertificate(signer, { deviceId, key, now, validityDays });
  return { key, issued, certificate: new x509.X509Certificate(issued.der), now };
}

describe('issueDeviceCertificate', () => {
  it('chains to the device CA for clientAuth (checked by @peculiar/x509 and by OpenSSL)', async () => {
    for (const pem of [spkiPem(P256), spkiPem(RSA2048)]) {
      const { issued } = await issue(pem);
      expect((await verifyIssuedBy(issued.der, signer.certificate, { requiredExtendedKeyUsage: CLIENT_AUTH_EKU })).ok).toBe(true);
      const openssl = new NodeX509Certificate(issued.der);
      const ca = new NodeX509Certificate(new Uint8Array(signer.certificate.rawData));
      expect(openssl.checkIssued(ca)).toBe(true);
      expect(openssl.verify(ca.publicKey)).toBe(true);
    }
  });

  it('names the device and nothing else, and the verifier reads the id back', async () => {
    const { certificate, issued } = await issue(undefined, 9_223_372_036_854_775_807n);
    expect(certificate.subject).toBe('CN=device-9223372036854775807');
    const san = certificate.getExtension(x509.SubjectAlternativeNameExtension);
    expect(san?.names.toJSON()).toEqual([{ type: 'url', value: 'urn:kfrm:device:9223372036854775807' }]);
    expect(Buffer.from(certificate.issuerName.toArrayBuffer())).toEqual(Buffer.from(signer.certificate.subjectName.toArrayBuffer()));
    const verify = createDeviceVerifier({ deviceCaCert: signer.certificate, store: createMemoryStore() });
    expect((await verify(issued.der))?.deviceId).toBe('9223372036854775807');
  });

  it('is an end-entity certificate for client authentication only', async () => {
    const { certificate } = await issue();
    const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
    expect(constraints?.ca).toBe(false);
    expect(constraints?.critical).toBe(true);
    const usage = certificate.getExtension(x509.KeyUsagesExtension);
    expect(usage?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(usage?.critical).toBe(true);
    expect(certificate.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([x509.ExtendedKeyUsage.clientAuth]);
    const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    expect(ski).toMatch(/^[0-9a-f]{40}$/);
    expect(certificate.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(
      signer.certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    );
    expect(certificate.extensions.map((e) => e.type).sort()).toEqual(
      ['2.5.29.19', '2.5.29.15', '2.5.29.37', '2.5.29.17', '2.5.29.14', '2.5.29.35'].sort(),
    );
  });

  it('carries exactly the validated key, in canonical form', async () => {
    const { certificate, key } = await issue(spkiPem(RSA2048));
    expect(Buffer.from(certificate.publicKey.rawData)).toEqual(Buffer.from(key.spki));
  });

  it('has a bounded validity starting a minute back, capped by the CA', async () => {
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const { issued } = await issue(undefined, 1n, 30, now);
    expect(issued.notBefore.getTime()).toBe(now.getTime() - 60_000);
    expect(issued.notAfter.getTime()).toBe(now.getTime() + 30 * DAY_MS);
    const long = await issue(undefined, 1n, 100_000, now);
    expect(long.issued.notAfter.getTime()).toBe(signer.certificate.notAfter.getTime());
  });

  it('uses a fresh positive 128-bit serial each time', async () => {
    const serials = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const serial = randomSerial();
      expect(serial).toMatch(/^(0[1-9a-f]|[1-7][0-9a-f])[0-9a-f]{30}$/);
      serials.add(serial);
    }
    expect(serials.size).toBe(200);
    const a = await issue();
    const b = await issue();
    expect(a.issued.serial).not.toBe(b.issued.serial);
    expect(a.issued.serial).toBe(a.certificate.serialNumber);
  });

  it('refuses to issue once the CA has expired', async () => {
    const afterCa = new Date(signer.certificate.notAfter.getTime() + DAY_MS);
    await expect(issue(undefined, 1n, 365, afterCa)).rejects.toThrow(/expired/);
  });
});
