import { constants as cryptoConstants, createHash, createPublicKey, type KeyObject, verify as cryptoVerify } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { webcrypto as WebCrypto } from 'node:crypto';
import { webcrypto, x509 } from '../crypto-provider';
import { verifyIssuedBy, type CertificateRejection } from '../verify-certificate';
import {
  checkPublicKey,
  HASH_BY_OID,
  isAllowedSignatureAlgorithm,
  OID,
  type HashName,
  type KeyKind,
  type KeyRejection,
} from './algorithms';
import {
  childrenOf,
  type CmsAttribute,
  content,
  oidString,
  readContentInfo,
  readSignedData,
  readSignerInfo,
  readTlv,
  type SignerIdentifier,
  type Tlv,
  whole,
} from './cms-structure';
import { writeSignedData } from './cms-writer';
import { decodePemOrBase64 } from './csr';
import { checkDerStructure } from './der';

/**
 * A fresh ArrayBuffer holding exactly these bytes. `buffer.slice()` is not enough: on a Node
 * Buffer, `slice()` is a view into the shared pool, so `.buffer` would be the whole pool.
 */
function exactArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return Uint8Array.prototype.slice.call(bytes).buffer as ArrayBuffer;
}
import { pkiEngine } from './engine';

type CryptoKey = WebCrypto.CryptoKey;

// ---------------------------------------------------------------------------------------------
// App side: producing CMS SignedData
// ---------------------------------------------------------------------------------------------

export interface SignDataParams {
  content: Uint8Array;
  /** The signer's certificate (DER); embedded in the SignedData and named as its signer. */
  certificateDer: Uint8Array;
  privateKey: CryptoKey;
  /** true: the content is left out (the verifier supplies it); false: it is encapsulated. */
  detached: boolean;
  /** Digest for messageDigest (default: the RSA key's own hash, else SHA-256). */
  hash?: HashName;
  signingTime?: Date;
}

/**
 * Test-only deviations from a correct SignedData, so the verifier's refusals can be shown on
 * real, correctly signed structures. Not exported from the package index.
 */
export interface SignedDataOverrides {
  /** Put this value in the messageDigest attribute instead of the content's digest. */
  messageDigest?: Uint8Array;
  /** Leave out the signed attributes (sign the content directly). */
  omitSignedAttributes?: boolean;
  /** Identify the signer by subjectKeyIdentifier instead of issuer and serial number. */
  subjectKeyIdentifierSid?: boolean;
  /** Add further signers (each with its own SignerInfo and certificate). */
  extraSigners?: { certificateDer: Uint8Array; privateKey: CryptoKey }[];
  /** Embed these certificates instead of the signer's own. */
  embeddedCertificates?: Uint8Array[];
}

/**
 * CMS SignedData (RFC 5652) as a phone SDK produces it: one SignerInfo identified by issuer and
 * serial number, the signer's certificate embedded, signed attributes contentType (id-data),
 * messageDigest and signingTime, content attached or detached. Returns the ContentInfo DER.
 */
export async function signData(params: SignDataParams): Promise<{ der: Uint8Array; base64: string }> {
  // Written directly for the keys a phone has (cms-writer.ts); pkijs builds any other.
  const der = writeSignedData({
    content: params.content,
    certificateDer: params.certificateDer,
    privateKey: params.privateKey,
    detached: params.detached,
    hash: params.hash ?? keyHash(params.privateKey) ?? 'SHA-256',
    signingTime: params.signingTime ?? new Date(),
  });
  if (der) return { der, base64: Buffer.from(der).toString('base64') };
  return buildSignedData(params, {});
}

