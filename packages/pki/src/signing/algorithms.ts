import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { webcrypto } from '../crypto-provider';

/**
 * The keys and algorithms signing certificates may use: what phones make (EC P-256 in the
 * Secure Enclave / Android Keystore, RSA 2048+ elsewhere) and nothing weaker. One module so the
 * CSR check, issuance and signature verification cannot drift apart.
 */
export const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  p256: '1.2.840.10045.3.1.7',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  mgf1: '1.2.840.113549.1.1.8',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentTypeAttribute: '1.2.840.113549.1.9.3',
  messageDigestAttribute: '1.2.840.113549.1.9.4',
  signingTimeAttribute: '1.2.840.113549.1.9.5',
  /** id-kp-documentSigning (RFC 9336): the EKU our signing certificates carry. */
  documentSigningEku: '1.3.6.1.5.5.7.3.36',
} as const;

export type HashName = 'SHA-256' | 'SHA-384' | 'SHA-512';

export const HASH_BY_OID: Readonly<Record<string, HashName>> = {
  [OID.sha256]: 'SHA-256',
  [OID.sha384]: 'SHA-384',
  [OID.sha512]: 'SHA-512',
};

export const HASH_OID: Readonly<Record<HashName, string>> = {
  'SHA-256': OID.sha256,
  'SHA-384': OID.sha384,
  'SHA-512': OID.sha512,
};

export type KeyKind = 'EC-P256' | 'RSA';

export type KeyRejection =
  | 'unsupported-key-type'
  | 'unsupported-curve'
  | 'invalid-ec-point'
  | 'unsupported-rsa-size'
  | 'unsupported-rsa-exponent'
  | 'invalid-rsa-key';

export type KeyCheck = { ok: true; kind: KeyKind; rsaModulusBits?: number } | { ok: false; reason: KeyRejection };

const RSA_SIZES = new Set([2048, 3072, 4096]);

/**
 * EC keys must be P-256 with a point on the curve (import refuses one that is not); RSA keys
 * must be rsaEncryption with a 2048/3072/4096-bit modulus and e = 65537 (small exponents invite
 * the e = 3 signature-forgery family of bugs; other sizes are not what phones make).
 */
export async function checkPublicKey(spki: pkijs.PublicKeyInfo): Promise<KeyCheck> {
  const algorithm = spki.algorithm.algorithmId;
  const keyBits = spki.subjectPublicKey.valueBlock;
  if (algorithm === OID.ecPublicKey) {
    const params = spki.algorithm.algorithmParams;
    if (!(params instanceof asn1js.ObjectIdentifier) || params.valueBlock.toString() !== OID.p256) {
      return { ok: false, reason: 'unsupported-curve' };
    }
    const point = keyBits.valueHexView;
    if (keyBits.unusedBits !== 0 || point.length !== 65 || point[0] !== 0x04) return { ok: false, reason: 'invalid-ec-point' };
    try {
      await webcrypto.subtle.importKey('raw', point, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
    } catch {
      return { ok: false, reason: 'invalid-ec-point' };
    }
    return { ok: true, kind: 'EC-P256' };
  }
  if (algorithm === OID.rsaEncryption) {
    const params = spki.algorithm.algorithmParams;
    if (params !== undefined && !(params instanceof asn1js.Null)) return { ok: false, reason: 'invalid-rsa-key' };
    if (keyBits.unusedBits !== 0) return { ok: false, reason: 'invalid-rsa-key' };
    const parsed = asn1js.fromBER(keyBits.valueHexView);
    if (parsed.offset !== keyBits.valueHexView.length || !(parsed.result instanceof asn1js.Sequence)) {
      return { ok: false, reason: 'invalid-rsa-key' };
    }
    const [modulus, exponent, ...rest] = parsed.result.valueBlock.value;
    if (!(modulus instanceof asn1js.Integer) || !(exponent instanceof asn1js.Integer) || rest.length > 0) {
      return { ok: false, reason: 'invalid-rsa-key' };
    }
    const n = stripLeadingZeros(modulus.valueBlock.valueHexView);
    if (modulus.valueBlock.valueHexView[0]! & 0x80 || n.length === 0 || (n[n.length - 1]! & 1) === 0) {
      return { ok: false, reason: 'invalid-rsa-key' }; // negative or even modulus
    }
    const bits = (n.length - 1) * 8 + bitLength(n[0]!);
    if (!RSA_SIZES.has(bits)) return { ok: false, reason: 'unsupported-rsa-size' };
    const e = stripLeadingZeros(exponent.valueBlock.valueHexView);
    if (e.length !== 3 || e[0] !== 0x01 || e[1] !== 0x00 || e[2] !== 0x01) return { ok: false, reason: 'unsupported-rsa-exponent' };
    return { ok: true, kind: 'RSA', rsaModulusBits: bits };
  }
  return { ok: false, reason: 'unsupported-key-type' };
}

function stripLeadingZeros(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

function bitLength(byte: number): number {
  let bits = 0;
  while (byte > 0) {
    bits++;
    byte >>= 1;
  }
  return bits;
}

/**
 * The signature algorithm allow-list: SHA-256/384/512 with RSA PKCS#1 v1.5, RSA-PSS (MGF1 with
 * the same hash) and ECDSA, each only with its own key type. `bareRsaHash` admits the
 * `rsaEncryption` OID as a signature algorithm with the digest algorithm's hash, which is how
 * OpenSSL and Bouncy Castle label PKCS#1 v1.5 in CMS SignerInfos (never in a CSR).
 */
export function isAllowedSignatureAlgorithm(algorithm: pkijs.AlgorithmIdentifier, kind: KeyKind, bareRsaHash?: HashName): boolean {
  const id = algorithm.algorithmId;
  if (kind === 'EC-P256') {
    return (
      (id === OID.ecdsaWithSha256 || id === OID.ecdsaWithSha384 || id === OID.ecdsaWithSha512) && algorithm.algorithmParams === undefined
    );
  }
  if (id === OID.sha256WithRsa || id === OID.sha384WithRsa || id === OID.sha512WithRsa) {
    return algorithm.algorithmParams === undefined || algorithm.algorithmParams instanceof asn1js.Null;
  }
  if (id === OID.rsaEncryption) return bareRsaHash !== undefined;
  if (id === OID.rsassaPss) {
    try {
      const params = new pkijs.RSASSAPSSParams({ schema: algorithm.algorithmParams });
      const hash = HASH_BY_OID[params.hashAlgorithm.algorithmId];
      if (!hash || params.maskGenAlgorithm.algorithmId !== OID.mgf1) return false;
      const mgfHash = new pkijs.AlgorithmIdentifier({ schema: params.maskGenAlgorithm.algorithmParams });
      return mgfHash.algorithmId === params.hashAlgorithm.algorithmId && params.trailerField === 1 && params.saltLength >= 20;
    } catch {
      return false;
    }
  }
  return false;
}
