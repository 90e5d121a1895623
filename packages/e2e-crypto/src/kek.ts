import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { chmod, link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { inspect } from 'node:util';

export const KEK_VARIABLE = 'KFRM_E2E_KEK_FILE';
const KEK_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const BASE64_32 = /^(?:[A-Za-z0-9+/]{43}=?|[A-Za-z0-9_-]{43})$/;

/**
 * The server's key-encryption key (AES-256). Session private keys are sealed under it before
 * they reach the store, so a dump of Redis alone reveals no session key. The raw key stays in a
 * non-exportable-by-accident wrapper: it prints and serialises as a placeholder.
 */
export class KeyEncryptionKey {
  readonly #key: KeyObject;

  private constructor(key: KeyObject) {
    this.#key = key;
  }

  /** 32 raw bytes. */
  static fromBytes(bytes: Uint8Array): KeyEncryptionKey {
    if (bytes.length !== KEK_BYTES) throw new RangeError(`a key-encryption key is ${KEK_BYTES} bytes, got ${bytes.length}`);
    return new KeyEncryptionKey(createSecretKey(Buffer.from(bytes)));
  }

  /** A fresh random key (tests, and the embedded default's first start). */
  static generate(): KeyEncryptionKey {
    return KeyEncryptionKey.fromBytes(randomBytes(KEK_BYTES));
  }

  /** AES-256-GCM; returns iv ‖ ciphertext ‖ tag. `aad` binds the sealed bytes to their context. */
  seal(plaintext: Uint8Array, aad: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    return Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  }

  /** Inverse of {@link seal}; throws when the bytes, the key or the context do not match. */
  open(sealed: Uint8Array, aad: string): Buffer {
    if (sealed.length < IV_BYTES + TAG_BYTES) throw new Error('sealed value is too short');
    const buf = Buffer.from(sealed);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, buf.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
    return Buffer.concat([decipher.update(buf.subarray(IV_BYTES, buf.length - TAG_BYTES)), decipher.final()]);
  }

  /**
   * HMAC-SHA256 of `message` under this key. For a key kept for keyed hashing only (never the
   * same key as one that seals): a lookup value that reveals nothing without the key.
   */
  mac(message: Uint8Array): Buffer {
    return createHmac('sha256', this.#key).update(message).digest();
  }

  toJSON(): string {
    return '[KeyEncryptionKey]';
  }

  [inspect.custom](): string {
    return '[KeyEncryptionKey]';
  }
}

/**
 * A key file's content: exactly 32 raw bytes, or the base64 (or base64url) of 32 bytes with
 * surrounding whitespace allowed. Anything else is refused rather than stretched or truncated.
 */
export function parseKeyEncryptionKey(content: Uint8Array): KeyEncryptionKey {
  const text = Buffer.from(content).toString('latin1').trim();
  if (content.length === KEK_BYTES) {
    // 32 characters of base64 text is the encoding of a 24-byte key, not 32 raw bytes (random
    // bytes are all base64 characters with probability 4^-32).
    if (/^[A-Za-z0-9+/=_-]+$/.test(text))
      throw new Error(`must hold ${KEK_BYTES} bytes, raw or base64 (this looks like base64 of a shorter key)`);
    return KeyEncryptionKey.fromBytes(content);
  }
  if (!BASE64_32.test(text)) throw new Error(`must hold ${KEK_BYTES} bytes, raw or base64`);
  return KeyEncryptionKey.fromBytes(Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64'));
}

export interface KeyEncryptionKeySource {
  /** Path of the key file (`KFRM_E2E_KEK_FILE`, or the embedded default's path in the data directory). */
  e2eKekFile: string;
  /** True in the embedded default only: create the file on first start when it is missing. */
  e2eKekGenerate: boolean;
  /** The variable named in error messages (other keys in the same format reuse this loader); default `KFRM_E2E_KEK_FILE`. */
  variable?: string;
}

/**
 * Reads the key-encryption key from its file. In the embedded default the file is created once
 * (mode 0600) when missing; concurrent first starts agree on one key because the file appears
 * atomically (written aside, then hard-linked into place, which fails if another got there
 * first). Failures name the variable so a misconfigured deployment stops at start.
 */
export async function loadKeyEncryptionKey(source: KeyEncryptionKeySource): Promise<KeyEncryptionKey> {
  const file = source.e2eKekFile;
  const variable = source.variable ?? KEK_VARIABLE;
  if (source.e2eKekGenerate) await createKeyFileIfMissing(file);
  let content: Buffer;
  try {
    content = await readFile(file);
  } catch (err) {
    throw new Error(`${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  try {
    return parseKeyEncryptionKey(content);
  } catch (err) {
    throw new Error(`${variable}: ${file} ${(err as Error).message}`);
  } finally {
    content.fill(0);
  }
}

async function createKeyFileIfMissing(file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const aside = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const key = randomBytes(KEK_BYTES);
  try {
    await writeFile(aside, key, { mode: 0o600, flag: 'wx' });
    await chmod(aside, 0o600); // the umask may have narrowed it; never widened, but be exact
    await link(aside, file).catch((err: NodeJS.ErrnoException) => {
      // Someone else's key is already in place: use theirs.
      if (err.code !== 'EEXIST') throw err;
    });
  } finally {
    key.fill(0);
    await unlink(aside).catch(() => undefined);
  }
}