export async function buildSignedData(
  params: SignDataParams,
  overrides: SignedDataOverrides,
): Promise<{ der: Uint8Array; base64: string }> {
  const signers = [{ certificateDer: params.certificateDer, privateKey: params.privateKey }, ...(overrides.extraSigners ?? [])];
  // Each signer's certificate is parsed once: it is embedded and names its signer (ASN.1 parsing
  // in JavaScript is most of what a signature costs the phone besides the key operation).
  const parsedSigners = signers.map((s) => pkijs.Certificate.fromBER(s.certificateDer));
  const certificates = overrides.embeddedCertificates
    ? overrides.embeddedCertificates.map((der) => pkijs.Certificate.fromBER(der))
    : parsedSigners;
  const signedData = new pkijs.SignedData({
    version: overrides.subjectKeyIdentifierSid ? 3 : 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({
      eContentType: OID.data,
      ...(params.detached ? {} : { eContent: new asn1js.OctetString({ valueHex: params.content }) }),
    }),
    signerInfos: [],
    certificates,
  });
  for (const [index, signer] of signers.entries()) {
    const certificate = parsedSigners[index]!;
    const hash = params.hash ?? keyHash(signer.privateKey) ?? 'SHA-256';
    const digest = overrides.messageDigest ?? new Uint8Array(await webcrypto.subtle.digest(hash, params.content));
    signedData.signerInfos.push(
      new pkijs.SignerInfo({
        version: overrides.subjectKeyIdentifierSid ? 3 : 1,
        sid: overrides.subjectKeyIdentifierSid
          ? new asn1js.Primitive({
              idBlock: { tagClass: 3, tagNumber: 0 },
              valueHex: await webcrypto.subtle.digest('SHA-1', certificate.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView),
            })
          : new pkijs.IssuerAndSerialNumber({ issuer: certificate.issuer, serialNumber: certificate.serialNumber }),
        ...(overrides.omitSignedAttributes
          ? {}
          : {
              signedAttrs: new pkijs.SignedAndUnsignedAttributes({
                type: 0,
                attributes: [
                  new pkijs.Attribute({ type: OID.contentTypeAttribute, values: [new asn1js.ObjectIdentifier({ value: OID.data })] }),
                  new pkijs.Attribute({ type: OID.messageDigestAttribute, values: [new asn1js.OctetString({ valueHex: digest })] }),
                  new pkijs.Attribute({
                    type: OID.signingTimeAttribute,
                    values: [new asn1js.UTCTime({ valueDate: params.signingTime ?? new Date() })],
                  }),
                ],
              }),
            }),
      }),
    );
    await signedData.sign(signer.privateKey, index, hash, exactArrayBuffer(params.content), pkiEngine);
  }
  const contentInfo = new pkijs.ContentInfo({ contentType: OID.signedData, content: signedData.toSchema(true) });
  const der = new Uint8Array(contentInfo.toSchema().toBER());
  return { der, base64: Buffer.from(der).toString('base64') };
}

function keyHash(key: CryptoKey): HashName | undefined {
  const hash = (key.algorithm as Partial<WebCrypto.RsaHashedKeyAlgorithm>).hash?.name;
  return hash === 'SHA-256' || hash === 'SHA-384' || hash === 'SHA-512' ? hash : undefined;
}

// ---------------------------------------------------------------------------------------------
// Server side: verifying CMS SignedData
// ---------------------------------------------------------------------------------------------

/** Largest SignedData accepted (base64 characters), content included when attached. */
export const MAX_SIGNED_DATA_BASE64_LENGTH = 1024 * 1024;
/** SignedData with a certificate nests ~12 levels; 40 is generous and still refuses bombs. */
const MAX_SIGNED_DATA_DEPTH = 40;

/** Internal detail of a refusal, for logs and tests only. Outwardly every refusal is the same. */
export type SignedDataRejection =
  | 'empty-content'
  | 'too-large'
  | 'not-base64'
  | 'malformed-der'
  | 'too-deep'
  | 'unparseable'
  | 'not-signed-data'
  | 'signer-count'
  | 'content-type'
  | 'content-mismatch'
  | 'signing-ca-not-a-ca'
  | 'signing-ca-not-valid'
  | 'trusted-signer-unparseable'
  | `signer-certificate-${CertificateRejection}`
  | 'signer-key-usage'
  | `signer-key-${KeyRejection}`
  | 'signer-id-mismatch'
  | 'embedded-certificate-mismatch'
  | 'digest-algorithm-not-allowed'
  | 'signature-algorithm-not-allowed'
  | 'signed-attributes-missing'
  | 'signed-attributes-malformed'
  | 'content-type-attribute'
  | 'message-digest-mismatch'
  | 'bad-signature';

