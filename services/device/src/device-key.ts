import { createHash } from 'node:crypto';
import { failWith } from '@kfrm/errors';
import { webcrypto } from '@kfrm/pki';
import { bytesEqual, concat, DerError, encodePositiveInteger, encodeTlv, expectTag, positiveInteger, readTlv } from './der';

/**
 * The keys phones make, and only those: EC P-256 (Secure Enclave, Android Keystore) and RSA
 * 2048/3072/4096 with exponent 65537. Everything else (weak RSA, other curves, Ed25519, odd
 * exponents, other encodings) is refused with DEVICE_CERTIFICATE_ISSUANCE_FAILED.
 */
export type DeviceKeyAlgorithm = 'EC_P256' | 'RSA_2048' | 'RSA_3072' | 'RSA_4096';
export const DEVICE_KEY_ALGORITHMS: readonly DeviceKeyAlgorithm[] = ['EC_P256', 'RSA_2048', 'RSA_3072', 'RSA_4096'];

export interface DevicePublicKey {
  algorithm: DeviceKeyAlgorithm;
  /** Canonical SPKI DER, re-encoded from the parsed key (never the caller's bytes as given). */
  spki: Uint8Array;
  /** Hex SHA-256 of `spki`. */
  fingerprint: string;
}

/** An RSA-4096 SPKI is 550 bytes, ~800 characters as PEM; anything near this limit is not a key. */
export const MAX_PUBLIC_KEY_CHARS = 8 * 1024;

const OID_EC_PUBLIC_KEY = Uint8Array.from([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]); // 1.2.840.10045.2.1
const OID_P256 = Uint8Array.from([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]); // 1.2.840.10045.3.1.7
const OID_RSA_ENCRYPTION = Uint8Array.from([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]); // 1.2.840.113549.1.1.1
const RSA_EXPONENT_65537 = Uint8Array.from([0x01, 0x00, 0x01]);
const RSA_BITS: Record<number, DeviceKeyAlgorithm> = { 2048: 'RSA_2048', 3072: 'RSA_3072', 4096: 'RSA_4096' };

const SEQUENCE = 0x30;
const OID = 0x06;
const NULL = 0x05;
const BIT_STRING = 0x03;

export const KEY_REFUSED_MESSAGE =
  'public key is not accepted: send an EC P-256 or RSA 2048/3072/4096 (e=65537) key as SPKI, PEM or base64 DER';

/** What CreateDevice's key checks raise (checked against CreateDevice's ApiError by its handler). */
export type DeviceKeyCode = 'DEVICE_CERTIFICATE_ISSUANCE_FAILED';
const keyRefused = failWith<DeviceKeyCode>();

function refuse(reason: string, cause?: unknown): never {
  throw keyRefused('DEVICE_CERTIFICATE_ISSUANCE_FAILED', KEY_REFUSED_MESSAGE, { cause: new Error(reason, { cause }) });
}

/** PEM (`BEGIN PUBLIC KEY`, exactly one block) or bare standard base64 to DER. */
function decodeText(text: string): Uint8Array {
  let body = text.trim();
  if (body.startsWith('-----')) {
    const match = /^-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----$/.exec(body);
    if (!match) refuse('not a single "BEGIN PUBLIC KEY" PEM block');
    body = match[1]!;
  }
  body = body.replace(/\s+/g, '');
  if (body.length === 0 || body.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) refuse('not base64');
  return new Uint8Array(Buffer.from(body, 'base64'));
}

interface ParsedSpki {
  algorithmOid: Uint8Array;
  parameters?: { tag: number; content: Uint8Array };
  subjectPublicKey: Uint8Array;
}

function parseSpki(der: Uint8Array): ParsedSpki {
  const outer = expectTag(readTlv(der, 0, der.length), SEQUENCE, 'SubjectPublicKeyInfo');
  if (outer.end !== der.length) throw new DerError('trailing bytes');
  const algorithm = expectTag(readTlv(der, outer.start, outer.end), SEQUENCE, 'AlgorithmIdentifier');
  const oid = expectTag(readTlv(der, algorithm.start, algorithm.end), OID, 'algorithm');
  let parameters: ParsedSpki['parameters'];
  if (oid.end < algorithm.end) {
    const p = readTlv(der, oid.end, algorithm.end);
    if (p.end !== algorithm.end) throw new DerError('AlgorithmIdentifier has extra elements');
    parameters = { tag: p.tag, content: der.subarray(p.start, p.end) };
  }
  const bits = expectTag(readTlv(der, algorithm.end, outer.end), BIT_STRING, 'subjectPublicKey');
  if (bits.end !== outer.end) throw new DerError('SubjectPublicKeyInfo has extra elements');
  if (bits.end - bits.start < 1 || der[bits.start] !== 0) throw new DerError('subjectPublicKey has unused bits');
  return { algorithmOid: der.subarray(oid.start, oid.end), parameters, subjectPublicKey: der.subarray(bits.start + 1, bits.end) };
}

