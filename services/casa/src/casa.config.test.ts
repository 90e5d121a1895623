import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '@kfrm/config';
import { loadCasaPepper, parsePepper, readCasaConfig } from './casa.config';

describe('casa configuration', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kfrm-casa-config-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('defaults the limits to 5,000,000 and 10,000,000 KRW', () => {
    expect(readCasaConfig({})).toMatchObject({ pepperFile: undefined, limitPerTransactionKrw: 5_000_000, limitPerDayKrw: 10_000_000 });
    expect(() => readCasaConfig({ KFRM_CASA_LIMIT_PER_DAY_KRW: '-1' })).toThrow(ConfigError);
  });

  it('reads a pepper as raw bytes or base64 of at least 32 bytes', () => {
    const raw = randomBytes(32);
    expect(parsePepper(Buffer.from(`${raw.toString('base64')}\n`)).equals(raw)).toBe(true);
    expect(parsePepper(raw).equals(raw)).toBe(true);
    expect(() => parsePepper(Buffer.from(randomBytes(16).toString('base64')))).toThrow(ConfigError);
  });

  it('real mode: its own file, else the auth pepper file, else refuses to start; the key is derived, never the file itself', async () => {
    const casaFile = join(dir, 'casa-pepper');
    const authFile = join(dir, 'auth-pepper');
    const casaRaw = randomBytes(32);
    const authRaw = randomBytes(32);
    await writeFile(casaFile, casaRaw.toString('base64'));
    await writeFile(authFile, authRaw.toString('base64'));
    const real = { mode: 'real' as const, dataDir: dir };

    const own = await loadCasaPepper({ pepperFile: casaFile }, { ...real, authPepperFile: authFile });
    expect(own.source).toBe('KFRM_CASA_PEPPER_FILE');
    expect(own.key.equals(casaRaw)).toBe(false);
    expect(own.key.equals(createHmac('sha256', casaRaw).update('kfrm casa account-password pepper v1').digest())).toBe(true);

    const fallback = await loadCasaPepper({ pepperFile: undefined }, { ...real, authPepperFile: authFile });
    expect(fallback.source).toBe('KFRM_AUTH_PEPPER_FILE');
    // Not the auth service's key: the PIN hashes and the account password hashes stay apart.
    expect(fallback.key.equals(authRaw)).toBe(false);

    await expect(loadCasaPepper({ pepperFile: undefined }, { ...real, authPepperFile: undefined })).rejects.toThrow(
      /KFRM_CASA_PEPPER_FILE is required/,
    );
  });

  it('embedded: generates one pepper into the data directory and keeps it', async () => {
    const embedded = { mode: 'embedded' as const, dataDir: dir, authPepperFile: undefined };
    const first = await loadCasaPepper({ pepperFile: undefined }, embedded);
    const second = await loadCasaPepper({ pepperFile: undefined }, embedded);
    expect(first.source).toBe('generated');
    expect(first.key.equals(second.key)).toBe(true);
    expect((await readFile(join(dir, 'keys', 'casa-pepper'), 'utf8')).trim()).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });
});