export type SignedDataVerification =
  | { ok: true; signerSerialNumber: string; digestAlgorithm: HashName; signingTime?: Date }
  | { ok: false; detail: SignedDataRejection };

export interface VerifySignedDataParams {
  /** base64 (or PEM) of a CMS ContentInfo carrying SignedData, content attached or detached. */
  signedData: string;
  /** The exact bytes the signature must cover. */
  expectedContent: Uint8Array;
  /** The user's active signing certificate (DER); the caller has already checked revocation. */
  trustedSigner: Uint8Array;
  /** Our signing CA. */
  signingCa: x509.X509Certificate;
  now?: Date;
  /**
   * The extended key usage the signer's certificate must carry: our document-signing EKU by
   * default; null for signers another CA issues with its own profile (kakaoCert consents).
   */
  signerExtendedKeyUsage?: string | null;
}

/**
 * Verifies that `signedData` is a signature by exactly `trustedSigner`, issued by our signing CA
 * and valid at `now`, over exactly `expectedContent`. Returns a result instead of throwing; a
 * refusal carries only an internal `detail`, and callers map every refusal to one outward code.
 */
export async function verifySignedData(params: VerifySignedDataParams): Promise<SignedDataVerification> {
  try {
    return await verify(params);
  } catch {
    // Every expected refusal returns from verify(); anything thrown is a structure asn1js/pkijs
    // could not map (for example well-formed DER that is not a ContentInfo). Fail closed.
    return { ok: false, detail: 'unparseable' };
  }
}

