import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { webcrypto as WebCrypto } from 'node:crypto';
import { x509 } from '../crypto-provider';
import { toPem } from '../pem';
import { checkPublicKey, isAllowedSignatureAlgorithm, type KeyKind } from './algorithms';
import { checkDerStructure } from './der';
import { pkiEngine } from './engine';
import { SigningError, type CsrRejection } from './errors';

type CryptoKeyPair = WebCrypto.CryptoKeyPair;

/** Input limit before any decoding: a P-256 CSR is ~0.4 KiB, an RSA-4096 one ~1.7 KiB. */
export const MAX_CSR_INPUT_LENGTH = 16 * 1024;
/** A CSR nests about 8 levels; 32 leaves room for any sane attribute and refuses bombs. */
const MAX_CSR_DEPTH = 32;

export interface SigningCsr {
  /** The CSR's DER bytes as received. */
  der: Uint8Array;
  /** The requester's SubjectPublicKeyInfo (DER): the only thing issuance takes from the CSR. */
  subjectPublicKeyInfo: Uint8Array;
  keyKind: KeyKind;
  rsaModulusBits?: number;
}

/**
 * Parses and checks a PKCS#10 CSR given as PEM or bare base64 DER. Every refusal throws
 * `SigningError('INVALID_SIGNING_CSR', reason)`; nothing else escapes.
 */
export async function parseSigningCsr(input: string): Promise<SigningCsr> {
  const refuse = (reason: CsrRejection, cause?: unknown): never => {
    throw new SigningError('INVALID_SIGNING_CSR', reason, cause === undefined ? undefined : { cause });
  };
  if (typeof input !== 'string' || input.trim().length === 0) return refuse('empty');
  if (input.length > MAX_CSR_INPUT_LENGTH) return refuse('too-large');
  const der = decodePemOrBase64(input, 'CERTIFICATE REQUEST') ?? refuse('not-base64');

  const structure = checkDerStructure(der, { maxDepth: MAX_CSR_DEPTH, allowIndefiniteLength: false });
  if (!structure.ok) return refuse(structure.problem === 'too-deep' ? 'too-deep' : 'malformed-der');

  let csr: pkijs.CertificationRequest;
  try {
    const asn = asn1js.fromBER(der);
    if (asn.offset !== der.length) return refuse('malformed-der');
    csr = new pkijs.CertificationRequest({ schema: asn.result });
  } catch (error) {
    return refuse('not-a-csr', error);
  }
  if (csr.version !== 0) return refuse('unsupported-version');

  const key = await checkPublicKey(csr.subjectPublicKeyInfo);
  if (!key.ok) return refuse(key.reason);
  if (!isAllowedSignatureAlgorithm(csr.signatureAlgorithm, key.kind)) return refuse('unsupported-signature-algorithm');

  // Proof of possession: the requester holds the private key for the public key it submits.
  let signed = false;
  try {
    signed = await csr.verify(pkiEngine);
  } catch (error) {
    return refuse('bad-signature', error);
  }
  if (!signed) return refuse('bad-signature');

  return {
    der,
    subjectPublicKeyInfo: new Uint8Array(csr.subjectPublicKeyInfo.toSchema().toBER()),
    keyKind: key.kind,
    ...(key.rsaModulusBits === undefined ? {} : { rsaModulusBits: key.rsaModulusBits }),
  };
}

/** PEM (with the given label, or none) or bare base64 → bytes; undefined when it is neither. */
export function decodePemOrBase64(text: string, label: string): Uint8Array | undefined {
  let body = text.trim();
  const pem = /^-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----$/.exec(body);
  if (pem) {
    if (pem[1] !== label && !(label === 'CERTIFICATE REQUEST' && pem[1] === 'NEW CERTIFICATE REQUEST')) return undefined;
    body = pem[2]!;
  }
  body = body.replace(/\s+/g, '');
  if (body.length === 0 || body.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return undefined;
  return new Uint8Array(Buffer.from(body, 'base64'));
}

export interface CreateCsrOptions {
  /** Subject to request; the server ignores it (it sets its own). Default `CN=KFRM App`. */
  subject?: string;
  /** Hash for the CSR signature (default SHA-256). */
  hash?: 'SHA-256' | 'SHA-384' | 'SHA-512';
  /** Extensions to request; the server ignores them too. For tests of exactly that. */
  extensions?: x509.Extension[];
}

/**
 * App side: a PKCS#10 CSR for an EC P-256 (ECDSA) or RSA (RSASSA-PKCS1-v1_5) key pair, as a
 * phone SDK would make it. Returns DER, base64 and PEM.
 */
export async function createCsr(
  keyPair: CryptoKeyPair,
  options: CreateCsrOptions = {},
): Promise<{ der: Uint8Array; base64: string; pem: string }> {
  const hash = options.hash ?? 'SHA-256';
  const algorithm = keyPair.privateKey.algorithm.name;
  let signingAlgorithm: { name: string; hash: string };
  if (algorithm === 'ECDSA') signingAlgorithm = { name: 'ECDSA', hash };
  else if (algorithm === 'RSASSA-PKCS1-v1_5')
    signingAlgorithm = { name: algorithm, hash: (keyPair.privateKey.algorithm as WebCrypto.RsaHashedKeyAlgorithm).hash.name };
  else throw new TypeError(`createCsr supports ECDSA and RSASSA-PKCS1-v1_5 keys, not ${algorithm}`);
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    name: options.subject ?? 'CN=KFRM App',
    keys: keyPair,
    signingAlgorithm,
    ...(options.extensions ? { extensions: options.extensions } : {}),
  });
  const der = new Uint8Array(request.rawData);
  return { der, base64: Buffer.from(der).toString('base64'), pem: toPem('CERTIFICATE REQUEST', der) };
}
