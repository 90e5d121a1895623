import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureDevCertificates } from './dev-certificates';
import { EDGE_IDENTITY_URI, ensureDevInternalPki, serviceIdentityUri } from './internal-pki';

describe('ensureDevInternalPki', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('issues the edge and each service from its own CA, keeps them, and adds a later service from the same CA', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kfrm-internal-pki-'));
    dirs.push(dir);
    const files = await ensureDevInternalPki(dir, ['user', 'tab-menu']);
    const ca = new X509Certificate(await readFile(files.internalCaCertFile));
    const edge = new X509Certificate(await readFile(files.edge.certFile));
    const user = new X509Certificate(await readFile(files.services.user!.certFile));
    expect(ca.ca).toBe(true);
    expect(edge.verify(ca.publicKey)).toBe(true);
    expect(user.verify(ca.publicKey)).toBe(true);
    expect(edge.subjectAltName).toBe(`URI:${EDGE_IDENTITY_URI}`);
    expect(user.subjectAltName).toContain(`URI:${serviceIdentityUri('user')}`);
    expect(user.subjectAltName).not.toContain(EDGE_IDENTITY_URI);
    expect(user.checkHost('user')).toBe('user');
    expect(user.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect((await stat(files.internalCaKeyFile)).mode & 0o077).toBe(0);
    expect((await stat(files.edge.keyFile)).mode & 0o077).toBe(0);

    // Not the server or device CA: neither could mint an edge.
    const tls = await ensureDevCertificates(dir);
    expect(edge.verify(new X509Certificate(await readFile(tls.deviceCaCertFile)).publicKey)).toBe(false);

    const before = await readFile(files.edge.certFile, 'utf8');
    const again = await ensureDevInternalPki(dir, ['user', 'tab-menu', 'funding']);
    expect(await readFile(again.edge.certFile, 'utf8')).toBe(before);
    expect(new X509Certificate(await readFile(again.services.funding!.certFile)).verify(ca.publicKey)).toBe(true);
  });

  it('refuses a name that is not a service name', async () => {
    await expect(ensureDevInternalPki(join(tmpdir(), 'never'), ['../x'])).rejects.toThrow('not a service name');
  });
});