async function verify(params: VerifySignedDataParams): Promise<SignedDataVerification> {
  const refuse = (detail: SignedDataRejection): SignedDataVerification => ({ ok: false, detail });
  const now = params.now ?? new Date();
  const expected = params.expectedContent;
  if (!(expected instanceof Uint8Array) || expected.length === 0) return refuse('empty-content');

  // 1. Our own CA must be a CA in date; a misconfigured leaf "CA" must not vouch for anything.
  const ca = params.signingCa;
  const caId = createHash('sha256').update(new Uint8Array(ca.rawData)).digest('base64');
  if (!isCertificateAuthority(ca, caId)) return refuse('signing-ca-not-a-ca');
  if (now < ca.notBefore || now > ca.notAfter) return refuse('signing-ca-not-valid');

  // 2. Bounded decoding: size, then structure and depth, before anything walks the bytes. The
  //    walk itself is positional (cms-structure.ts): asn1js + pkijs object building was ≈ 2.8 ms
  //    of CPU per transfer for what is ≈ 30–60 µs of signature work (bench/cms-verify.ts).
  if (typeof params.signedData !== 'string' || params.signedData.length > MAX_SIGNED_DATA_BASE64_LENGTH) return refuse('too-large');
  const der = decodePemOrBase64(params.signedData, 'CMS') ?? decodePemOrBase64(params.signedData, 'PKCS7');
  if (!der) return refuse('not-base64');
  const structure = checkDerStructure(der, { maxDepth: MAX_SIGNED_DATA_DEPTH, allowIndefiniteLength: true });
  if (!structure.ok) return refuse(structure.problem === 'too-deep' ? 'too-deep' : 'malformed-der');
  const contentInfo = readContentInfo(der);
  if (!contentInfo) return refuse('unparseable');
  if (contentInfo.contentType !== OID.signedData) return refuse('not-signed-data');
  const signedData = readSignedData(der, contentInfo.content);
  if (!signedData) return refuse('unparseable');

  // 3. Exactly one signer, over id-data, with the encapsulated content (if any) byte-equal.
  if (signedData.signerInfos.length !== 1) return refuse('signer-count');
  const signerInfo = readSignerInfo(der, signedData.signerInfos[0]!);
  if (!signerInfo) return refuse('unparseable');
  if (signedData.eContentType !== OID.data) return refuse('content-type');
  const eContent = signedData.eContent;
  if (eContent !== undefined && (eContent === 'not-octets' || !bytesEqual(eContent, expected))) return refuse('content-mismatch');

  // 4. The signer certificate is the caller's: the user's active one, from our CA, in date, not a
  //    CA, with our EKU and a signing key usage, and a key we accept (RSA e = 65537 included).
  const eku = params.signerExtendedKeyUsage === undefined ? OID.documentSigningEku : params.signerExtendedKeyUsage;
  const signer = await checkTrustedSigner(params.trustedSigner, ca, caId, now, eku);
  if (!signer.ok) return refuse(signer.detail);

  // 5. The SignerInfo must name that certificate, and any embedded copy of it must be byte-equal
  //    (a look-alike from another CA with the same issuer name and serial is refused here).
  if (!(await sidNamesSigner(der, signerInfo.sid, signer))) return refuse('signer-id-mismatch');
  let pkijsSid: pkijs.SignerInfo['sid'] | undefined;
  for (const entry of signedData.certificates) {
    const raw = whole(der, entry);
    // The trusted certificate itself (what our app embeds) can be no look-alike: not parsed at all.
    if (bytesEqual(raw, params.trustedSigner)) continue;
    const embedded = embeddedX509(raw, entry);
    if (embedded === 'other-format') continue; // attribute and other certificates cannot name the signer
    if (!embedded) return refuse('unparseable');
    pkijsSid ??= toPkijsSid(der, signerInfo.sid);
    if (await sidMatches(pkijsSid, embedded)) return refuse('embedded-certificate-mismatch');
  }

  // 6. Algorithms from the allow-list only.
  const digestAlgorithm = HASH_BY_OID[signerInfo.digestAlgorithm];
  if (!digestAlgorithm) return refuse('digest-algorithm-not-allowed');
  const scheme = signatureScheme(signerInfo.signatureAlgorithm, signer.key.kind, digestAlgorithm);
  if (!scheme) return refuse('signature-algorithm-not-allowed');

  // 7. Signed attributes are required: without them the signature would cover only the content,
  //    with no content type binding. contentType must be id-data and messageDigest must be the
  //    digest of the expected content.
  const attributes = signerInfo.signedAttributes;
  if (!attributes || attributes.length === 0 || !signerInfo.signedAttributesTlv) return refuse('signed-attributes-missing');
  const byType = new Map<string, CmsAttribute>();
  for (const attribute of attributes) {
    if (byType.has(attribute.type)) return refuse('signed-attributes-malformed'); // RFC 5652: each type once
    byType.set(attribute.type, attribute);
  }
  const contentType = byType.get(OID.contentTypeAttribute);
  const contentTypeValue = contentType?.values.length === 1 ? contentType.values[0] : undefined;
  if (!isPrimitive(contentTypeValue, OBJECT_IDENTIFIER_TAG) || oidString(content(der, contentTypeValue)) !== OID.data)
    return refuse('content-type-attribute');
  const messageDigest = byType.get(OID.messageDigestAttribute);
  const messageDigestValue = messageDigest?.values.length === 1 ? messageDigest.values[0] : undefined;
  if (!isPrimitive(messageDigestValue, OCTET_STRING_TAG)) return refuse('signed-attributes-malformed');
  const digest = createHash(NODE_HASH[digestAlgorithm]).update(expected).digest();
  if (!bytesEqual(content(der, messageDigestValue), digest)) return refuse('message-digest-mismatch');
  const signingTime = readSigningTime(der, byType.get(OID.signingTimeAttribute));
  if (signingTime === null) return refuse('signed-attributes-malformed');

  // 8. The signature, with the trusted certificate's key only, over the signed attributes as
  //    received with their [0] IMPLICIT tag read as SET OF (RFC 5652 §5.4).
  const signedAttributes = Buffer.from(whole(der, signerInfo.signedAttributesTlv));
  signedAttributes[0] = 0x31;
  if (!verifySignature(scheme, signer.publicKey, signedAttributes, signerInfo.signature)) return refuse('bad-signature');

  return {
    ok: true,
    signerSerialNumber: signer.certificate.serialNumber.toLowerCase(),
    digestAlgorithm,
    ...(signingTime ? { signingTime } : {}),
  };
}

const OBJECT_IDENTIFIER_TAG = 6;
const OCTET_STRING_TAG = 4;
const isPrimitive = (t: Tlv | undefined, universalTag: number): t is Tlv =>
  t !== undefined && t.cls === 0 && t.tag === universalTag && !t.constructed;

