import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  KeyObject,
  randomBytes,
} from 'node:crypto';
import type { CryptoKey } from './webcrypto-types';
import { isE2eProvider, type E2eProvider } from './provider';

const asKeyObject = (key: CryptoKey | KeyObject): KeyObject => (key instanceof KeyObject ? key : KeyObject.from(key));

/** The only key-management algorithm: ephemeral-static ECDH, the derived key used directly. */
export const JWE_ALG = 'ECDH-ES';
/** The only content encryption. */
export const JWE_ENC = 'A256GCM';
/** Header parameter carrying the provider; protected, so bound by the AEAD like everything in the header. */
export const PROVIDER_HEADER = 'kfrm_provider';
/** Longest compact JWE accepted, in characters (checked before any parsing or cryptography). */
export const MAX_COMPACT_JWE_LENGTH = 16 * 1024;

/** Header parameters an E2E JWE may carry. Anything else (zip, crit, jku, jwk, x5u, ...) is refused. */
const ALLOWED_HEADER = new Set(['alg', 'enc', 'kid', PROVIDER_HEADER, 'epk', 'apu', 'apv', 'typ', 'cty']);
const EPK_MEMBERS = ['crv', 'kty', 'x', 'y'];
const B64URL = /^[A-Za-z0-9_-]*$/;
const COORDINATE = /^[A-Za-z0-9_-]{43}$/; // 32 bytes, unpadded base64url

export interface P256PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

export interface E2eJweHeader {
  alg: typeof JWE_ALG;
  enc: typeof JWE_ENC;
  /** The key session id. */
  kid: string;
  [PROVIDER_HEADER]: E2eProvider;
  /** The sender's ephemeral public key. */
  epk: P256PublicJwk;
  /** Agreement PartyUInfo / PartyVInfo (base64url), when the sender named the parties. */
  apu?: string;
  apv?: string;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks a compact JWE's shape and protected header strictly, before any cryptography, and
 * returns the header. Throws an Error whose message is the reason (for logs only: callers turn
 * every failure into one E2E_DECRYPTION_FAILED).
 */
export function parseE2eJwe(compact: unknown): E2eJweHeader {
  if (typeof compact !== 'string') throw new Error('not a string');
  if (compact.length > MAX_COMPACT_JWE_LENGTH) throw new Error('too long');
  const parts = compact.split('.');
  if (parts.length !== 5) throw new Error('not a compact JWE');
  const [protectedB64, encryptedKey, iv, ciphertext, tag] = parts as [string, string, string, string, string];
  if (!parts.every((p) => B64URL.test(p))) throw new Error('not base64url');
  // ECDH-ES in direct mode has no encrypted key; a non-empty one means another algorithm.
  if (encryptedKey !== '') throw new Error('unexpected encrypted key');
  if (iv.length !== 16) throw new Error('IV is not 96 bits');
  if (tag.length !== 22) throw new Error('tag is not 128 bits');
  if (protectedB64 === '' || ciphertext === '') throw new Error('empty part');

  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(protectedB64, 'base64url').toString('utf8'));
  } catch {
    throw new Error('protected header is not JSON');
  }
  if (!isPlainObject(header)) throw new Error('protected header is not an object');
  for (const name of Object.keys(header)) if (!ALLOWED_HEADER.has(name)) throw new Error(`header parameter ${name} is not allowed`);
  if (header.alg !== JWE_ALG) throw new Error('alg is not allowed');
  if (header.enc !== JWE_ENC) throw new Error('enc is not allowed');
  if (typeof header.kid !== 'string' || header.kid === '') throw new Error('kid missing');
  if (!isE2eProvider(header[PROVIDER_HEADER])) throw new Error('provider missing or unknown');
  const epk = header.epk;
  if (!isPlainObject(epk)) throw new Error('epk missing');
  if (Object.keys(epk).sort().join() !== EPK_MEMBERS.join()) throw new Error('epk has unexpected members');
  if (epk.kty !== 'EC' || epk.crv !== 'P-256') throw new Error('epk is not a P-256 key');
  if (typeof epk.x !== 'string' || typeof epk.y !== 'string' || !COORDINATE.test(epk.x) || !COORDINATE.test(epk.y)) {
    throw new Error('epk coordinates malformed');
  }
  for (const party of ['apu', 'apv'] as const) {
    const value = header[party];
    if (value !== undefined && (typeof value !== 'string' || !B64URL.test(value))) throw new Error(`${party} is not base64url`);
  }
  return {
    alg: JWE_ALG,
    enc: JWE_ENC,
    kid: header.kid,
    [PROVIDER_HEADER]: header[PROVIDER_HEADER],
    epk: { kty: 'EC', crv: 'P-256', x: epk.x, y: epk.y },
    ...(header.apu === undefined ? {} : { apu: header.apu as string }),
    ...(header.apv === undefined ? {} : { apv: header.apv as string }),
  };
}

/**
 * Decrypts a compact JWE with the recipient's private key (RFC 7518: ECDH-ES in direct key
 * agreement, Concat KDF with SHA-256, A256GCM), with node:crypto's synchronous primitives. It
 * checks the compact form and header with {@link parseE2eJwe} first (a caller that has already
 * parsed this compact passes its header); the epk must be a point on P-256 (OpenSSL refuses to
 * import any other). Throws on any failure.
 *
 * Not jose's `compactDecrypt`: WebCrypto runs key agreement, digest and AES-GCM as jobs on
 * libuv's thread pool, where every PIN check's argon2id verify also runs, so each opening waited
 * behind the verifies in the queue, and it took ≈ 0.6 ms of CPU against ≈ 0.2 ms here.
 * `jwe.test.ts` opens what jose encrypts, `e2e-vectors.test.ts` the documented vectors.
 */
