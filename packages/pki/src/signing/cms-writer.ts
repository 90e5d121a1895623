/**
 * The app side's CMS SignedData, written as DER directly. Building it with pkijs (certificate
 * parsed into objects, the structure assembled from asn1js objects, encoded, and the key used
 * through WebCrypto's asynchronous job) cost a phone ≈ 1.9 ms of CPU per P-256 signature, next
 * to ≈ 33 µs for the signature itself (bench/cms-sign.ts). The structure is fixed, so it is
 * written here byte for byte as pkijs wrote it (cms-writer.test.ts compares the two): the same
 * field order, the same encodings (AlgorithmIdentifier with NULL parameters for the digest, the
 * attached content as a constructed OCTET STRING of 64 KiB pieces, UTCTime as asn1js writes it),
 * the certificate embedded as given.
 *
 * Only the shapes a phone makes: an ECDSA key (signed with the requested digest, SHA-256 by
 * default) or an RSASSA-PKCS1-v1_5 key with its own digest. Anything else answers undefined and
 * the caller builds the structure with pkijs.
 */
import { createHash, KeyObject, sign as cryptoSign, type webcrypto as WebCrypto } from 'node:crypto';
import { HASH_OID, OID, type HashName } from './algorithms';
import { childrenOf, readTlv, whole } from './cms-structure';

type CryptoKey = WebCrypto.CryptoKey;

const NODE_HASH: Readonly<Record<HashName, string>> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };
const ECDSA_OID: Readonly<Record<HashName, string>> = {
  'SHA-256': OID.ecdsaWithSha256,
  'SHA-384': OID.ecdsaWithSha384,
  'SHA-512': OID.ecdsaWithSha512,
};
const RSA_OID: Readonly<Record<HashName, string>> = {
  'SHA-256': OID.sha256WithRsa,
  'SHA-384': OID.sha384WithRsa,
  'SHA-512': OID.sha512WithRsa,
};
/** asn1js writes an attached content in pieces of this size. */
const CONTENT_PIECE = 65536;

// --- DER -------------------------------------------------------------------------------------

function lengthBytes(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return [0x80 | bytes.length, ...bytes];
}

/** One TLV: the identifier byte, the definite length, the contents in order. */
function tlv(identifier: number, ...contents: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const c of contents) size += c.length;
  const header = lengthBytes(size);
  const out = new Uint8Array(1 + header.length + size);
  out[0] = identifier;
  out.set(header, 1);
  let at = 1 + header.length;
  for (const c of contents) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const sequence = (...contents: Uint8Array[]) => tlv(0x30, ...contents);
const set = (...contents: Uint8Array[]) => tlv(0x31, ...contents);
const octetString = (bytes: Uint8Array) => tlv(0x04, bytes);
/** [n] constructed (explicit, or implicit over a constructed type). */
const context = (n: number, ...contents: Uint8Array[]) => tlv(0xa0 | n, ...contents);
const NULL = new Uint8Array([0x05, 0x00]);
const VERSION_1 = new Uint8Array([0x02, 0x01, 0x01]);

const oidCache = new Map<string, Uint8Array>();
function oid(dotted: string): Uint8Array {
  let encoded = oidCache.get(dotted);
  if (!encoded) {
    const arcs = dotted.split('.').map(Number);
    const bytes = [40 * arcs[0]! + arcs[1]!];
    for (const arc of arcs.slice(2)) {
      const base128 = [arc & 0x7f];
      for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) base128.unshift(0x80 | (n & 0x7f));
      bytes.push(...base128);
    }
    encoded = tlv(0x06, new Uint8Array(bytes));
    oidCache.set(dotted, encoded);
  }
  return encoded;
}

/** UTCTime as asn1js writes it: YYMMDDHHMMSSZ in UTC, the year's last two digits. */
function utcTime(date: Date): Uint8Array {
  const two = (n: number) => String(n).padStart(2, '0');
  const text =
    two(date.getUTCFullYear() % 100) +
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) +
    'Z';
  return tlv(0x17, new TextEncoder().encode(text));
}

// --- the signer ------------------------------------------------------------------------------