const NODE_HASH: Readonly<Record<HashName, string>> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/** How node:crypto is to check the signature: the hash and padding pkijs's engine would use. */
type SignatureScheme = { kind: 'pkcs1' | 'ecdsa'; hash: string } | { kind: 'pss'; hash: string; saltLength: number };

/**
 * Allow-list decisions (algorithms.ts) by the signatureAlgorithm's bytes, key kind and digest:
 * the same dozen-byte AlgorithmIdentifier on every transfer, and building it as a pkijs object
 * to ask the allow-list cost more than the signature. A pure function of the key, so caching is
 * safe; bounded against a client sending a new one each time.
 */
const signatureSchemes = new Map<string, SignatureScheme | null>();
const MAX_SIGNATURE_SCHEMES = 64;

function signatureScheme(algorithm: Uint8Array, kind: KeyKind, digest: HashName): SignatureScheme | undefined {
  const id = `${kind}|${digest}|${Buffer.from(algorithm.buffer, algorithm.byteOffset, algorithm.byteLength).toString('hex')}`;
  let scheme = signatureSchemes.get(id);
  if (scheme === undefined) {
    scheme = allowedScheme(algorithm, kind, digest);
    if (signatureSchemes.size >= MAX_SIGNATURE_SCHEMES) signatureSchemes.delete(signatureSchemes.keys().next().value!);
    signatureSchemes.set(id, scheme);
  }
  return scheme ?? undefined;
}

function allowedScheme(algorithm: Uint8Array, kind: KeyKind, digest: HashName): SignatureScheme | null {
  const parsed = asn1js.fromBER(algorithm.slice());
  if (parsed.offset !== algorithm.length) return null;
  let identifier: pkijs.AlgorithmIdentifier;
  try {
    identifier = new pkijs.AlgorithmIdentifier({ schema: parsed.result });
  } catch {
    return null;
  }
  if (!isAllowedSignatureAlgorithm(identifier, kind, digest)) return null;
  // The hash as pkijs's engine took it: from the signature algorithm, except for the bare
  // rsaEncryption label (the digest algorithm's) and RSA-PSS (its parameters').
  switch (identifier.algorithmId) {
    case OID.ecdsaWithSha256:
    case OID.ecdsaWithSha384:
    case OID.ecdsaWithSha512:
      return { kind: 'ecdsa', hash: NODE_HASH[SIGNATURE_HASH[identifier.algorithmId]!] };
    case OID.sha256WithRsa:
    case OID.sha384WithRsa:
    case OID.sha512WithRsa:
      return { kind: 'pkcs1', hash: NODE_HASH[SIGNATURE_HASH[identifier.algorithmId]!] };
    case OID.rsaEncryption:
      return { kind: 'pkcs1', hash: NODE_HASH[digest] };
    case OID.rsassaPss: {
      const pss = new pkijs.RSASSAPSSParams({ schema: identifier.algorithmParams });
      const hash = HASH_BY_OID[pss.hashAlgorithm.algorithmId];
      return hash ? { kind: 'pss', hash: NODE_HASH[hash], saltLength: pss.saltLength } : null;
    }
    default:
      return null;
  }
}

const SIGNATURE_HASH: Readonly<Record<string, HashName>> = {
  [OID.ecdsaWithSha256]: 'SHA-256',
  [OID.ecdsaWithSha384]: 'SHA-384',
  [OID.ecdsaWithSha512]: 'SHA-512',
  [OID.sha256WithRsa]: 'SHA-256',
  [OID.sha384WithRsa]: 'SHA-384',
  [OID.sha512WithRsa]: 'SHA-512',
};

function verifySignature(scheme: SignatureScheme, key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (scheme.kind === 'ecdsa') {
      const p1363 = ecdsaSignatureFromCms(signature, P256_SIZE);
      return p1363 !== undefined && cryptoVerify(scheme.hash, data, { key, dsaEncoding: 'ieee-p1363' }, p1363);
    }
    if (scheme.kind === 'pss') {
      return cryptoVerify(
        scheme.hash,
        data,
        { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength },
        signature,
      );
    }
    return cryptoVerify(scheme.hash, data, key, signature);
  } catch {
    return false;
  }
}

const P256_SIZE = 32;

