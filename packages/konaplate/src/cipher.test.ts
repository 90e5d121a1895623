import { generateKeyPairSync } from 'node:crypto';
import { CompactEncrypt } from 'jose';
import { describe, expect, it } from 'vitest';
import { CipherError, createJweFieldCipher, encryptCompact, toPublicKey } from './cipher';

const server = generateKeyPairSync('rsa', { modulusLength: 2048 });
const client = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (key: { export(o: object): string | Buffer }, type: 'spki' | 'pkcs8') => key.export({ type, format: 'pem' }).toString();
const KEY_ID = 'k'.repeat(32);

describe('JWE field cipher', () => {
  // The client's view: requests to the server key, responses from the client key.
  const cipher = createJweFieldCipher({
    keyId: KEY_ID,
    encryptTo: pem(server.publicKey, 'spki'),
    decryptWith: pem(client.privateKey, 'pkcs8'),
  });
  // The server's view of the same exchange.
  const serverSide = createJweFieldCipher({
    keyId: KEY_ID,
    encryptTo: pem(client.publicKey, 'spki'),
    decryptWith: pem(server.privateKey, 'pkcs8'),
  });

  it('round-trips in both directions as RSA-OAEP-256 + A256GCM compact JWE', async () => {
    const jwe = await cipher.encrypt('{"userName":"홍길동"}');
    expect(jwe.split('.')).toHaveLength(5);
    const header = JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString());
    expect(header).toEqual({ alg: 'RSA-OAEP-256', enc: 'A256GCM' });
    expect(jwe).not.toContain('홍길동');
    expect(await serverSide.decrypt(jwe)).toBe('{"userName":"홍길동"}');
    expect(await cipher.decrypt(await serverSide.encrypt('{"ok":true}'))).toBe('{"ok":true}');
  });

  it('accepts A128GCM responses, which Konaplate may send', async () => {
    const jwe = await encryptCompact('{"a":1}', toPublicKey(pem(client.publicKey, 'spki')), 'RSA-OAEP-256', 'A128GCM');
    expect(await cipher.decrypt(jwe)).toBe('{"a":1}');
  });

  it('refuses another key, a tampered ciphertext and algorithms outside the allow-list, all alike', async () => {
    const forServer = await cipher.encrypt('{"a":1}');
    await expect(cipher.decrypt(forServer)).rejects.toThrow(CipherError);
    const parts = (await serverSide.encrypt('{"a":1}')).split('.');
    parts[3] = Buffer.from('tampered').toString('base64url');
    await expect(cipher.decrypt(parts.join('.'))).rejects.toThrow(CipherError);
    const oaepSha1 = await new CompactEncrypt(new TextEncoder().encode('{}'))
      .setProtectedHeader({ alg: 'RSA-OAEP', enc: 'A256GCM' })
      .encrypt(client.publicKey);
    await expect(cipher.decrypt(oaepSha1)).rejects.toThrow(CipherError);
    await expect(cipher.decrypt('not.a.jwe')).rejects.toThrow(CipherError);
  });

  it('refuses short RSA keys and key ids of the wrong length', () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => createJweFieldCipher({ keyId: KEY_ID, encryptTo: weak.publicKey, decryptWith: client.privateKey })).toThrow(CipherError);
    expect(() => createJweFieldCipher({ keyId: 'short', encryptTo: server.publicKey, decryptWith: client.privateKey })).toThrow(
      CipherError,
    );
  });
});
