import { createHash, randomBytes } from 'node:crypto';
import type { CryptoKey, CryptoKeyPair } from './webcrypto-types';
import { InvalidArgumentError } from '@kfrm/errors';
import type { EncryptedMessage } from '@kfrm/proto/gen/kfrm/api/common/common';
import { prefixed, type Store } from '@kfrm/store';
import { decryptionFailed, sessionExpired } from './errors';
import { decryptCompact, encryptCompact, parseE2eJwe, PROVIDER_HEADER, type FixedEncryptionInputs, type P256PublicJwk } from './jwe';
import { loadKeyEncryptionKey, type KeyEncryptionKey, type KeyEncryptionKeySource } from './kek';
import { exportPkcs8, exportSpkiBase64, generateP256KeyPair, importPkcs8, importPublicJwk } from './keys';
import { isE2eProvider, providerFromType, type E2eProvider } from './provider';

export const DEFAULT_SESSION_TTL_MS = 10 * 60 * 1000;
/** Longest plaintext EncryptText-style server→app encryption accepts, in bytes. */
export const MAX_SERVER_PLAINTEXT_BYTES = 8 * 1024;
/** 128 random bits, base64url without padding. */
const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;
const STORE_PREFIX = 'e2e:';
const SEAL_CONTEXT = 'kfrm-e2e-session-key-v1';

/** Where key sessions live and how long: what every service that opens EncryptedMessage needs. */
export interface KeySessions {
  readonly store: Store;
  readonly kek: KeyEncryptionKey;
  readonly ttlMs: number;
  /** Wall clock in ms; the deadline stored with each session is checked against it as well as the store TTL. */
  readonly now: () => number;
  /**
   * Unsealed private keys of sessions this process has opened messages for, by session id (see
   * {@link unsealPrivateKey}). Internal: use {@link createKeySessions}.
   */
  readonly unsealed: Map<string, { sealedKey: string; provider: E2eProvider; exp: number; key: CryptoKey }>;
}

/** Upper bound of {@link KeySessions.unsealed}: beyond it the oldest entries are dropped (and unsealed again when needed). */
const MAX_UNSEALED_KEYS = 10_000;

export interface KeySessionsOptions {
  /** Life of a new session (default 10 minutes). */
  ttlMs?: number;
  now?: () => number;
}

export function createKeySessions(store: Store, kek: KeyEncryptionKey, options: KeySessionsOptions = {}): KeySessions {
  const ttlMs = options.ttlMs ?? DEFAULT_SESSION_TTL_MS;
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new RangeError('ttlMs must be a positive integer');
  return { store: prefixed(store, STORE_PREFIX), kek, ttlMs, now: options.now ?? Date.now, unsealed: new Map() };
}

/**
 * The key sessions of a service, from the runtime configuration (`config.e2eKekFile`,
 * `config.e2eKekGenerate`): reads (or, in the embedded default, creates) the key-encryption key.
 */
export async function openKeySessions(
  store: Store,
  config: KeyEncryptionKeySource,
  options: KeySessionsOptions = {},
): Promise<KeySessions> {
  return createKeySessions(store, await loadKeyEncryptionKey(config), options);
}

/** What GetKey hands out. Never the private key. */
export interface KeySession {
  sessionId: string;
  provider: E2eProvider;
  /** base64 (standard, padded) of the P-256 public key's SubjectPublicKeyInfo DER. */
  publicKeySpkiBase64: string;
  expiresAt: Date;
}

/** The store value under `session:<id>`. */
interface SessionRecord {
  v: 1;
  provider: E2eProvider;
  /** Deadline, ms since the epoch. */
  exp: number;
  /** base64url(iv ‖ AES-256-GCM(PKCS#8 DER of the private key) ‖ tag) under the KEK. */
  sealedKey: string;
}

const sessionKey = (id: string) => `session:${id}`;
const appKeyKey = (id: string) => `app-epk:${id}`;
/** One key per opened message (hash of the compact JWE): a message opens once. */
const usedMessageKey = (id: string, jwe: string) => `used:${id}:${createHash('sha256').update(jwe).digest('base64url')}`;
const sealAad = (id: string, provider: E2eProvider) => `${SEAL_CONTEXT}|${id}|${provider}`;

function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