/**
 * ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } to r‖s, leniently in the ways pkijs was
 * (one leading zero dropped per integer, bytes after the SEQUENCE ignored), so a signature the
 * pkijs path accepted still verifies; undefined where pkijs's conversion failed.
 */
function ecdsaSignatureFromCms(signature: Uint8Array, size: number): Uint8Array | undefined {
  const sequence = readTlv(signature, 0, signature.length);
  if (sequence?.cls !== 0 || sequence.tag !== 16 || !sequence.constructed) return undefined;
  const parts = childrenOf(signature, sequence);
  if (parts?.length !== 2) return undefined;
  const out = new Uint8Array(2 * size);
  for (const [index, part] of parts.entries()) {
    if (!isPrimitive(part, 2)) return undefined;
    let value = content(signature, part);
    if (value[0] === 0) value = value.subarray(1);
    if (value.length > size) return undefined;
    out.set(value, (index + 1) * size - value.length);
  }
  return out;
}

interface TrustedSigner {
  trusted: pkijs.Certificate;
  certificate: x509.X509Certificate;
  key: Extract<Awaited<ReturnType<typeof checkPublicKey>>, { ok: true }>;
  /**
   * What each call compares and verifies with, derived once: the issuer Name's DER and the serial
   * INTEGER's contents (an issuerAndSerialNumber sid), the SHA-1 of the key bits (a
   * subjectKeyIdentifier sid, RFC 5280 method 1) and the key imported for node:crypto.
   */
  issuer: Uint8Array;
  serial: Uint8Array;
  keyId: Uint8Array;
  publicKey: KeyObject;
}

/**
 * The checks of step 4 that do not depend on the time — parsing, our CA's signature, not a CA,
 * EKU, key usage, key — passed once per certificate and CA, by the SHA-256 of both. They
 * were about a third of a transfer's signature check (ASN.1 in JavaScript and a signature
 * verify), and a user signs every transfer with the same certificate. Only passes are kept; the
 * validity period is checked on every call, and revocation is the caller's (it passes the
 * user's active certificate). Bounded: the oldest entries go first.
 */
// Keyed by the bytes of the CA and of the certificate, not by object: callers parse the CA per
// call (the user service reads it with the active certificate), so an object key never hit.
const passedSignerChecks = new Map<string, TrustedSigner>();
const MAX_PASSED_SIGNER_CHECKS = 10_000;

/**
 * Step 1's time-independent part (basic constraints cA, keyCertSign when key usage is present),
 * remembered by the SHA-256 of the CA's bytes: reading the extensions was about an eighth of a
 * transfer's signature check, for the same CA every time. Both answers are kept (a handful of CAs).
 */
const caChecks = new Map<string, boolean>();
const MAX_CA_CHECKS = 64;

function isCertificateAuthority(ca: x509.X509Certificate, caId: string): boolean {
  const known = caChecks.get(caId);
  if (known !== undefined) return known;
  const constraints = ca.getExtension(x509.BasicConstraintsExtension);
  const usage = ca.getExtension(x509.KeyUsagesExtension);
  const isCa = constraints?.ca === true && !(usage && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0);
  if (caChecks.size >= MAX_CA_CHECKS) caChecks.delete(caChecks.keys().next().value!);
  caChecks.set(caId, isCa);
  return isCa;
}

