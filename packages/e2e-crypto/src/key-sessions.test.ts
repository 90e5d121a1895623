import { CompactEncrypt, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError, InvalidArgumentError } from '@kfrm/errors';
import { EncryptedMessage_ProviderType, type EncryptedMessage } from '@kfrm/proto/gen/kfrm/api/common/common';
import { createMemoryStore, createStore, instrumentStore, type Store } from '@kfrm/store';
import { decryptFromServer, encryptForSession } from './app';
import { DECRYPTION_FAILED_MESSAGE } from './errors';
import { MAX_COMPACT_JWE_LENGTH } from './jwe';
import { KeyEncryptionKey } from './kek';
import { generateP256KeyPair, publicKeyFromSpkiBase64 } from './keys';
import {
  createKeySession,
  createKeySessions,
  encryptForApp,
  openEncryptedMessage,
  openEncryptedText,
  saveKeySession,
  type KeySession,
  type KeySessions,
} from './key-sessions';

const text = (s: string) => new TextEncoder().encode(s);
const b64url = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
const headerOf = (compact: string) =>
  JSON.parse(Buffer.from(compact.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;

/** The error a promise rejects with (fails the test when it resolves). */
async function failure(promise: Promise<unknown>): Promise<DomainError> {
  const outcome = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome, 'expected a rejection').toBeInstanceOf(DomainError);
  return outcome as DomainError;
}

/** Replaces one character of a base64url segment with a different one. */
function flipChar(segment: string, index: number): string {
  const c = segment[index]!;
  return segment.slice(0, index) + (c === 'A' ? 'B' : 'A') + segment.slice(index + 1);
}

function withPart(compact: string, index: number, replace: (part: string) => string): string {
  const parts = compact.split('.');
  parts[index] = replace(parts[index]!);
  return parts.join('.');
}

describe('key sessions', () => {
  let store: Store;
  let sessions: KeySessions;
  let auth: KeySession;
  let auth2: KeySession;
  let banking: KeySession;

  beforeAll(async () => {
    store = await createStore({ redisUrl: process.env.REDIS_URL });
    sessions = createKeySessions(store, KeyEncryptionKey.generate());
    [auth, auth2, banking] = await Promise.all([
      createKeySession(sessions, 'AUTH'),
      createKeySession(sessions, 'AUTH'),
      createKeySession(sessions, 'BANKING'),
    ]);
  });
  afterAll(async () => {
    await store.close();
  });

  const seal = (session: KeySession, plaintext: string | Uint8Array, provider = session.provider) =>
    encryptForSession(session.publicKeySpkiBase64, session.sessionId, provider, plaintext);

  describe('a new session', () => {
    it('has a 128-bit URL-safe id and a P-256 SPKI public key', async () => {
      expect(auth.sessionId).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(auth.sessionId).not.toBe(auth2.sessionId);
      expect(Buffer.from(auth.publicKeySpkiBase64, 'base64')).toHaveLength(91);
      expect(publicKeyFromSpkiBase64(auth.publicKeySpkiBase64).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
      expect(auth.publicKeySpkiBase64).not.toBe(auth2.publicKeySpkiBase64);
    });

    it('expires after the TTL, as the store sees it', async () => {
      const ttl = await store.ttlMs(`e2e:session:${auth.sessionId}`);
      expect(ttl).not.toBeNull();
      expect(ttl!).toBeLessThanOrEqual(sessions.ttlMs);
      expect(auth.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + sessions.ttlMs);
    });
  });

  describe('round trip', () => {
    it('opens what the app encrypted, for each provider', async () => {
      const a = await seal(auth, '123456');
      expect(new TextDecoder().decode(await openEncryptedMessage(sessions, a.encryptedMessage, 'AUTH'))).toBe('123456');
      const b = await seal(banking, 'pattern:0-4-8');
      expect(await openEncryptedText(sessions, b.encryptedMessage, 'BANKING')).toBe('pattern:0-4-8');
    });

    it('carries binary plaintext unchanged, and the session serves several messages', async () => {
      const bytes = new Uint8Array(256).map((_, i) => i);
      for (let i = 0; i < 2; i++) {
        const { encryptedMessage } = await seal(auth, bytes);
        expect(await openEncryptedMessage(sessions, encryptedMessage, 'AUTH')).toEqual(bytes);
      }
    });

    it('puts the session id as kid and the provider as kfrm_provider in the protected header', async () => {
      const { encryptedMessage } = await seal(banking, 'x');
      expect(headerOf(encryptedMessage.message)).toMatchObject({
        alg: 'ECDH-ES',
        enc: 'A256GCM',
        kid: banking.sessionId,
        kfrm_provider: 'BANKING',
      });
      expect(encryptedMessage.provider).toBe(EncryptedMessage_ProviderType.BANKING);
      expect(encryptedMessage.sessionId).toBe(banking.sessionId);
    });
  });

  describe('refusals', () => {
    const refusals: DomainError[] = [];
    const refused = async (message: EncryptedMessage, expected: 'AUTH' | 'BANKING' = 'AUTH') => {
      const err = await failure(openEncryptedMessage(sessions, message, expected));
      refusals.push(err);
      expect(err.code).toBe('E2E_DECRYPTION_FAILED');
      return err;
    };

    it('tampered ciphertext, tag, IV or header', async () => {
      const { encryptedMessage: m } = await seal(auth, 'secret PIN 135790');
      await refused({ ...m, message: withPart(m.message, 3, (p) => flipChar(p, 0)) });
      await refused({ ...m, message: withPart(m.message, 4, (p) => flipChar(p, 3)) });
      await refused({ ...m, message: withPart(m.message, 2, (p) => flipChar(p, 5)) });
      // A header that still passes every check but differs by one byte: the AAD no longer matches.
      const header = headerOf(m.message);
      await refused({ ...m, message: withPart(m.message, 0, () => b64url(JSON.stringify({ ...header, typ: 'JWE' }))) });
      // Another epk (a valid point) in the header: another shared secret.
      const other = await seal(auth, 'other');
      await refused({
        ...m,
        message: withPart(m.message, 0, () => b64url(JSON.stringify({ ...header, epk: headerOf(other.encryptedMessage.message).epk }))),
      });
      // The untouched message still opens, so the refusals above are the tampering's doing.
      expect(await openEncryptedText(sessions, m, 'AUTH')).toBe('secret PIN 135790');
    });

    it('wrong provider: message, expected, session or header', async () => {
      const { encryptedMessage: m } = await seal(auth, 'x');
      await refused({ ...m, provider: EncryptedMessage_ProviderType.BANKING }, 'BANKING'); // session is AUTH
      await refused(m, 'BANKING'); // the receiving service expects BANKING
      await refused({ ...m, provider: EncryptedMessage_ProviderType.UNKNOWN });
      await refused({ ...m, provider: 7 as EncryptedMessage_ProviderType });
      // Encrypted to the AUTH session's key but labelled BANKING inside the protected header.
      const { encryptedMessage: labelled } = await seal(auth, 'x', 'BANKING');
      expect(labelled.provider).toBe(EncryptedMessage_ProviderType.BANKING);
      await refused({ ...labelled, provider: EncryptedMessage_ProviderType.AUTH }); // only the header disagrees
      await refused(labelled);
      await refused({ ...labelled, provider: EncryptedMessage_ProviderType.BANKING }, 'BANKING');
    });

    it('a message replayed into another session', async () => {
      const { encryptedMessage: m } = await seal(auth, 'x');
      await refused({ ...m, sessionId: auth2.sessionId });
      // Even with kid rewritten to the other session, the other session's key cannot open it.
      await refused({
        ...m,
        sessionId: auth2.sessionId,
        message: withPart(m.message, 0, () => b64url(JSON.stringify({ ...headerOf(m.message), kid: auth2.sessionId }))),
      });
      // And a message built for one session's key but labelled with another's id.
      const { encryptedMessage: crossed } = await encryptForSession(auth.publicKeySpkiBase64, auth2.sessionId, 'AUTH', 'x');
      await refused(crossed);
      // The right key and session, but the header names another session: kid must be the session id.
      await refused({ ...crossed, sessionId: auth.sessionId });
    });

    it('key management or content algorithms other than ECDH-ES + A256GCM, compression, crit, RSA', async () => {
      const serverKey = publicKeyFromSpkiBase64(auth.publicKeySpkiBase64);
      const as = (message: string): EncryptedMessage => ({
        message,
        provider: EncryptedMessage_ProviderType.AUTH,
        sessionId: auth.sessionId,
      });
      const header = { kid: auth.sessionId, kfrm_provider: 'AUTH' };
      const enc = (protectedHeader: Record<string, unknown>, key: Parameters<CompactEncrypt['encrypt']>[0], plaintext = 'x') =>
        new CompactEncrypt(text(plaintext)).setProtectedHeader({ ...header, ...protectedHeader } as never).encrypt(key);

      await refused(as(await enc({ alg: 'ECDH-ES+A128KW', enc: 'A256GCM' }, serverKey)));
      await refused(as(await enc({ alg: 'ECDH-ES', enc: 'A128GCM' }, serverKey)));
      await refused(as(await enc({ alg: 'ECDH-ES', enc: 'A256CBC-HS512' }, serverKey)));
      await refused(as(await enc({ alg: 'dir', enc: 'A256GCM' }, crypto.getRandomValues(new Uint8Array(32)))));
      await refused(as(await enc({ alg: 'ECDH-ES', enc: 'A256GCM', zip: 'DEF' }, serverKey)));
      const rsa = await generateKeyPair('RSA-OAEP-256', { modulusLength: 2048 });
      await refused(as(await enc({ alg: 'RSA-OAEP-256', enc: 'A256GCM' }, rsa.publicKey)));
      // A valid ECDH-ES + A256GCM message with one extra header parameter that is not on the list.
      const { encryptedMessage: m } = await seal(auth, 'x');
      await refused({
        ...m,
        message: withPart(m.message, 0, () => b64url(JSON.stringify({ ...headerOf(m.message), crit: ['exp'], exp: 1 }))),
      });
      await refused({ ...m, message: withPart(m.message, 0, () => b64url(JSON.stringify({ ...headerOf(m.message), alg: 'none' }))) });
    });

    it('an epk that is not a point on P-256', async () => {
      const { encryptedMessage: m } = await seal(auth, 'x');
      const header = headerOf(m.message);
      const bogus = { ...(header.epk as object), y: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE' };
      await refused({ ...m, message: withPart(m.message, 0, () => b64url(JSON.stringify({ ...header, epk: bogus }))) });
      await refused({
        ...m,
        message: withPart(m.message, 0, () => b64url(JSON.stringify({ ...header, epk: { ...(header.epk as object), crv: 'P-384' } }))),
      });
    });

    it('an oversize message, before any cryptography', async () => {
      const { encryptedMessage: big } = await seal(auth, 'z'.repeat(MAX_COMPACT_JWE_LENGTH));
      expect(big.message.length).toBeGreaterThan(MAX_COMPACT_JWE_LENGTH);
      await refused(big);
      const { encryptedMessage: fits } = await seal(auth, 'z'.repeat(8 * 1024));
      expect(fits.message.length).toBeLessThanOrEqual(MAX_COMPACT_JWE_LENGTH);
      expect(await openEncryptedText(sessions, fits, 'AUTH')).toHaveLength(8 * 1024);
    });

    it('malformed compact strings', async () => {
      const { encryptedMessage: m } = await seal(auth, 'x');
      for (const message of [
        '',
        'a.b.c',
        `${m.message}.`,
        m.message.replace('..', '.QUFB.'),
        m.message.replace(/\./g, '!'),
        '{"ciphertext":"x"}',
      ]) {
        await refused({ ...m, message });
      }
    });

    it('every refusal above looks the same to the client: one code, one message', () => {
      expect(refusals.length).toBeGreaterThan(20);
      for (const err of refusals) {
        expect(err.code).toBe('E2E_DECRYPTION_FAILED');
        expect(err.message).toBe(DECRYPTION_FAILED_MESSAGE);
      }
    });
  });

  describe('expiry', () => {
    it('E2E_KEY_SESSION_EXPIRED for an unknown or malformed session id', async () => {
      const { encryptedMessage: m } = await seal(auth, 'x');
      for (const sessionId of ['AAAAAAAAAAAAAAAAAAAAAA', '', 'not a session', `${auth.sessionId}x`]) {
        expect((await failure(openEncryptedMessage(sessions, { ...m, sessionId }, 'AUTH'))).code).toBe('E2E_KEY_SESSION_EXPIRED');
      }
    });

    it('E2E_KEY_SESSION_EXPIRED once the store has dropped the session (store clock)', async () => {
      let now = 0;
      const memory = createMemoryStore({ now: () => now });
      try {
        const short = createKeySessions(memory, sessions.kek, { ttlMs: 60_000 });
        const session = await createKeySession(short, 'AUTH');
        const { encryptedMessage } = await seal(session, 'x');
        now = 59_999;
        expect(await openEncryptedText(short, encryptedMessage, 'AUTH')).toBe('x');
        now = 60_000;
        expect((await failure(openEncryptedMessage(short, encryptedMessage, 'AUTH'))).code).toBe('E2E_KEY_SESSION_EXPIRED');
        expect(await memory.get(`e2e:session:${session.sessionId}`)).toBeNull();
      } finally {
        await memory.close();
      }
    });

    it('E2E_KEY_SESSION_EXPIRED past the deadline stored with the session, even if the store still holds it', async () => {
      let wall = Date.now();
      const clocked = createKeySessions(store, sessions.kek, { now: () => wall });
      const session = await createKeySession(clocked, 'BANKING');
      const { encryptedMessage } = await seal(session, 'x');
      wall = session.expiresAt.getTime();
      expect((await failure(openEncryptedMessage(clocked, encryptedMessage, 'BANKING'))).code).toBe('E2E_KEY_SESSION_EXPIRED');
    });

    it('E2E_KEY_SESSION_EXPIRED after a short real TTL in the configured store', async () => {
      const short = createKeySessions(store, sessions.kek, { ttlMs: 20 });
      const session = await createKeySession(short, 'AUTH');
      const { encryptedMessage } = await seal(session, 'x');
      // Wait for the store itself to forget the key (no assertion on how long that takes).
      while ((await store.ttlMs(`e2e:session:${session.sessionId}`)) !== null) await new Promise((r) => setTimeout(r, 5));
      expect((await failure(openEncryptedMessage(sessions, encryptedMessage, 'AUTH'))).code).toBe('E2E_KEY_SESSION_EXPIRED');
    });
  });

  describe('storage', () => {
    it('keeps the private key only sealed: the raw store value is no JWK and contains no form of the key', async () => {
      const pair = await generateP256KeyPair();
      const sessionId = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
      await saveKeySession(sessions, sessionId, 'AUTH', pair);
      const raw = (await store.get(`e2e:session:${sessionId}`))!;
      expect(raw).not.toBeNull();
      const { webcrypto } = await import('node:crypto');
      const jwk = await webcrypto.subtle.exportKey('jwk', pair.privateKey);
      const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey));
      const parsed = JSON.parse(raw) as Record<string, unknown>;
      expect(parsed).not.toHaveProperty('d');
      expect(JSON.stringify(parsed)).not.toMatch(/"d"\s*:/);
      for (const form of [
        jwk.d!,
        pkcs8.toString('base64'),
        pkcs8.toString('base64url'),
        pkcs8.toString('hex'),
        Buffer.from(jwk.d!, 'base64url').toString('hex'),
      ]) {
        expect(raw).not.toContain(form);
      }
      // The session works, so the sealed value really is that key.
      const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', pair.publicKey)).toString('base64');
      const { encryptedMessage } = await encryptForSession(spki, sessionId, 'AUTH', 'ok');
      expect(await openEncryptedText(sessions, encryptedMessage, 'AUTH')).toBe('ok');
    });

    it('a session sealed under another key-encryption key is expired, not decryptable', async () => {
      const { encryptedMessage } = await seal(auth, 'x');
      const rotated = createKeySessions(store, KeyEncryptionKey.generate());
      expect((await failure(openEncryptedMessage(rotated, encryptedMessage, 'AUTH'))).code).toBe('E2E_KEY_SESSION_EXPIRED');
    });

    it('a sealed key moved to another session id or provider does not unseal', async () => {
      const raw = (await store.get(`e2e:session:${auth.sessionId}`))!;
      const record = JSON.parse(raw) as { provider: string };
      const movedId = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
      await store.set(`e2e:session:${movedId}`, raw, { ttlMs: 60_000 });
      const { encryptedMessage: toMoved } = await encryptForSession(auth.publicKeySpkiBase64, movedId, 'AUTH', 'x');
      expect((await failure(openEncryptedMessage(sessions, toMoved, 'AUTH'))).code).toBe('E2E_KEY_SESSION_EXPIRED');

      const relabelledId = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
      await store.set(`e2e:session:${relabelledId}`, JSON.stringify({ ...record, provider: 'BANKING' }), { ttlMs: 60_000 });
      const { encryptedMessage: toRelabelled } = await encryptForSession(auth.publicKeySpkiBase64, relabelledId, 'BANKING', 'x');
      expect((await failure(openEncryptedMessage(sessions, toRelabelled, 'BANKING'))).code).toBe('E2E_KEY_SESSION_EXPIRED');
    });
  });

  describe('unsealed keys kept in memory', () => {
    it('serve the next messages of a session, but never bypass the seal when the record under that id changes', async () => {
      const own = createKeySessions(store, sessions.kek);
      const session = await createKeySession(own, 'AUTH');
      const other = await createKeySession(own, 'AUTH');
      expect(await openEncryptedText(own, (await seal(session, 'first')).encryptedMessage, 'AUTH')).toBe('first');
      expect(own.unsealed.has(session.sessionId)).toBe(true);
      expect(await openEncryptedText(own, (await seal(session, 'second')).encryptedMessage, 'AUTH')).toBe('second');

      const key = `e2e:session:${session.sessionId}`;
      const original = (await store.get(key))!;
      const record = JSON.parse(original) as { sealedKey: string };
      // Relabelled to another provider: the seal (bound to id and provider) must decide again.
      await store.set(key, JSON.stringify({ ...record, provider: 'BANKING' }), { ttlMs: 60_000 });
      const relabelled = await encryptForSession(session.publicKeySpkiBase64, session.sessionId, 'BANKING', 'x');
      expect((await failure(openEncryptedMessage(own, relabelled.encryptedMessage, 'BANKING'))).code).toBe('E2E_KEY_SESSION_EXPIRED');
      // Another session's sealed key copied under this id does not unseal here either.
      const otherRecord = JSON.parse((await store.get(`e2e:session:${other.sessionId}`))!) as { sealedKey: string };
      await store.set(key, JSON.stringify({ ...record, sealedKey: otherRecord.sealedKey }), { ttlMs: 60_000 });
      expect((await failure(openEncryptedMessage(own, (await seal(session, 'x')).encryptedMessage, 'AUTH'))).code).toBe(
        'E2E_KEY_SESSION_EXPIRED',
      );
      // The genuine record back: the session works again.
      await store.set(key, original, { ttlMs: 60_000 });
      expect(await openEncryptedText(own, (await seal(session, 'third')).encryptedMessage, 'AUTH')).toBe('third');
    });
  });

  describe('server to app', () => {
    it('encrypts to the ephemeral key of the last message opened in the session', async () => {
      const session = await createKeySession(sessions, 'BANKING');
      const first = await seal(session, 'hello');
      await openEncryptedMessage(sessions, first.encryptedMessage, 'BANKING');
      const reply = await encryptForApp(sessions, session.sessionId, 'BANKING', text('from the bank'));
      expect(headerOf(reply)).toMatchObject({ alg: 'ECDH-ES', enc: 'A256GCM', kid: session.sessionId, kfrm_provider: 'BANKING' });
      const opened = await decryptFromServer(reply, first.ephemeralPrivateKey, { sessionId: session.sessionId, provider: 'BANKING' });
      expect(new TextDecoder().decode(opened)).toBe('from the bank');

      // A later message replaces the key; the older ephemeral key no longer opens replies.
      const second = await seal(session, 'again');
      await openEncryptedMessage(sessions, second.encryptedMessage, 'BANKING');
      const reply2 = await encryptForApp(sessions, session.sessionId, 'BANKING', text('second'));
      await expect(
        decryptFromServer(reply2, first.ephemeralPrivateKey, { sessionId: session.sessionId, provider: 'BANKING' }),
      ).rejects.toThrow();
      expect(
        new TextDecoder().decode(
          await decryptFromServer(reply2, second.ephemeralPrivateKey, { sessionId: session.sessionId, provider: 'BANKING' }),
        ),
      ).toBe('second');
      // The app checks the reply is for its session.
      await expect(
        decryptFromServer(reply2, second.ephemeralPrivateKey, { sessionId: auth.sessionId, provider: 'BANKING' }),
      ).rejects.toThrow();
    });

    it('a replay neither opens nor replaces the app key; an opening is two store calls (the session, then claim + app key)', async () => {
      const calls: string[] = [];
      const counted = instrumentStore(store, (op) => calls.push(op));
      const own = createKeySessions(counted, sessions.kek);
      const session = await createKeySession(own, 'BANKING');
      const first = await seal(session, 'first');
      const second = await seal(session, 'second');
      await openEncryptedMessage(own, first.encryptedMessage, 'BANKING');
      calls.length = 0;
      await openEncryptedMessage(own, second.encryptedMessage, 'BANKING');
      expect(calls).toEqual(['get', 'setIfAbsentThenSet']);
      // The first message again: refused, and replies still go to the second message's key.
      expect((await failure(openEncryptedMessage(own, first.encryptedMessage, 'BANKING'))).code).toBe('E2E_DECRYPTION_FAILED');
      const reply = await encryptForApp(own, session.sessionId, 'BANKING', text('to the latest'));
      const opened = await decryptFromServer(reply, second.ephemeralPrivateKey, { sessionId: session.sessionId, provider: 'BANKING' });
      expect(new TextDecoder().decode(opened)).toBe('to the latest');
    });

    it('keeps the app key no longer than the session', async () => {
      const session = await createKeySession(sessions, 'AUTH');
      await openEncryptedMessage(sessions, (await seal(session, 'x')).encryptedMessage, 'AUTH');
      // Compare deadlines, not TTLs read at two different moments: the two reads are a few
      // milliseconds apart, and that gap made a TTL-to-TTL comparison flaky.
      const appKeyDeadline = Date.now() + (await store.ttlMs(`e2e:app-epk:${session.sessionId}`))!;
      const sessionDeadline = Date.now() + (await store.ttlMs(`e2e:session:${session.sessionId}`))!;
      expect(Number.isFinite(appKeyDeadline)).toBe(true);
      // Store TTLs have millisecond resolution and each read rounds; 5 ms absorbs that.
      expect(appKeyDeadline).toBeLessThanOrEqual(sessionDeadline + 5);
    });

    it('refuses without a message from the app yet, for another provider, or for an expired session', async () => {
      const fresh = await createKeySession(sessions, 'AUTH');
      await expect(encryptForApp(sessions, fresh.sessionId, 'AUTH', text('x'))).rejects.toThrow(InvalidArgumentError);
      await openEncryptedMessage(sessions, (await seal(fresh, 'x')).encryptedMessage, 'AUTH');
      await expect(encryptForApp(sessions, fresh.sessionId, 'BANKING', text('x'))).rejects.toThrow(InvalidArgumentError);
      expect((await failure(encryptForApp(sessions, 'AAAAAAAAAAAAAAAAAAAAAA', 'AUTH', text('x')))).code).toBe('E2E_KEY_SESSION_EXPIRED');
      await expect(encryptForApp(sessions, fresh.sessionId, 'AUTH', new Uint8Array(8 * 1024 + 1))).rejects.toThrow(InvalidArgumentError);
    });
  });

  it('refuses a missing message as an invalid argument', async () => {
    await expect(openEncryptedMessage(sessions, undefined, 'AUTH')).rejects.toThrow(InvalidArgumentError);
  });

  it('openEncryptedText refuses plaintext that is not UTF-8 like any other failure', async () => {
    const { encryptedMessage } = await seal(auth, new Uint8Array([0xff, 0xfe, 0x80]));
    const err = await failure(openEncryptedText(sessions, encryptedMessage, 'AUTH'));
    expect(err.code).toBe('E2E_DECRYPTION_FAILED');
    expect(err.message).toBe(DECRYPTION_FAILED_MESSAGE);
  });
});
