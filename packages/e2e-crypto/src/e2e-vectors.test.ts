import { createCipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CompactEncrypt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { createMemoryStore, type Store } from '@kfrm/store';
import { decryptFromServer, encryptForSession } from './app';
import { KeyEncryptionKey } from './kek';
import { createKeySessions, encryptForApp, openEncryptedText, saveKeySession, type KeySessions } from './key-sessions';
import { importPrivateJwk, importPublicJwk } from './keys';
import type { E2eProvider } from './provider';
import type { CryptoKeyPair, JsonWebKey } from './webcrypto-types';

/** The test vectors as docs/e2e.md prints them. */
interface Direction {
  plaintext: string;
  iv: string;
  protected_header: string;
  shared_secret_z_hex: string;
  cek_hex: string;
  compact_jwe: string;
}
interface Vectors {
  session_id: string;
  provider: E2eProvider;
  server_session_key: JsonWebKey;
  server_public_key_spki_base64: string;
  app_to_server: Direction & { app_ephemeral_key: JsonWebKey };
  server_to_app: Direction & { server_ephemeral_key: JsonWebKey };
}

async function readVectors(): Promise<Vectors> {
  const doc = await readFile(join(import.meta.dirname, '../../../docs/e2e.md'), 'utf8');
  const match = /<!-- e2e-test-vectors -->\s*```json\n([\s\S]*?)\n```/.exec(doc);
  if (!match) throw new Error('docs/e2e.md has no test vector block');
  return JSON.parse(match[1]!) as Vectors;
}

const pub = ({ kty, crv, x, y }: JsonWebKey) =>
  ({ kty: kty!, crv: crv!, x: x!, y: y! }) as { kty: 'EC'; crv: 'P-256'; x: string; y: string };

async function pairOf(jwk: JsonWebKey): Promise<CryptoKeyPair> {
  return { privateKey: await importPrivateJwk(jwk, true), publicKey: await importPublicJwk(pub(jwk)) };
}

/** Section 2's steps by hand, with node:crypto only (no jose): what an app without a JOSE library does. */
function encryptByHand(senderPrivate: JsonWebKey, recipientPublic: JsonWebKey, direction: Direction) {
  const z = diffieHellman({
    privateKey: createPrivateKey({ key: senderPrivate as never, format: 'jwk' }),
    publicKey: createPublicKey({ key: pub(recipientPublic), format: 'jwk' }),
  });
  const len32 = (b: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(b.length);
    return Buffer.concat([length, b]);
  };
  const otherInfo = Buffer.concat([
    len32(Buffer.from('A256GCM')),
    len32(Buffer.alloc(0)),
    len32(Buffer.alloc(0)),
    Buffer.from([0, 0, 1, 0]),
  ]);
  const cek = createHash('sha256')
    .update(Buffer.from([0, 0, 0, 1]))
    .update(z)
    .update(otherInfo)
    .digest();
  const h = Buffer.from(direction.protected_header, 'utf8').toString('base64url');
  const iv = Buffer.from(direction.iv, 'base64url');
  const cipher = createCipheriv('aes-256-gcm', cek, iv);
  cipher.setAAD(Buffer.from(h, 'ascii'));
  const c = Buffer.concat([cipher.update(direction.plaintext, 'utf8'), cipher.final()]);
  const compact = `${h}..${iv.toString('base64url')}.${c.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
  return { z: z.toString('hex'), cek: cek.toString('hex'), compact };
}

describe('docs/e2e.md test vectors', () => {
  let v: Vectors;
  let sessions: KeySessions;

  const stores: Store[] = [];
  /** The documented key session in a store of its own (a message opens once per session). */
  async function documentedSessions(): Promise<KeySessions> {
    const own = createMemoryStore();
    stores.push(own);
    const opened = createKeySessions(own, KeyEncryptionKey.generate());
    const session = await saveKeySession(opened, v.session_id, v.provider, await pairOf(v.server_session_key));
    expect(session.publicKeySpkiBase64).toBe(v.server_public_key_spki_base64);
    return opened;
  }

  beforeAll(async () => {
    v = await readVectors();
    sessions = await documentedSessions();
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });

  it('the headers are the documented ones', () => {
    for (const direction of [v.app_to_server, v.server_to_app]) {
      expect(Buffer.from(direction.compact_jwe.split('.')[0]!, 'base64url').toString('utf8')).toBe(direction.protected_header);
      expect(JSON.parse(direction.protected_header)).toMatchObject({
        alg: 'ECDH-ES',
        enc: 'A256GCM',
        kid: v.session_id,
        kfrm_provider: v.provider,
      });
    }
    expect(JSON.parse(v.app_to_server.protected_header).epk).toEqual(pub(v.app_to_server.app_ephemeral_key));
    expect(JSON.parse(v.server_to_app.protected_header).epk).toEqual(pub(v.server_to_app.server_ephemeral_key));
  });

  const documentedMessage = () => ({
    message: v.app_to_server.compact_jwe,
    provider: EncryptedMessage_ProviderType[v.provider],
    sessionId: v.session_id,
  });

  it('app → server: the server opens the documented JWE, once', async () => {
    expect(await openEncryptedText(sessions, documentedMessage(), v.provider)).toBe(v.app_to_server.plaintext);
    await expect(openEncryptedText(sessions, documentedMessage(), v.provider)).rejects.toMatchObject({ code: 'E2E_DECRYPTION_FAILED' });
  });

  it('app → server: re-derived by the app code, with jose and by hand, byte for byte', async () => {
    const { encryptedMessage } = await encryptForSession(
      v.server_public_key_spki_base64,
      v.session_id,
      v.provider,
      v.app_to_server.plaintext,
      {
        fixed: {
          ephemeralPrivateKey: await importPrivateJwk(v.app_to_server.app_ephemeral_key, true),
          iv: Buffer.from(v.app_to_server.iv, 'base64url'),
        },
      },
    );
    expect(encryptedMessage.message).toBe(v.app_to_server.compact_jwe);
    // jose made these vectors; the code no longer uses it, so it checks the code from outside.
    const withJose = await new CompactEncrypt(new TextEncoder().encode(v.app_to_server.plaintext))
      .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', kid: v.session_id, kfrm_provider: v.provider })
      .setKeyManagementParameters({ epk: await importPrivateJwk(v.app_to_server.app_ephemeral_key, true) })
      .setInitializationVector(Buffer.from(v.app_to_server.iv, 'base64url'))
      .encrypt(await importPublicJwk(pub(v.server_session_key)));
    expect(withJose).toBe(v.app_to_server.compact_jwe);
    const byHand = encryptByHand(v.app_to_server.app_ephemeral_key, v.server_session_key, v.app_to_server);
    expect(byHand).toEqual({ z: v.app_to_server.shared_secret_z_hex, cek: v.app_to_server.cek_hex, compact: v.app_to_server.compact_jwe });
  });

  it('server → app: re-derived by the server code (to the app key it remembered) and by hand; the app opens it', async () => {
    // Opening the documented app → server message makes its epk this session's app key.
    const own = await documentedSessions();
    await openEncryptedText(own, documentedMessage(), v.provider);
    const reply = await encryptForApp(own, v.session_id, v.provider, new TextEncoder().encode(v.server_to_app.plaintext), {
      ephemeralPrivateKey: await importPrivateJwk(v.server_to_app.server_ephemeral_key, true),
      iv: Buffer.from(v.server_to_app.iv, 'base64url'),
    });
    expect(reply).toBe(v.server_to_app.compact_jwe);
    const byHand = encryptByHand(v.server_to_app.server_ephemeral_key, v.app_to_server.app_ephemeral_key, v.server_to_app);
    expect(byHand).toEqual({ z: v.server_to_app.shared_secret_z_hex, cek: v.server_to_app.cek_hex, compact: v.server_to_app.compact_jwe });
    const opened = await decryptFromServer(v.server_to_app.compact_jwe, await importPrivateJwk(v.app_to_server.app_ephemeral_key), {
      sessionId: v.session_id,
      provider: v.provider,
    });
    expect(new TextDecoder().decode(opened)).toBe(v.server_to_app.plaintext);
  });
});