async function checkTrustedSigner(
  der: Uint8Array,
  ca: x509.X509Certificate,
  caId: string,
  now: Date,
  requiredExtendedKeyUsage: string | null,
): Promise<({ ok: true } & TrustedSigner) | { ok: false; detail: SignedDataRejection }> {
  const id = `${caId}|${createHash('sha256').update(der).digest('base64')}|${requiredExtendedKeyUsage ?? ''}`;
  const known = passedSignerChecks.get(id);
  if (known) {
    if (now < known.certificate.notBefore) return { ok: false, detail: 'signer-certificate-not-yet-valid' };
    if (now > known.certificate.notAfter) return { ok: false, detail: 'signer-certificate-expired' };
    return { ok: true, ...known };
  }
  let trusted: pkijs.Certificate;
  try {
    trusted = pkijs.Certificate.fromBER(der);
  } catch {
    return { ok: false, detail: 'trusted-signer-unparseable' };
  }
  const chain = await verifyIssuedBy(der, ca, { now, ...(requiredExtendedKeyUsage ? { requiredExtendedKeyUsage } : {}) });
  if (!chain.ok) return { ok: false, detail: `signer-certificate-${chain.reason}` };
  const usage = chain.certificate.getExtension(x509.KeyUsagesExtension);
  if (!usage || (usage.usages & (x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation)) === 0)
    return { ok: false, detail: 'signer-key-usage' };
  const key = await checkPublicKey(trusted.subjectPublicKeyInfo);
  if (!key.ok) return { ok: false, detail: `signer-key-${key.reason}` };
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(chain.certificate.publicKey.rawData), format: 'der', type: 'spki' });
  } catch {
    return { ok: false, detail: 'trusted-signer-unparseable' };
  }
  const entry: TrustedSigner = {
    trusted,
    certificate: chain.certificate,
    key,
    issuer: new Uint8Array(trusted.issuer.valueBeforeDecode),
    serial: trusted.serialNumber.valueBlock.valueHexView.slice(),
    keyId: createHash('sha1').update(trusted.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView).digest(),
    publicKey,
  };
  if (passedSignerChecks.size >= MAX_PASSED_SIGNER_CHECKS) passedSignerChecks.delete(passedSignerChecks.keys().next().value!);
  passedSignerChecks.set(id, entry);
  return { ok: true, ...entry };
}

async function sidMatches(sid: pkijs.SignerInfo['sid'], certificate: pkijs.Certificate): Promise<boolean> {
  if (sid instanceof pkijs.IssuerAndSerialNumber) {
    return sid.issuer.isEqual(certificate.issuer) && sid.serialNumber.isEqual(certificate.serialNumber);
  }
  // [0] SubjectKeyIdentifier: compared the way pkijs finds the certificate (SHA-1 of the key
  // bits, RFC 5280 method 1), which is also how our issued certificates' SKI is made.
  const block = sid as asn1js.BaseBlock<asn1js.ValueBlock> & { valueBlock: { valueHexView?: Uint8Array; value?: asn1js.BaseBlock[] } };
  if (!(block instanceof asn1js.BaseBlock) || block.idBlock.tagClass !== 3 || block.idBlock.tagNumber !== 0) return false;
  const keyId = block.idBlock.isConstructed
    ? (block.valueBlock.value?.[0] as asn1js.OctetString | undefined)?.valueBlock.valueHexView
    : block.valueBlock.valueHexView;
  if (!keyId) return false;
  const own = new Uint8Array(
    await webcrypto.subtle.digest('SHA-1', certificate.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView),
  );
  return bytesEqual(keyId, own);
}

/**
 * Whether the sid names the trusted signer: by bytes for the forms phones send, else (the same
 * issuer name encoded differently, a constructed [0]) by the pkijs comparison used before.
 */
async function sidNamesSigner(der: Uint8Array, sid: SignerIdentifier, signer: TrustedSigner): Promise<boolean> {
  if (sid.kind === 'issuer-serial') {
    if (!bytesEqual(sid.serial, signer.serial)) return false;
    if (bytesEqual(sid.issuer, signer.issuer)) return true;
  } else if (sid.kind === 'key-id') {
    return bytesEqual(sid.keyId, signer.keyId);
  }
  return sidMatches(toPkijsSid(der, sid), signer.trusted);
}

/** The sid as pkijs's SignerInfo held it, for the rarer comparisons. Throws when pkijs would. */
function toPkijsSid(der: Uint8Array, sid: SignerIdentifier): pkijs.SignerInfo['sid'] {
  const bytes = whole(der, sid.tlv).slice();
  const parsed = asn1js.fromBER(bytes);
  if (parsed.offset !== bytes.length) throw new Error('unparseable signer identifier');
  return sid.kind === 'issuer-serial' ? new pkijs.IssuerAndSerialNumber({ schema: parsed.result }) : parsed.result;
}

/**
 * An embedded certificate other than the trusted one: an X.509 certificate as pkijs reads it,
 * 'other-format' for the CertificateChoices alternatives ([0]–[3]), undefined when it is neither
 * (pkijs's SignedData refused those whole, so they still are).
 */