function bitLength(magnitude: Uint8Array): number {
  return (magnitude.length - 1) * 8 + (32 - Math.clz32(magnitude[0]!));
}

async function ecP256(spki: ParsedSpki): Promise<DevicePublicKey> {
  const curve = spki.parameters;
  if (!curve || curve.tag !== OID || !bytesEqual(curve.content, OID_P256)) refuse('EC key on a curve other than P-256');
  const point = spki.subjectPublicKey;
  // Phones export the uncompressed form (0x04 || X || Y).
  if (point.length !== 65 || point[0] !== 0x04) refuse('EC point is not an uncompressed P-256 point');
  const canonical = encodeTlv(
    SEQUENCE,
    concat(
      encodeTlv(SEQUENCE, concat(encodeTlv(OID, OID_EC_PUBLIC_KEY), encodeTlv(OID, OID_P256))),
      encodeTlv(BIT_STRING, concat(Uint8Array.of(0), point)),
    ),
  );
  try {
    // WebCrypto checks that the point is on the curve.
    await webcrypto.subtle.importKey('spki', canonical, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
  } catch (err) {
    refuse('EC point is not on P-256', err);
  }
  return withFingerprint('EC_P256', canonical);
}

async function rsa(spki: ParsedSpki): Promise<DevicePublicKey> {
  // RFC 3279 says NULL; some encoders omit it. Anything else (e.g. RSA-PSS parameters) is refused.
  if (spki.parameters && (spki.parameters.tag !== NULL || spki.parameters.content.length !== 0)) refuse('RSA parameters are not NULL');
  const key = spki.subjectPublicKey;
  const sequence = expectTag(readTlv(key, 0, key.length), SEQUENCE, 'RSAPublicKey');
  if (sequence.end !== key.length) throw new DerError('RSAPublicKey has trailing bytes');
  const nTlv = readTlv(key, sequence.start, sequence.end);
  const modulus = positiveInteger(key, nTlv, 'modulus');
  const eTlv = readTlv(key, nTlv.end, sequence.end);
  const exponent = positiveInteger(key, eTlv, 'exponent');
  if (eTlv.end !== sequence.end) throw new DerError('RSAPublicKey has extra elements');
  const algorithm = RSA_BITS[bitLength(modulus)];
  if (!algorithm) refuse(`RSA modulus of ${bitLength(modulus)} bits`);
  if (!bytesEqual(exponent, RSA_EXPONENT_65537)) refuse('RSA exponent is not 65537');
  if ((modulus[modulus.length - 1]! & 1) === 0) refuse('RSA modulus is even');
  const rsaPublicKey = encodeTlv(SEQUENCE, concat(encodePositiveInteger(modulus), encodePositiveInteger(exponent)));
  const canonical = encodeTlv(
    SEQUENCE,
    concat(
      encodeTlv(SEQUENCE, concat(encodeTlv(OID, OID_RSA_ENCRYPTION), encodeTlv(NULL, new Uint8Array()))),
      encodeTlv(BIT_STRING, concat(Uint8Array.of(0), rsaPublicKey)),
    ),
  );
  try {
    await webcrypto.subtle.importKey('spki', canonical, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['verify']);
  } catch (err) {
    refuse('RSA key does not import', err);
  }
  return withFingerprint(algorithm, canonical);
}

function withFingerprint(algorithm: DeviceKeyAlgorithm, spki: Uint8Array): DevicePublicKey {
  return { algorithm, spki, fingerprint: createHash('sha256').update(spki).digest('hex') };
}

/**
 * Parses the public key a phone sends to CreateDevice. Every refusal is a DomainError
 * DEVICE_CERTIFICATE_ISSUANCE_FAILED (the reason is in `cause`, for logs only).
 */
export async function parseDevicePublicKey(text: string): Promise<DevicePublicKey> {
  if (typeof text !== 'string' || text.length > MAX_PUBLIC_KEY_CHARS) refuse('public key text is too long');
  const der = decodeText(text);
  let spki: ParsedSpki;
  try {
    spki = parseSpki(der);
  } catch (err) {
    refuse('not a DER SubjectPublicKeyInfo', err);
  }
  try {
    if (bytesEqual(spki.algorithmOid, OID_EC_PUBLIC_KEY)) return await ecP256(spki);
    if (bytesEqual(spki.algorithmOid, OID_RSA_ENCRYPTION)) return await rsa(spki);
  } catch (err) {
    if (err instanceof DerError) refuse('malformed key', err);
    throw err;
  }
  refuse('key algorithm is neither EC nor RSA');
}
