import { generateKeyPair as generateKeyPairCallback, randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { toPrivateKey } from '../cipher';

const generateKeyPair = promisify(generateKeyPairCallback);

/** A new RSA-2048 pair for the sandbox (a prime search on a worker thread). */
export const newSandboxKeyPair = () => generateKeyPair('rsa', { modulusLength: 2048 });

/** The two RSA private keys a sandbox runs with (startKonaplateSandbox's serverPrivateKey and clientPrivateKey). */
export interface SandboxKeyPairs {
  serverPrivateKey: KeyObject;
  clientPrivateKey: KeyObject;
}

/** File names in the key directory (PKCS#8 PEM, mode 0600). */
export const SANDBOX_KEY_FILES = { server: 'server.key', client: 'client.key' } as const;

/**
 * The embedded default's Konaplate sandbox keys, kept in `dir` (in the data directory) like its
 * dev TLS certificates and operator issuer: made on first start, reused after. Generating two
 * RSA-2048 pairs is a prime search of a few hundred ms (seconds on a loaded machine) that every
 * start waited for; reading two PEM files takes well under a millisecond. The keys only ever
 * protect traffic between the backend and its in-process sandbox on 127.0.0.1, so keeping them is
 * no weaker than keeping the database next to them. A missing file is made (written aside and
 * renamed, so a concurrent first start never reads half a key); a file that cannot be read or is
 * not an RSA private key of at least 2048 bits stops the start, naming the file.
 */
export async function ensureSandboxKeyFiles(dir: string): Promise<SandboxKeyPairs> {
  const [serverPrivateKey, clientPrivateKey] = await Promise.all([
    ensureKeyFile(join(dir, SANDBOX_KEY_FILES.server)),
    ensureKeyFile(join(dir, SANDBOX_KEY_FILES.client)),
  ]);
  return { serverPrivateKey, clientPrivateKey };
}

async function ensureKeyFile(file: string): Promise<KeyObject> {
  let pem: string | undefined;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw keyFileError(file, err);
  }
  if (pem === undefined) {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const { privateKey } = await newSandboxKeyPair();
    const aside = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(aside, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
      await rename(aside, file);
    } finally {
      await unlink(aside).catch(() => undefined);
    }
    return privateKey;
  }
  try {
    return toPrivateKey(pem);
  } catch (err) {
    throw keyFileError(file, err);
  }
}

function keyFileError(file: string, cause: unknown): Error {
  const reason = (cause as NodeJS.ErrnoException).code ?? (cause as Error).message;
  return new Error(
    `Konaplate sandbox key ${file} is unusable (${reason}): it must be an RSA private key (PKCS#8 PEM); ` +
      'delete it to have a new one made at the next start',
    { cause },
  );
}
