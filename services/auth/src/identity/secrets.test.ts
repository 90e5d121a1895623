import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@kfrm/config';
import { loadAuthSigningCa, loadPepper, parsePepper } from './secrets';

describe('auth keys', () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kfrm-auth-keys-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const embedded = (dataDir: string) => ({
    mode: 'embedded' as const,
    dataDir,
    authPepperFile: undefined,
    signingCaCertFile: undefined,
    signingCaKeyFile: undefined,
  });

  it('reads a pepper as base64 or raw bytes, and refuses one under 32 bytes', () => {
    const raw = randomBytes(32);
    expect(parsePepper(Buffer.from(`${raw.toString('base64')}\n`))).toEqual(raw);
    const binary = Buffer.concat([Buffer.from([0xff, 0x00]), randomBytes(40)]);
    expect(parsePepper(binary)).toEqual(binary);
    expect(() => parsePepper(Buffer.from(randomBytes(16).toString('base64')))).toThrow(ConfigError);
  });

  it('generates the embedded pepper once (mode 0600) and keeps it', async () => {
    const dir = await tempDir();
    const first = await loadPepper(embedded(dir));
    const second = await loadPepper(embedded(dir));
    expect(first.length).toBe(32);
    expect(second).toEqual(first);
    expect((await stat(join(dir, 'keys', 'auth-pepper'))).mode & 0o777).toBe(0o600);
  });

  it('uses KFRM_AUTH_PEPPER_FILE when given', async () => {
    const dir = await tempDir();
    const file = join(dir, 'pepper');
    const raw = randomBytes(48);
    await writeFile(file, raw.toString('base64'));
    expect(await loadPepper({ ...embedded(dir), authPepperFile: file })).toEqual(raw);
    expect((await readFile(file, 'utf8')).trim()).toBe(raw.toString('base64'));
  });

  it('requires the pepper and signing CA files in real mode', async () => {
    const real = { ...embedded(await tempDir()), mode: 'real' as const };
    await expect(loadPepper(real)).rejects.toThrow(/KFRM_AUTH_PEPPER_FILE is required/);
    await expect(loadAuthSigningCa(real)).rejects.toThrow(/KFRM_SIGNING_CA_CERT_FILE is required/);
  });

  it('makes a dev signing CA in the data dir and loads the same one again', async () => {
    const dir = await tempDir();
    const first = await loadAuthSigningCa(embedded(dir));
    const second = await loadAuthSigningCa(embedded(dir));
    expect(second.cert.serialNumber).toBe(first.cert.serialNumber);
  });
});
