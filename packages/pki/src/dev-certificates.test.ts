import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureDevCertificates } from './dev-certificates';

describe('ensureDevCertificates', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('makes a server certificate for localhost signed by the server CA, and keeps it on the next run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kfrm-pki-'));
    dirs.push(dir);
    const files = await ensureDevCertificates(dir);
    const ca = new X509Certificate(await readFile(files.serverCaCertFile));
    const server = new X509Certificate(await readFile(files.serverCertFile));
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(ca.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect((await stat(files.serverKeyFile)).mode & 0o077).toBe(0);
    expect((await stat(files.deviceCaKeyFile)).mode & 0o077).toBe(0);

    const before = await readFile(files.serverCertFile, 'utf8');
    await ensureDevCertificates(dir);
    expect(await readFile(files.serverCertFile, 'utf8')).toBe(before);
  });

  it('keeps the device CA apart from the server CA', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kfrm-pki-'));
    dirs.push(dir);
    const files = await ensureDevCertificates(dir);
    const deviceCa = new X509Certificate(await readFile(files.deviceCaCertFile));
    const server = new X509Certificate(await readFile(files.serverCertFile));
    expect(deviceCa.ca).toBe(true);
    expect(server.verify(deviceCa.publicKey)).toBe(false);
  });
});
