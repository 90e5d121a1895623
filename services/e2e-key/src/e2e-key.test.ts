import { Metadata } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError, InvalidArgumentError, PermissionDeniedError } from '@kfrm/errors';
import {
  DECRYPTION_FAILED_MESSAGE,
  KeyEncryptionKey,
  createKeySessions,
  decryptFromServer,
  encryptForSession,
  type KeySessions,
} from '@kfrm/e2e-crypto';
import { createCapturingDestination, createLogger } from '@kfrm/logging';
import { EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';
import type { CallContext } from '@kfrm/server-kit';
import { createStore, type Store } from '@kfrm/store';
import { decryptText, encryptText, issueAllKeys, issueKey } from './e2e-key';
import { e2eTestHandlers, keyServiceHandlers } from './e2e-key.handlers';

const { AUTH, BANKING, UNKNOWN } = EncryptedMessage_ProviderType;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (err: unknown) => err,
  );
}

describe('e2e-key use cases', () => {
  let store: Store;
  let sessions: KeySessions;

  beforeAll(async () => {
    store = await createStore({ redisUrl: process.env.REDIS_URL });
    sessions = createKeySessions(store, KeyEncryptionKey.generate());
  });
  afterAll(async () => {
    await store.close();
  });

  it('GetKey: a new session for AUTH and for BANKING, each with its own key', async () => {
    const a = await issueKey(sessions, AUTH);
    const b = await issueKey(sessions, BANKING);
    expect(a.provider).toBe('AUTH');
    expect(b.provider).toBe('BANKING');
    expect(a.sessionId).not.toBe(b.sessionId);
    expect(a.publicKeySpkiBase64).not.toBe(b.publicKeySpkiBase64);
  });

  it('GetKey: PROVIDER_NOT_FOUND for UNKNOWN and for a number the contract does not define', async () => {
    for (const provider of [UNKNOWN, 3, 99, -1]) {
      const err = await rejection(issueKey(sessions, provider));
      expect(err).toBeInstanceOf(DomainError);
      expect((err as DomainError).code).toBe('PROVIDER_NOT_FOUND');
    }
  });

  it('ListKeys: one fresh session per provider, AUTH then BANKING', async () => {
    const first = await issueAllKeys(sessions);
    const second = await issueAllKeys(sessions);
    expect(first.map((k) => k.provider)).toEqual(['AUTH', 'BANKING']);
    expect(second.map((k) => k.sessionId)).not.toContain(first[0]!.sessionId);
  });

  it('DecryptText returns what the app encrypted; EncryptText answers to that message and the app opens it', async () => {
    const key = await issueKey(sessions, BANKING);
    const { encryptedMessage, ephemeralPrivateKey } = await encryptForSession(
      key.publicKeySpkiBase64,
      key.sessionId,
      'BANKING',
      '비밀 텍스트 ✓',
    );
    expect(await decryptText(sessions, encryptedMessage)).toBe('비밀 텍스트 ✓');
    const encrypted = await encryptText(sessions, { plainText: 'from the provider', provider: BANKING, sessionId: key.sessionId });
    const opened = await decryptFromServer(encrypted, ephemeralPrivateKey, { sessionId: key.sessionId, provider: 'BANKING' });
    expect(new TextDecoder().decode(opened)).toBe('from the provider');
  });

  it('DecryptText: E2E_DECRYPTION_FAILED for an UNKNOWN provider, E2E_KEY_SESSION_EXPIRED for an unknown session', async () => {
    const key = await issueKey(sessions, AUTH);
    const { encryptedMessage } = await encryptForSession(key.publicKeySpkiBase64, key.sessionId, 'AUTH', 'x');
    const unknown = (await rejection(decryptText(sessions, { ...encryptedMessage, provider: UNKNOWN }))) as DomainError;
    expect([unknown.code, unknown.message]).toEqual(['E2E_DECRYPTION_FAILED', DECRYPTION_FAILED_MESSAGE]);
    const expired = (await rejection(decryptText(sessions, { ...encryptedMessage, sessionId: 'AAAAAAAAAAAAAAAAAAAAAA' }))) as DomainError;
    expect(expired.code).toBe('E2E_KEY_SESSION_EXPIRED');
    await expect(decryptText(sessions, undefined)).rejects.toThrow(InvalidArgumentError);
  });

  it('EncryptText: invalid argument for an UNKNOWN provider or before the app sent anything in the session', async () => {
    const key = await issueKey(sessions, AUTH);
    await expect(encryptText(sessions, { plainText: 'x', provider: UNKNOWN, sessionId: key.sessionId })).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(encryptText(sessions, { plainText: 'x', provider: AUTH, sessionId: key.sessionId })).rejects.toThrow(
      /send an EncryptedMessage/,
    );
  });
});

