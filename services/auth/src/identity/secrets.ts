import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ConfigError } from '@kfrm/config';
import { PEPPER_MIN_BYTES } from '@kfrm/credentials';
import { ensureDevSigningCa, loadSigningCa, type SigningCa } from '@kfrm/pki';
import type { RuntimeConfig } from '@kfrm/runtime';

type AuthConfig = Pick<RuntimeConfig, 'mode' | 'dataDir' | 'authPepperFile' | 'signingCaCertFile' | 'signingCaKeyFile'>;

/** Real mode never invents keys: every instance must hash and verify with the same pepper and CA. */
export function requireAuthFiles(config: AuthConfig): void {
  if (config.mode !== 'real') return;
  const missing = [
    ['KFRM_AUTH_PEPPER_FILE', config.authPepperFile],
    ['KFRM_SIGNING_CA_CERT_FILE', config.signingCaCertFile],
    ['KFRM_SIGNING_CA_KEY_FILE', config.signingCaKeyFile],
  ].filter(([, value]) => value === undefined);
  if (missing.length > 0) throw new ConfigError(missing.map(([name]) => `${name} is required when DATABASE_URL is set`));
}

/** The pepper file holds >= 32 raw bytes, or their base64. */
export function parsePepper(content: Buffer): Buffer {
  const text = content.toString('latin1').trim();
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    const decoded = Buffer.from(text, 'base64');
    if (decoded.length >= PEPPER_MIN_BYTES) return decoded;
  }
  if (content.length >= PEPPER_MIN_BYTES) return content;
  throw new ConfigError([`the auth pepper must be at least ${PEPPER_MIN_BYTES} bytes (raw or base64)`]);
}

/** The pepper: from KFRM_AUTH_PEPPER_FILE, or (embedded default) generated once into the data dir. */
export async function loadPepper(config: AuthConfig): Promise<Buffer> {
  requireAuthFiles(config);
  const file = config.authPepperFile ?? join(config.dataDir, 'keys', 'auth-pepper');
  if (config.authPepperFile === undefined && !existsSync(file)) {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    // 'wx': two processes starting at once must not overwrite each other's pepper.
    await writeFile(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  return parsePepper(await readFile(file));
}

/** The CA that issues signing certificates: from files, or (embedded default) a dev CA in the data dir. */
export async function loadAuthSigningCa(config: AuthConfig): Promise<SigningCa> {
  requireAuthFiles(config);
  if (config.signingCaCertFile && config.signingCaKeyFile) {
    return loadSigningCa({ signingCaCertFile: config.signingCaCertFile, signingCaKeyFile: config.signingCaKeyFile });
  }
  return loadSigningCa(await ensureDevSigningCa(join(config.dataDir, 'signing')));
}