export async function decryptCompact(
  compact: string,
  privateKey: CryptoKey | KeyObject,
  header: E2eJweHeader = parseE2eJwe(compact),
): Promise<Uint8Array> {
  const [protectedB64, , ivB64, ciphertextB64, tagB64] = compact.split('.') as [string, string, string, string, string];
  const sharedSecret = diffieHellman({
    privateKey: asKeyObject(privateKey),
    publicKey: createPublicKey({ key: { ...header.epk }, format: 'jwk' }),
  });
  const contentKey = concatKdfSha256(sharedSecret, header);
  sharedSecret.fill(0);
  let head: Buffer | undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', contentKey, Buffer.from(ivB64, 'base64url'), { authTagLength: 16 });
    // The AAD of a compact JWE: the protected header exactly as sent (ASCII of its base64url).
    decipher.setAAD(Buffer.from(protectedB64, 'ascii'));
    decipher.setAuthTag(Buffer.from(tagB64, 'base64url'));
    head = decipher.update(Buffer.from(ciphertextB64, 'base64url'));
    const tail = decipher.final(); // throws when the tag does not verify
    // A plain Uint8Array of its own (not a view into Node's shared buffer pool), so the caller's
    // fill(0) wipes the only copy; the pieces are wiped below.
    const plaintext = new Uint8Array(head.length + tail.length);
    plaintext.set(head);
    plaintext.set(tail, head.length);
    tail.fill(0);
    return plaintext;
  } finally {
    head?.fill(0);
    contentKey.fill(0);
  }
}

/**
 * The A256GCM content key from the ECDH shared secret Z (RFC 7518 section 4.6.2): one SHA-256
 * round over counter 1, Z, and OtherInfo = AlgorithmID ("A256GCM"), PartyUInfo (apu),
 * PartyVInfo (apv), each length-prefixed, and SuppPubInfo (the key length in bits, 256).
 */
function concatKdfSha256(sharedSecret: Buffer, header: E2eJweHeader): Buffer {
  const lengthPrefixed = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return [length, bytes];
  };
  const input = Buffer.concat([
    Buffer.from([0, 0, 0, 1]),
    sharedSecret,
    ...lengthPrefixed(Buffer.from(JWE_ENC, 'ascii')),
    ...lengthPrefixed(Buffer.from(header.apu ?? '', 'base64url')),
    ...lengthPrefixed(Buffer.from(header.apv ?? '', 'base64url')),
    Buffer.from([0, 0, 1, 0]),
  ]);
  try {
    return createHash('sha256').update(input).digest();
  } finally {
    input.fill(0); // it holds a copy of Z
  }
}

export interface FixedEncryptionInputs {
  /**
   * The sender's ephemeral private key (ECDH P-256). The app side passes a fresh one because it
   * must keep the private half to read the server's reply; test vectors pin one.
   */
  ephemeralPrivateKey: CryptoKey | KeyObject;
  /** Its public half, when the caller made the pair (else derived from the private key). */
  ephemeralPublicKey?: KeyObject;
  /** 12 bytes; test vectors only. Omitted, a random IV is drawn. */
  iv?: Uint8Array;
}

/**
 * ECDH-ES + A256GCM to a P-256 public key, with `kid` and `kfrm_provider` in the protected
 * header, with node:crypto's synchronous primitives (RFC 7518; the header's members in the order
 * jose writes them, so the documented vectors in docs/e2e.md come out byte for byte). Without
 * `fixed`, a fresh ephemeral key and a random IV. A fixed IV is for test vectors only: reusing an
 * ephemeral key and IV in real traffic would destroy the scheme's security.
 *
 * Not jose's `CompactEncrypt`: through WebCrypto its key export, agreement, digest and AES-GCM
 * are jobs on libuv's thread pool (behind the argon2id verifies on a server), and one encryption
 * cost ≈ 1.3 ms of CPU. `jwe.test.ts` has jose open what this writes.
 */
export async function encryptCompact(
  recipientPublicKey: CryptoKey | KeyObject,
  header: { kid: string; provider: E2eProvider },
  plaintext: Uint8Array,
  fixed?: FixedEncryptionInputs,
): Promise<string> {
  const recipient = asKeyObject(recipientPublicKey);
  if (recipient.type !== 'public' || recipient.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new TypeError('the recipient key is not a P-256 public key');
  }
  const ephemeral = fixed
    ? {
        privateKey: asKeyObject(fixed.ephemeralPrivateKey),
        publicKey: fixed.ephemeralPublicKey ?? createPublicKey(asKeyObject(fixed.ephemeralPrivateKey)),
      }
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { x, y } = ephemeral.publicKey.export({ format: 'jwk' });
  const protectedHeader: E2eJweHeader = {
    alg: JWE_ALG,
    enc: JWE_ENC,
    kid: header.kid,
    [PROVIDER_HEADER]: header.provider,
    // x, crv, kty, y: the members in jose's order (the vectors' header is serialized as written).
    epk: { x: x as string, crv: 'P-256', kty: 'EC', y: y as string },
  };
  const protectedB64 = Buffer.from(JSON.stringify(protectedHeader), 'utf8').toString('base64url');
  const sharedSecret = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient });
  const contentKey = concatKdfSha256(sharedSecret, protectedHeader);
  sharedSecret.fill(0);
  try {
    const iv = fixed?.iv ?? randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', contentKey, iv, { authTagLength: 16 });
    cipher.setAAD(Buffer.from(protectedB64, 'ascii'));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const tag = cipher.getAuthTag();
    return `${protectedB64}..${Buffer.from(iv).toString('base64url')}.${ciphertext.toString('base64url')}.${tag.toString('base64url')}`;
  } finally {
    contentKey.fill(0);
  }
}