describe('e2e-key handlers', () => {
  let store: Store;
  let sessions: KeySessions;
  const logs = createCapturingDestination();
  const ctx = (): CallContext => ({
    requestId: 'test',
    method: '/kfrm.api.e2e.E2eTestService/DecryptText',
    logger: createLogger({ service: 'e2e-key-test', level: 'trace', destination: logs }),
    metadata: new Metadata(),
    principal: { level: 'device' },
    clientAddress: '192.0.2.1',
    signal: new AbortController().signal,
  });

  beforeAll(async () => {
    store = await createStore({ redisUrl: process.env.REDIS_URL });
    sessions = createKeySessions(store, KeyEncryptionKey.generate());
  });
  afterAll(async () => {
    await store.close();
  });

  it('map sessions to the contract and declare the access levels and GetKey errors', async () => {
    const keys = keyServiceHandlers(sessions, { store, keyRequests: { limit: 1000, windowMs: 60_000 } });
    const got = await keys.handlers.getKey!({ provider: BANKING }, ctx());
    expect(got).toMatchObject({ provider: BANKING, sessionId: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/) });
    expect(Buffer.from(got.publicKey, 'base64')).toHaveLength(91);
    const listed = await keys.handlers.listKeys!({}, ctx());
    expect(listed.keys.map((k) => k.provider)).toEqual([AUTH, BANKING]);
    expect(keys.policies.getKey.access).toBe('public');
    expect(keys.policies.getKey.errors?.codes.PROVIDER_NOT_FOUND).toBe(0);
    expect(keys.policies.listKeys.access).toBe('public');
    const test = e2eTestHandlers(sessions);
    expect([test.policies.encryptText.access, test.policies.decryptText.access]).toEqual(['device', 'device']);
  });

  it('E2eTestService answers PERMISSION_DENIED when disabled (real mode by default), and works when enabled', async () => {
    const keys = keyServiceHandlers(sessions, { store, keyRequests: { limit: 1000, windowMs: 60_000 } });
    const key = await keys.handlers.getKey!({ provider: AUTH }, ctx());
    const off = e2eTestHandlers(sessions, { enabled: false });
    const on = e2eTestHandlers(sessions, { enabled: true });
    const first = await encryptForSession(key.publicKey, key.sessionId, 'AUTH', 'PIN-1');
    expect(await rejection(off.handlers.decryptText!({ encryptedMessage: first.encryptedMessage }, ctx()))).toBeInstanceOf(
      PermissionDeniedError,
    );
    expect(await rejection(off.handlers.encryptText!({ plainText: 'x', provider: AUTH, sessionId: key.sessionId }, ctx()))).toBeInstanceOf(
      PermissionDeniedError,
    );
    // Refused before opening: the message was not consumed, the enabled service still opens it.
    expect(await on.handlers.decryptText!({ encryptedMessage: first.encryptedMessage }, ctx())).toEqual({ plainText: 'PIN-1' });
  });

  it('log neither plaintext, ciphertext nor key material, and keep the reason of a refusal', async () => {
    const keys = keyServiceHandlers(sessions, { store, keyRequests: { limit: 1000, windowMs: 60_000 } });
    const test = e2eTestHandlers(sessions);
    const key = await keys.handlers.getKey!({ provider: AUTH }, ctx());
    const secret = 'PIN-864209-secret';
    const { encryptedMessage } = await encryptForSession(key.publicKey, key.sessionId, 'AUTH', secret);
    expect(await test.handlers.decryptText!({ encryptedMessage }, ctx())).toEqual({ plainText: secret });
    const reply = await test.handlers.encryptText!({ plainText: `${secret}-reply`, provider: AUTH, sessionId: key.sessionId }, ctx());

    const tampered = { ...encryptedMessage, sessionId: (await keys.handlers.getKey!({ provider: AUTH }, ctx())).sessionId };
    await expect(test.handlers.decryptText!({ encryptedMessage: tampered }, ctx())).rejects.toThrow(DECRYPTION_FAILED_MESSAGE);

    const text = logs.text();
    expect(text).toContain('header kid is not the session id');
    const sealed = JSON.parse((await store.get(`e2e:session:${key.sessionId}`))!) as { sealedKey: string };
    for (const forbidden of [
      secret,
      encryptedMessage.message,
      encryptedMessage.message.split('.')[3]!,
      reply.encryptedText,
      sealed.sealedKey,
    ]) {
      expect(text).not.toContain(forbidden);
    }
  });
});
