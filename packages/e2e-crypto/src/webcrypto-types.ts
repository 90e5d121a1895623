import type { webcrypto } from 'node:crypto';

// The project compiles without the DOM lib, so WebCrypto's types come from node:crypto.
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type JsonWebKey = webcrypto.JsonWebKey;
