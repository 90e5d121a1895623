import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { x509 } from '@kfrm/pki';
import { afterAll, describe, expect, it } from 'vitest';
import { devCertificateHosts, ensureDevSecrets } from './dev-certs';

describe('dev-certs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kfrm-dev-secrets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('makes every file compose mounts, readable by the container user, and keeps them on a second run', async () => {
    const hosts = await devCertificateHosts();
    expect(hosts).toEqual(expect.arrayContaining(['localhost', 'backend', 'tab-menu', 'user']));
    const files = await ensureDevSecrets(join(dir, 'secrets'), hosts);
    for (const file of Object.values(files)) expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(Buffer.from(readFileSync(files.e2eKekFile, 'utf8').trim(), 'base64')).toHaveLength(32);

    const cert = new x509.X509Certificate(readFileSync(files.serverCertFile, 'utf8'));
    const names = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.map((n) => n.value);
    expect(names).toEqual(expect.arrayContaining(['localhost', 'tab-menu', 'backend']));

    // The internal PKI of a split run: the edge and each service from the internal CA.
    const internalCa = new x509.X509Certificate(readFileSync(files.internalCaCertFile, 'utf8'));
    const edge = new x509.X509Certificate(readFileSync(files.edgeCertFile, 'utf8'));
    expect(await edge.verify({ publicKey: internalCa.publicKey, signatureOnly: true })).toBe(true);
    expect(statSync(join(dir, 'secrets', 'internal-user.pem')).mode & 0o777).toBe(0o644);
    expect(statSync(join(dir, 'secrets', 'internal-tab-menu.key')).mode & 0o777).toBe(0o644);

    const before = Object.values(files).map((f) => readFileSync(f, 'utf8'));
    const again = await ensureDevSecrets(join(dir, 'secrets'), hosts);
    expect(Object.values(again).map((f) => readFileSync(f, 'utf8'))).toEqual(before);
  });
});
