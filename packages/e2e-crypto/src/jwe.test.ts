import { CompactEncrypt } from 'jose';
import { describe, expect, it } from 'vitest';
import { decryptCompact } from './jwe';
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
