import * as pkijs from 'pkijs';
import type { webcrypto as WebCrypto } from 'node:crypto';
import { webcrypto, x509 } from '../crypto-provider';
import { toPem } from '../pem';
import { checkPublicKey, OID } from './algorithms';
import type { SigningCsr } from './csr';
import { SigningError, type IssuanceFailure } from './errors';

type CryptoKey = WebCrypto.CryptoKey;

const DAY_MS = 24 * 60 * 60 * 1000;
/** Longest validity issuance accepts; anything longer is a configuration mistake. */
export const MAX_SIGNING_VALIDITY_DAYS = 3650;
/** Subject names are built from the user id, so it must not be able to smuggle in RDNs. */
const USER_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** The EKU on every signing certificate: id-kp-documentSigning (RFC 9336). */
export const SIGNING_CERTIFICATE_EKU = OID.documentSigningEku;

export interface SigningCa {
  cert: x509.X509Certificate;
  privateKey: CryptoKey;
}

export interface IssueSigningCertificateParams {
  csr: SigningCsr;
  ca: SigningCa;
  userId: string;
  validityDays: number;
  now?: Date;
}

export interface IssuedSigningCertificate {
  der: Uint8Array;
  base64: string;
  pem: string;
  /** Lower-case hex, as in the certificate (no sign byte). */
  serialNumber: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * Issues the user's signing certificate for the public key in an already-checked CSR. Only the
 * public key is taken from the CSR: subject, serial, validity and every extension are the
 * server's, so a CSR asking for `cA=true`, extra names or another subject gets none of it.
 * Failures throw `SigningError('SIGNING_CERTIFICATE_ISSUANCE_FAILED', reason)`.
 */
export async function issueSigningCertificate(params: IssueSigningCertificateParams): Promise<IssuedSigningCertificate> {
  const fail = (reason: IssuanceFailure, cause?: unknown): never => {
    throw new SigningError('SIGNING_CERTIFICATE_ISSUANCE_FAILED', reason, cause === undefined ? undefined : { cause });
  };
  const { csr, ca, userId, validityDays } = params;
  if (typeof userId !== 'string' || !USER_ID_PATTERN.test(userId)) return fail('invalid-user-id');
  if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > MAX_SIGNING_VALIDITY_DAYS) return fail('invalid-validity');

  // The key is checked again here so issuance can never sign a key parseSigningCsr would refuse.
  let spki: pkijs.PublicKeyInfo;
  try {
    spki = pkijs.PublicKeyInfo.fromBER(csr.subjectPublicKeyInfo);
  } catch (error) {
    return fail('unsupported-key-type', error);
  }
  const key = await checkPublicKey(spki);
  if (!key.ok) return fail(key.reason);

  const caConstraints = ca.cert.getExtension(x509.BasicConstraintsExtension);
  const caUsage = ca.cert.getExtension(x509.KeyUsagesExtension);
  if (!caConstraints?.ca || (caUsage && (caUsage.usages & x509.KeyUsageFlags.keyCertSign) === 0)) return fail('ca-not-a-ca');

  // X.509 times have second precision; truncating keeps notBefore <= now for the caller.
  const now = params.now ?? new Date();
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime() + validityDays * DAY_MS);
  if (now < ca.cert.notBefore || now > ca.cert.notAfter) return fail('ca-not-valid-now');
  // A certificate outliving its CA would fail verification later; refuse now so it is noticed.
  if (notAfter > ca.cert.notAfter) return fail('ca-expires-too-soon');

  const signingAlgorithm = caSigningAlgorithm(ca.privateKey) ?? fail('unsupported-ca-key');

  let certificate: x509.X509Certificate;
  try {
    certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerialHex(),
      subject: [{ CN: [`user-${userId}`] }, { O: ['KFRM'] }],
      issuer: ca.cert.subjectName,
      notBefore,
      notAfter,
      signingAlgorithm,
      publicKey: csr.subjectPublicKeyInfo,
      signingKey: ca.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation, true),
        new x509.ExtendedKeyUsageExtension([SIGNING_CERTIFICATE_EKU], false),
        await x509.SubjectKeyIdentifierExtension.create(csr.subjectPublicKeyInfo),
        await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
      ],
    });
  } catch (error) {
    return fail('signing-failed', error);
  }
  const der = new Uint8Array(certificate.rawData);
  return {
    der,
    base64: Buffer.from(der).toString('base64'),
    pem: toPem('CERTIFICATE', der),
    serialNumber: certificate.serialNumber.toLowerCase(),
    subject: certificate.subject,
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
  };
}

/**
 * 128 random bits as a positive INTEGER: the generator strips leading zero bytes and adds a
 * 0x00 sign byte when the top bit is set, so any 16 random bytes (other than all-zero) are a
 * valid, unpredictable serial.
 */
function randomSerialHex(): string {
  for (;;) {
    const bytes = webcrypto.getRandomValues(new Uint8Array(16));
    if (bytes.some((b) => b !== 0)) return Buffer.from(bytes).toString('hex');
  }
}

function caSigningAlgorithm(key: CryptoKey): { name: string; hash: string } | undefined {
  const algorithm = key.algorithm as WebCrypto.EcKeyAlgorithm | WebCrypto.RsaHashedKeyAlgorithm;
  if (algorithm.name === 'ECDSA') {
    const curve = (algorithm as WebCrypto.EcKeyAlgorithm).namedCurve;
    const hash = curve === 'P-256' ? 'SHA-256' : curve === 'P-384' ? 'SHA-384' : curve === 'P-521' ? 'SHA-512' : undefined;
    return hash ? { name: 'ECDSA', hash } : undefined;
  }
  if (algorithm.name === 'RSASSA-PKCS1-v1_5')
    return { name: algorithm.name, hash: (algorithm as WebCrypto.RsaHashedKeyAlgorithm).hash.name };
  return undefined;
}

/**
 * The activation challenge: 256 random bits, base64url (43 characters). The server stores it
 * with a TTL and consumes it once; the app signs it with the new key to activate the
 * certificate, proving the key in the CSR is in the app's hands.
 */
export function createVerificationToken(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(32))).toString('base64url');
}