/** The certificate's issuer Name and serialNumber, as their DER bytes; undefined if not X.509. */
function issuerAndSerial(certificateDer: Uint8Array): Uint8Array | undefined {
  const certificate = readTlv(certificateDer, 0, certificateDer.length);
  const tbs = certificate && childrenOf(certificateDer, certificate)?.[0];
  const fields = tbs && childrenOf(certificateDer, tbs);
  if (!fields) return undefined;
  // version [0] is optional (absent in v1 certificates); then serialNumber, signature, issuer.
  const at = fields[0]?.cls === 2 && fields[0].tag === 0 ? 1 : 0;
  const serial = fields[at];
  const issuer = fields[at + 2];
  if (serial?.tag !== 2 || issuer?.tag !== 16) return undefined;
  return sequence(whole(certificateDer, issuer), whole(certificateDer, serial));
}

const keyObjects = new WeakMap<CryptoKey, KeyObject>();
function keyObjectOf(key: CryptoKey): KeyObject {
  let object = keyObjects.get(key);
  if (!object) {
    object = KeyObject.from(key);
    keyObjects.set(key, object);
  }
  return object;
}

/** The signature algorithm for this key and digest, or undefined outside the fast path. */
function signatureAlgorithm(key: CryptoKey, hash: HashName): Uint8Array | undefined {
  if (!Object.hasOwn(NODE_HASH, hash)) return undefined;
  if (key.type !== 'private' || !key.usages.includes('sign')) return undefined;
  if (key.algorithm.name === 'ECDSA') return sequence(oid(ECDSA_OID[hash]));
  if (key.algorithm.name === 'RSASSA-PKCS1-v1_5') {
    // WebCrypto signs with the key's own digest; another one is pkijs's business.
    const own = (key.algorithm as WebCrypto.RsaHashedKeyAlgorithm).hash.name;
    // Without parameters, as pkijs writes it: RFC 4055 asks for NULL and has verifiers accept
    // them absent too.
    return own === hash ? sequence(oid(RSA_OID[hash])) : undefined;
  }
  return undefined;
}

export interface WrittenSignedDataParams {
  content: Uint8Array;
  certificateDer: Uint8Array;
  privateKey: CryptoKey;
  detached: boolean;
  hash: HashName;
  signingTime: Date;
}

/**
 * ContentInfo(SignedData) DER: version 1, one digest algorithm, id-data content (attached or
 * not), the signer's certificate, one SignerInfo by issuer and serial number with the signed
 * attributes contentType, messageDigest and signingTime. undefined when the key or the
 * certificate is outside what this writer makes.
 */
export function writeSignedData(params: WrittenSignedDataParams): Uint8Array | undefined {
  const signatureAlgorithmId = signatureAlgorithm(params.privateKey, params.hash);
  const sid = issuerAndSerial(params.certificateDer);
  if (!signatureAlgorithmId || !sid) return undefined;
  const nodeHash = NODE_HASH[params.hash];
  const digestAlgorithm = sequence(oid(HASH_OID[params.hash]), NULL);

  const attributes = [
    sequence(oid(OID.contentTypeAttribute), set(oid(OID.data))),
    sequence(oid(OID.messageDigestAttribute), set(octetString(createHash(nodeHash).update(params.content).digest()))),
    sequence(oid(OID.signingTimeAttribute), set(utcTime(params.signingTime))),
  ];
  // What is signed is the attributes' encoding as a SET (RFC 5652 §5.4); in the SignerInfo they
  // stand under [0] IMPLICIT.
  const signedAttributes = set(...attributes);
  const signature = cryptoSign(nodeHash, signedAttributes, { key: keyObjectOf(params.privateKey), dsaEncoding: 'der' });
  const signerInfo = sequence(VERSION_1, sid, digestAlgorithm, context(0, ...attributes), signatureAlgorithmId, octetString(signature));

  const pieces: Uint8Array[] = [];
  for (let at = 0; at < params.content.length; at += CONTENT_PIECE) {
    pieces.push(octetString(params.content.subarray(at, at + CONTENT_PIECE)));
  }
  const encapsulated = params.detached ? sequence(oid(OID.data)) : sequence(oid(OID.data), context(0, tlv(0x24, ...pieces)));

  const signedData = sequence(VERSION_1, set(digestAlgorithm), encapsulated, context(0, params.certificateDer), set(signerInfo));
  return sequence(oid(OID.signedData), context(0, signedData));
}