function embeddedX509(raw: Uint8Array, entry: Tlv): pkijs.Certificate | 'other-format' | undefined {
  if (entry.cls === 2 && entry.constructed && entry.tag <= 3) return 'other-format';
  if (entry.cls !== 0) return undefined;
  try {
    return pkijs.Certificate.fromBER(raw.slice());
  } catch {
    return undefined;
  }
}

/** undefined when absent; null when present but not a single UTCTime/GeneralizedTime. */
function readSigningTime(der: Uint8Array, attribute: CmsAttribute | undefined): Date | undefined | null {
  if (!attribute) return undefined;
  if (attribute.values.length !== 1) return null;
  const time = attribute.values[0]!;
  const utc = canonicalUtcTime(der, time);
  if (utc) return utc;
  // Other forms through asn1js, so they read exactly as before.
  const bytes = whole(der, time).slice();
  const parsed = asn1js.fromBER(bytes);
  const value = parsed.offset === bytes.length ? parsed.result : undefined;
  if (value instanceof asn1js.UTCTime || value instanceof asn1js.GeneralizedTime) {
    const date = value.toDate();
    return Number.isNaN(date.getTime()) ? null : date;
  }
  return null;
}

/**
 * UTCTime as phones write it, YYMMDDHHMMSSZ, read the way asn1js reads it (YY < 50 is 20YY):
 * parsing this value through asn1js was a tenth of what was left of a verify.
 */
function canonicalUtcTime(der: Uint8Array, t: Tlv): Date | undefined {
  if (!isPrimitive(t, UTC_TIME_TAG) || t.contentEnd - t.contentStart !== 13 || der[t.contentStart + 12] !== 0x5a) return undefined;
  const pairs: number[] = [];
  for (let i = t.contentStart; i < t.contentStart + 12; i += 2) {
    const hi = der[i]! - 0x30;
    const lo = der[i + 1]! - 0x30;
    if (hi < 0 || hi > 9 || lo < 0 || lo > 9) return undefined;
    pairs.push(hi * 10 + lo);
  }
  const [yy, month, day, hour, minute, second] = pairs as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(yy >= 50 ? 1900 + yy : 2000 + yy, month - 1, day, hour, minute, second));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

const UTC_TIME_TAG = 23;

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The embedded certificate (DER) the SignedData's single SignerInfo names, for signers whose
 * certificate we do not hold beforehand (a kakaoCert consent is signed with the user's own
 * certificate). undefined when the structure is unreadable, there is not exactly one signer, or
 * no embedded certificate matches. Selecting it proves nothing: `verifySignedData` must then check
 * it chains to the trust anchor and that it made the signature.
 */
export async function embeddedSignerCertificate(signedDataBase64: string): Promise<Uint8Array | undefined> {
  try {
    if (typeof signedDataBase64 !== 'string' || signedDataBase64.length > MAX_SIGNED_DATA_BASE64_LENGTH) return undefined;
    const der = decodePemOrBase64(signedDataBase64, 'CMS') ?? decodePemOrBase64(signedDataBase64, 'PKCS7');
    if (!der) return undefined;
    const structure = checkDerStructure(der, { maxDepth: MAX_SIGNED_DATA_DEPTH, allowIndefiniteLength: true });
    if (!structure.ok) return undefined;
    const contentInfo = readContentInfo(der);
    if (!contentInfo || contentInfo.contentType !== OID.signedData) return undefined;
    const signedData = readSignedData(der, contentInfo.content);
    if (signedData?.signerInfos.length !== 1) return undefined;
    const signerInfo = readSignerInfo(der, signedData.signerInfos[0]!);
    if (!signerInfo) return undefined;
    let sid: pkijs.SignerInfo['sid'] | undefined;
    for (const entry of signedData.certificates) {
      const raw = whole(der, entry).slice();
      const certificate = embeddedX509(raw, entry);
      if (certificate === 'other-format') continue;
      if (!certificate) return undefined;
      sid ??= toPkijsSid(der, signerInfo.sid);
      if (await sidMatches(sid, certificate)) return raw;
    }
    return undefined;
  } catch {
    return undefined;
  }
}