/** A new key session for `provider`: a fresh P-256 key pair whose private half is sealed into the store with the TTL. */
export async function createKeySession(sessions: KeySessions, provider: E2eProvider): Promise<KeySession> {
  const pair = await generateP256KeyPair();
  return saveKeySession(sessions, newSessionId(), provider, pair);
}

/** Stores a session for a given key pair. Exported for the test vectors; services call {@link createKeySession}. */
export async function saveKeySession(
  sessions: KeySessions,
  sessionId: string,
  provider: E2eProvider,
  pair: CryptoKeyPair,
): Promise<KeySession> {
  if (!SESSION_ID.test(sessionId)) throw new RangeError('session id must be 22 base64url characters');
  const pkcs8 = await exportPkcs8(pair.privateKey);
  let sealedKey: string;
  try {
    sealedKey = sessions.kek.seal(pkcs8, sealAad(sessionId, provider)).toString('base64url');
  } finally {
    pkcs8.fill(0);
  }
  const exp = sessions.now() + sessions.ttlMs;
  const record: SessionRecord = { v: 1, provider, exp, sealedKey };
  await sessions.store.set(sessionKey(sessionId), JSON.stringify(record), { ttlMs: sessions.ttlMs });
  return { sessionId, provider, publicKeySpkiBase64: await exportSpkiBase64(pair.publicKey), expiresAt: new Date(exp) };
}

/** The live session, or E2E_KEY_SESSION_EXPIRED (unknown id, expired, or a record this server cannot read). */
async function loadSession(sessions: KeySessions, sessionId: string): Promise<SessionRecord> {
  if (typeof sessionId !== 'string' || !SESSION_ID.test(sessionId)) throw sessionExpired('malformed session id');
  const raw = await sessions.store.get(sessionKey(sessionId));
  if (raw === null) throw sessionExpired();
  let record: SessionRecord;
  try {
    record = JSON.parse(raw) as SessionRecord;
  } catch {
    throw sessionExpired('unreadable session record');
  }
  if (record?.v !== 1 || !isE2eProvider(record.provider) || typeof record.exp !== 'number' || typeof record.sealedKey !== 'string') {
    throw sessionExpired('unreadable session record');
  }
  if (record.exp <= sessions.now()) throw sessionExpired('past its deadline');
  return record;
}

/**
 * The session's private key. Unsealing (AES-GCM open, PKCS#8 parse, key import) was the largest
 * single cost of opening a message, and an app sends several secrets per session, so the
 * imported key is kept in memory until the session's deadline. That adds no exposure: this
 * process holds the KEK that unseals every session anyway. The entry is used only while the
 * store still holds the same sealed key for the same provider: a record replaced or relabelled
 * under the same id is unsealed again, so the seal's binding to id and provider still decides.
 */
async function unsealPrivateKey(sessions: KeySessions, sessionId: string, record: SessionRecord): Promise<CryptoKey> {
  const cached = sessions.unsealed.get(sessionId);
  if (cached && cached.sealedKey === record.sealedKey && cached.provider === record.provider && cached.exp > sessions.now())
    return cached.key;
  if (cached) sessions.unsealed.delete(sessionId);
  const key = await unsealFromRecord(sessions, sessionId, record);
  if (sessions.unsealed.size >= MAX_UNSEALED_KEYS) {
    const now = sessions.now();
    for (const [id, entry] of sessions.unsealed) if (entry.exp <= now) sessions.unsealed.delete(id);
    // Still full of live sessions: drop the oldest (Map keeps insertion order).
    while (sessions.unsealed.size >= MAX_UNSEALED_KEYS) sessions.unsealed.delete(sessions.unsealed.keys().next().value!);
  }
  sessions.unsealed.set(sessionId, { sealedKey: record.sealedKey, provider: record.provider, exp: record.exp, key });
  return key;
}

async function unsealFromRecord(sessions: KeySessions, sessionId: string, record: SessionRecord): Promise<CryptoKey> {
  let pkcs8: Buffer;
  try {
    pkcs8 = sessions.kek.open(Buffer.from(record.sealedKey, 'base64url'), sealAad(sessionId, record.provider));
  } catch {
    // Another key-encryption key (rotated) or a tampered record: the app should start over.
    throw sessionExpired('session key cannot be unsealed');
  }
  try {
    return await importPkcs8(pkcs8);
  } finally {
    pkcs8.fill(0);
  }
}

