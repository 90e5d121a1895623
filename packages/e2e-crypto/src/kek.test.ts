import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyEncryptionKey, loadKeyEncryptionKey, parseKeyEncryptionKey } from './kek';

/** True when `b` opens what `a` sealed: the two hold the same key. */
function sameKey(a: KeyEncryptionKey, b: KeyEncryptionKey): boolean {
  try {
    return b.open(a.seal(Buffer.from('probe'), 'ctx'), 'ctx').toString() === 'probe';
  } catch {
    return false;
  }
}

describe('key-encryption key', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kfrm-kek-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('seals with AES-256-GCM bound to its context', () => {
    const kek = KeyEncryptionKey.generate();
    const sealed = kek.seal(Buffer.from('private key bytes'), 'session-1|AUTH');
    expect(kek.open(sealed, 'session-1|AUTH').toString()).toBe('private key bytes');
    expect(() => kek.open(sealed, 'session-2|AUTH')).toThrow();
    expect(() => KeyEncryptionKey.generate().open(sealed, 'session-1|AUTH')).toThrow();
    sealed[20]! ^= 1;
    expect(() => kek.open(sealed, 'session-1|AUTH')).toThrow();
  });

  it('reads 32 raw bytes, or base64 / base64url of 32 bytes, and nothing else', () => {
    const bytes = randomBytes(32);
    const raw = parseKeyEncryptionKey(bytes);
    expect(sameKey(raw, parseKeyEncryptionKey(Buffer.from(`${bytes.toString('base64')}\n`)))).toBe(true);
    expect(sameKey(raw, parseKeyEncryptionKey(Buffer.from(bytes.toString('base64url'))))).toBe(true);
    for (const bad of [
      randomBytes(31),
      randomBytes(33),
      Buffer.from(randomBytes(24).toString('base64')),
      Buffer.from(randomBytes(48).toString('base64')),
      Buffer.from(''),
    ]) {
      expect(() => parseKeyEncryptionKey(bad)).toThrow(/32 bytes/);
    }
  });

  it('never shows its bytes when logged or serialised', () => {
    const kek = KeyEncryptionKey.generate();
    expect(JSON.stringify({ kek })).toBe('{"kek":"[KeyEncryptionKey]"}');
    expect(inspect(kek)).toBe('[KeyEncryptionKey]');
  });

  it('embedded default: creates the file once with mode 0600 and reads the same key after', async () => {
    const file = join(dir, 'keys', 'e2e-kek');
    const first = await loadKeyEncryptionKey({ e2eKekFile: file, e2eKekGenerate: true });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file)).toHaveLength(32);
    const again = await loadKeyEncryptionKey({ e2eKekFile: file, e2eKekGenerate: true });
    expect(sameKey(first, again)).toBe(true);
  });

  it('embedded default: concurrent first starts agree on one key', async () => {
    const file = join(dir, 'race', 'e2e-kek');
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadKeyEncryptionKey({ e2eKekFile: file, e2eKekGenerate: true })));
    for (const key of keys) expect(sameKey(keys[0]!, key)).toBe(true);
  });

  it('real mode: a missing or malformed file stops the start, naming the variable', async () => {
    await expect(loadKeyEncryptionKey({ e2eKekFile: join(dir, 'absent'), e2eKekGenerate: false })).rejects.toThrow(/KFRM_E2E_KEK_FILE/);
    const short = join(dir, 'short');
    await writeFile(short, randomBytes(16));
    await expect(loadKeyEncryptionKey({ e2eKekFile: short, e2eKekGenerate: false })).rejects.toThrow(/KFRM_E2E_KEK_FILE.*32 bytes/);
    const good = join(dir, 'good');
    const bytes = randomBytes(32);
    await writeFile(good, bytes.toString('base64'));
    expect(sameKey(await loadKeyEncryptionKey({ e2eKekFile: good, e2eKekGenerate: false }), KeyEncryptionKey.fromBytes(bytes))).toBe(true);
  });
});
