import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { x509 } from '../crypto-provider';
import { ensureDevCertificates } from '../dev-certificates';
import { verifyIssuedBy } from '../verify-certificate';
import { signData, verifySignedData } from './cms';
import { createCsr, parseSigningCsr } from './csr';
import { issueSigningCertificate, SIGNING_CERTIFICATE_EKU } from './issue';
import { ensureDevSigningCa, loadSigningCa } from './signing-ca';
import { ecKeys } from '../testing/signing.fixtures';

describe('ensureDevSigningCa / loadSigningCa', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('makes a signing CA once, keeps it, and its loaded key issues certificates that verify', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kfrm-signing-ca-'));
    dirs.push(dir);
    const files = await ensureDevSigningCa(dir);
    expect((await stat(files.signingCaKeyFile)).mode & 0o077).toBe(0);
    const before = await readFile(files.signingCaCertFile, 'utf8');
    await ensureDevSigningCa(dir);
    expect(await readFile(files.signingCaCertFile, 'utf8')).toBe(before);

    const ca = await loadSigningCa(files);
    expect(ca.cert.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(true);
    const keys = await ecKeys();
    const csr = await parseSigningCsr((await createCsr(keys)).pem);
    const issued = await issueSigningCertificate({ csr, ca, userId: '9', validityDays: 30 });
    expect((await verifyIssuedBy(issued.der, ca.cert, { requiredExtendedKeyUsage: SIGNING_CERTIFICATE_EKU })).ok).toBe(true);
    const content = new TextEncoder().encode('hello');
    const signed = await signData({ content, certificateDer: issued.der, privateKey: keys.privateKey, detached: true });
    expect(
      (await verifySignedData({ signedData: signed.base64, expectedContent: content, trustedSigner: issued.der, signingCa: ca.cert })).ok,
    ).toBe(true);
  });

  it('is a CA of its own, apart from the server and device CAs in the same directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kfrm-signing-ca-'));
    dirs.push(dir);
    const tls = await ensureDevCertificates(dir);
    const signing = await loadSigningCa(await ensureDevSigningCa(dir));
    const deviceCa = new x509.X509Certificate(await readFile(tls.deviceCaCertFile, 'utf8'));
    const serverCa = new x509.X509Certificate(await readFile(tls.serverCaCertFile, 'utf8'));
    const csr = await parseSigningCsr((await createCsr(await ecKeys())).base64);
    const issued = await issueSigningCertificate({ csr, ca: signing, userId: '9', validityDays: 30 });
    for (const other of [deviceCa, serverCa]) {
      expect(other.subject).not.toBe(signing.cert.subject);
      expect(Buffer.from(other.publicKey.rawData).equals(Buffer.from(signing.cert.publicKey.rawData))).toBe(false);
      expect((await verifyIssuedBy(issued.der, other)).ok).toBe(false);
    }
  });
});