/**
 * Opens an EncryptedMessage that the app encrypted for a key session of `expectedProvider`.
 *
 * E2E_KEY_SESSION_EXPIRED when the session does not exist (any more); E2E_DECRYPTION_FAILED,
 * always with the same message, for everything else: provider mismatch (message, session,
 * header), header kid ≠ session id (a message replayed into another session), an algorithm
 * other than ECDH-ES + A256GCM, extra header parameters, an oversize or malformed JWE, a bad
 * tag. On success the sender's epk is kept with the session (same deadline) so that
 * {@link encryptForApp} can answer the app.
 */
export async function openEncryptedMessage(
  sessions: KeySessions,
  message: EncryptedMessage | undefined,
  expectedProvider: E2eProvider,
): Promise<Uint8Array> {
  if (!message) throw new InvalidArgumentError('encrypted message is required');
  const provider = providerFromType(message.provider);
  if (provider !== expectedProvider) throw decryptionFailed('message provider is not the expected provider');
  let header;
  try {
    header = parseE2eJwe(message.message);
  } catch (err) {
    throw decryptionFailed((err as Error).message);
  }
  const record = await loadSession(sessions, message.sessionId);
  if (record.provider !== provider) throw decryptionFailed('session belongs to another provider');
  if (header.kid !== message.sessionId) throw decryptionFailed('header kid is not the session id');
  if (header[PROVIDER_HEADER] !== provider) throw decryptionFailed('header provider is not the session provider');

  const privateKey = await unsealPrivateKey(sessions, message.sessionId, record);
  let plaintext: Uint8Array;
  try {
    plaintext = await decryptCompact(message.message, privateKey, header);
  } catch (err) {
    throw decryptionFailed('JWE decryption failed', err);
  }
  // A captured message must not be usable twice (a PIN replayed into another process): the first
  // opening claims it for the rest of the session's life. Claimed after a successful decryption,
  // so garbage cannot fill the store. The claim also keeps the sender's epk, for EncryptText's
  // answer, in the same step: a replay is refused before it could replace the epk, and neither
  // outlives the session (the TTL is what is left of its deadline).
  const remaining = Math.floor(record.exp - sessions.now());
  const claimed =
    remaining > 0 &&
    (await sessions.store.setIfAbsentThenSet(usedMessageKey(message.sessionId, message.message), '1', remaining, {
      key: appKeyKey(message.sessionId),
      value: JSON.stringify(header.epk),
      ttlMs: remaining,
    }));
  if (!claimed) {
    plaintext.fill(0);
    throw decryptionFailed('message was already opened');
  }
  return plaintext;
}

/** {@link openEncryptedMessage}, for secrets that are text: the plaintext must be valid UTF-8. */
export async function openEncryptedText(
  sessions: KeySessions,
  message: EncryptedMessage | undefined,
  expectedProvider: E2eProvider,
): Promise<string> {
  const bytes = await openEncryptedMessage(sessions, message, expectedProvider);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw decryptionFailed('plaintext is not UTF-8');
  } finally {
    bytes.fill(0);
  }
}

/**
 * Server → app: encrypts `plaintext` (ECDH-ES + A256GCM, kid = session id) to the ephemeral
 * public key of the last message the server opened in this session. The app decrypts with the
 * ephemeral private key it kept ({@link decryptFromServer}). Returns the compact JWE.
 * `fixed` is for test vectors only.
 */
export async function encryptForApp(
  sessions: KeySessions,
  sessionId: string,
  provider: E2eProvider,
  plaintext: Uint8Array,
  fixed?: FixedEncryptionInputs,
): Promise<string> {
  if (plaintext.length > MAX_SERVER_PLAINTEXT_BYTES)
    throw new InvalidArgumentError(`plain text is longer than ${MAX_SERVER_PLAINTEXT_BYTES} bytes`);
  const record = await loadSession(sessions, sessionId);
  if (record.provider !== provider) throw new InvalidArgumentError('provider does not match the key session');
  const raw = await sessions.store.get(appKeyKey(sessionId));
  if (raw === null) {
    throw new InvalidArgumentError(
      'the app has no key in this session yet: send an EncryptedMessage in it first (for example with DecryptText); ' +
        "the reply is encrypted to that message's ephemeral key",
    );
  }
  const appKey = await importPublicJwk(JSON.parse(raw) as P256PublicJwk);
  return encryptCompact(appKey, { kid: sessionId, provider }, plaintext, fixed);
}
