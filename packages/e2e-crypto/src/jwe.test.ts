import { generateKeyPairSync } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';
import { describe, expect, it } from 'vitest';
import { decryptCompact, encryptCompact } from './jwe';
import { generateP256KeyPair } from './keys';
import type { CryptoKey } from './webcrypto-types';

/** What any JOSE library makes for the server: ECDH-ES + A256GCM to its session key, with the header it likes. */
async function joseMessage(
  recipient: CryptoKey,
  plaintext: string,
  extraHeader: Record<string, unknown> = {},
  apu?: Uint8Array,
  apv?: Uint8Array,
) {
  const jwe = new CompactEncrypt(new TextEncoder().encode(plaintext)).setProtectedHeader({
    alg: 'ECDH-ES',
    enc: 'A256GCM',
    kid: 'session',
    kfrm_provider: 'AUTH',
    ...extraHeader,
  });
  if (apu || apv) jwe.setKeyManagementParameters({ ...(apu ? { apu } : {}), ...(apv ? { apv } : {}) });
  return jwe.encrypt(recipient);
}

describe('decryptCompact (ECDH-ES + A256GCM, RFC 7518)', () => {
  it('opens what jose encrypts: many keys and lengths, with and without typ and cty', async () => {
    const pair = await generateP256KeyPair();
    for (let i = 0; i < 50; i++) {
      const text = 'x'.repeat(1 + i * 7);
      const header = i % 3 === 0 ? { typ: 'JWE', cty: 'text/plain' } : {};
      const compact = await joseMessage(pair.publicKey, text, header);
      expect(new TextDecoder().decode(await decryptCompact(compact, pair.privateKey))).toBe(text);
    }
  });

  it('opens a message whose key derivation names the parties (apu, apv)', async () => {
    const pair = await generateP256KeyPair();
    const compact = await joseMessage(pair.publicKey, '385170', {}, new TextEncoder().encode('app'), new TextEncoder().encode('bank'));
    expect(new TextDecoder().decode(await decryptCompact(compact, pair.privateKey))).toBe('385170');
  });

  it('refuses a message for another key, and any changed byte of header, IV, ciphertext or tag', async () => {
    const pair = await generateP256KeyPair();
    const other = await generateP256KeyPair();
    const compact = await joseMessage(pair.publicKey, '385170', {}, new TextEncoder().encode('app'));
    await expect(decryptCompact(compact, other.privateKey)).rejects.toThrow();
    const parts = compact.split('.');
    for (const index of [0, 2, 3, 4]) {
      const changed = [...parts];
      const bytes = Buffer.from(changed[index]!, 'base64url');
      bytes[bytes.length - 1]! ^= 1;
      changed[index] = bytes.toString('base64url');
      await expect(decryptCompact(changed.join('.'), pair.privateKey)).rejects.toThrow();
    }
  });

  it('refuses an apu or apv that is not base64url text', async () => {
    const pair = await generateP256KeyPair();
    const compact = await joseMessage(pair.publicKey, '385170', {}, new TextEncoder().encode('app'));
    const [h, ...rest] = compact.split('.');
    const header = JSON.parse(Buffer.from(h!, 'base64url').toString('utf8'));
    for (const bad of [{ apu: 42 }, { apv: 'not base64url!' }, { apu: null }]) {
      const tampered = Buffer.from(JSON.stringify({ ...header, ...bad })).toString('base64url');
      await expect(decryptCompact([tampered, ...rest].join('.'), pair.privateKey)).rejects.toThrow();
    }
  });
});

describe('encryptCompact (ECDH-ES + A256GCM, RFC 7518)', () => {
  it('writes what jose opens, with the header jose writes: many keys and lengths', async () => {
    for (let i = 0; i < 30; i++) {
      const pair = await generateP256KeyPair();
      const plaintext = new Uint8Array(1 + i * 13).map((_, j) => (i + j) % 256);
      const compact = await encryptCompact(pair.publicKey, { kid: `session-${i}`, provider: 'AUTH' }, plaintext);
      const opened = await compactDecrypt(compact, pair.privateKey);
      expect(Buffer.from(opened.plaintext).equals(Buffer.from(plaintext))).toBe(true);
      expect(Object.keys(opened.protectedHeader)).toEqual(['alg', 'enc', 'kid', 'kfrm_provider', 'epk']);
      expect(Object.keys(opened.protectedHeader.epk!)).toEqual(['x', 'crv', 'kty', 'y']);
      expect(opened.protectedHeader).toMatchObject({ alg: 'ECDH-ES', enc: 'A256GCM', kid: `session-${i}`, kfrm_provider: 'AUTH' });
      // And our own reader, with its strict header rules.
      expect(Buffer.from(await decryptCompact(compact, pair.privateKey)).equals(Buffer.from(plaintext))).toBe(true);
    }
  });

  it('draws a fresh ephemeral key and IV for every message', async () => {
    const pair = await generateP256KeyPair();
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const [header, , iv] = (await encryptCompact(pair.publicKey, { kid: 's', provider: 'AUTH' }, new Uint8Array([1]))).split('.');
      seen.add(`${JSON.parse(Buffer.from(header!, 'base64url').toString()).epk.x}`);
      seen.add(`iv:${iv}`);
    }
    expect(seen.size).toBe(40);
  });

  it('refuses a recipient key that is not a P-256 public key', async () => {
    const pair = await generateP256KeyPair();
    await expect(encryptCompact(pair.privateKey, { kid: 's', provider: 'AUTH' }, new Uint8Array([1]))).rejects.toThrow(/P-256 public key/);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
    await expect(encryptCompact(p384, { kid: 's', provider: 'AUTH' }, new Uint8Array([1]))).rejects.toThrow(/P-256 public key/);
  });
});
