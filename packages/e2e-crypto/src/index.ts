export * from './provider';
export * from './errors';
export { KEK_VARIABLE, KeyEncryptionKey, loadKeyEncryptionKey, parseKeyEncryptionKey, type KeyEncryptionKeySource } from './kek';
export { JWE_ALG, JWE_ENC, MAX_COMPACT_JWE_LENGTH, PROVIDER_HEADER, parseE2eJwe, type E2eJweHeader, type P256PublicJwk } from './jwe';
export { P256_SPKI_DER_LENGTH, generateP256KeyPair } from './keys';
export {
  DEFAULT_SESSION_TTL_MS,
  MAX_SERVER_PLAINTEXT_BYTES,
  createKeySession,
  createKeySessions,
  encryptForApp,
  openEncryptedMessage,
  openEncryptedText,
  openKeySessions,
  type KeySession,
  type KeySessions,
  type KeySessionsOptions,
} from './key-sessions';
export { decryptFromServer, encryptForSession, type AppEncryption, type AppEncryptionOptions } from './app';
