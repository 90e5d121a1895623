import { createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ConfigError, int, readConfig, str, type Env } from '@kfrm/config';
import { PEPPER_MIN_BYTES } from '@kfrm/credentials';
import type { RuntimeConfig } from '@kfrm/runtime';

/**
 * The casa service's own settings. Its pepper is its own (not auth's): a leak of one service's
 * key must not open the other's hashes, and the two can be rotated apart.
 */
export function readCasaConfig(env: Env = process.env) {
  return readConfig(
    {
      pepperFile: str('KFRM_CASA_PEPPER_FILE', { optional: true }),
      limitPerTransactionKrw: int('KFRM_CASA_LIMIT_PER_TRANSACTION_KRW', { default: 5_000_000, min: 0, max: 1_000_000_000_000 }),
      limitPerDayKrw: int('KFRM_CASA_LIMIT_PER_DAY_KRW', { default: 10_000_000, min: 0, max: 1_000_000_000_000 }),
    },
    env,
  );
}

export type CasaConfig = ReturnType<typeof readCasaConfig>;

/** The pepper file holds >= 32 raw bytes, or their base64. */
export function parsePepper(content: Buffer): Buffer {
  const text = content.toString('latin1').trim();
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    const decoded = Buffer.from(text, 'base64');
    if (decoded.length >= PEPPER_MIN_BYTES) return decoded;
  }
  if (content.length >= PEPPER_MIN_BYTES) return content;
  throw new ConfigError([`the casa pepper must be at least ${PEPPER_MIN_BYTES} bytes (raw or base64)`]);
}

/** Label of casa's key derived from the pepper file (domain separation from any other use of it). */
const PEPPER_LABEL = 'kfrm casa account-password pepper v1';

export interface CasaPepper {
  /** What the secret hasher gets: HMAC-SHA256(file's key, PEPPER_LABEL), 32 bytes. */
  key: Buffer;
  /** Where the file's key came from (for the start-up log; never the key). */
  source: 'KFRM_CASA_PEPPER_FILE' | 'KFRM_AUTH_PEPPER_FILE' | 'generated';
}

/**
 * From KFRM_CASA_PEPPER_FILE. Real mode without it falls back to KFRM_AUTH_PEPPER_FILE (so a
 * deployment that has only the auth pepper still starts; the derived key differs from auth's,
 * but a leak of that file then exposes both: give casa its own file). Real mode with neither
 * refuses to start. The embedded default generates one once into the data directory.
 */
export async function loadCasaPepper(
  casa: Pick<CasaConfig, 'pepperFile'>,
  runtime: Pick<RuntimeConfig, 'mode' | 'dataDir' | 'authPepperFile'>,
): Promise<CasaPepper> {
  const derive = (raw: Buffer) => createHmac('sha256', raw).update(PEPPER_LABEL).digest();
  if (casa.pepperFile !== undefined) return { key: derive(parsePepper(await readFile(casa.pepperFile))), source: 'KFRM_CASA_PEPPER_FILE' };
  if (runtime.mode === 'real') {
    if (runtime.authPepperFile === undefined) throw new ConfigError(['KFRM_CASA_PEPPER_FILE is required when DATABASE_URL is set']);
    return { key: derive(parsePepper(await readFile(runtime.authPepperFile))), source: 'KFRM_AUTH_PEPPER_FILE' };
  }
  const file = join(runtime.dataDir, 'keys', 'casa-pepper');
  if (!existsSync(file)) {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    // 'wx': two processes starting at once must not overwrite each other's pepper.
    await writeFile(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  return { key: derive(parsePepper(await readFile(file))), source: 'generated' };
}
