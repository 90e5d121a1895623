import { readFile } from 'node:fs/promises';
import { webcrypto, x509 } from '@kfrm/pki';
type CryptoKey = import('node:crypto').webcrypto.CryptoKey;
type KeyImportAlgorithm = import('node:crypto').webcrypto.EcKeyImportParams | import('node:crypto').webcrypto.RsaHashedImportParams;

/**
 * The device CA, loaded once per process at start. Every process needs its certificate (the
 * mobile listener's access check); only the device service needs its private key, so the key is
 * read by `loadDeviceCaSigner`, once, when that service is created.
 */
export interface DeviceCa {
  certificate: x509.X509Certificate;
  certFile: string;
  /** Set only in a process running the device service (the one that signs). */
  keyFile: string | undefined;
}

/** What issuing a device certificate needs: the CA's certificate and its (non-extractable) key. */
export interface DeviceCaSigner {
  certificate: x509.X509Certificate;
  privateKey: CryptoKey;
  /** For X509CertificateGenerator: the CA key's signature algorithm. */
  signingAlgorithm: { name: string; hash?: string };
}

export class DeviceCaError extends Error {
  override readonly name = 'DeviceCaError';
}

function pemBlocks(text: string, label: string): Uint8Array[] {
  const blocks: Uint8Array[] = [];
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`, 'g');
  for (const match of text.matchAll(re)) blocks.push(new Uint8Array(Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64')));
  return blocks;
}

/**
 * Reads and checks the device CA certificate (PEM, the first CERTIFICATE block): it must be a CA
 * that may sign certificates and must be valid now. A broken CA file stops start-up with a clear
 * message rather than letting every device call fail later.
 */
export async function loadDeviceCa(files: { certFile: string; keyFile?: string }, now: Date = new Date()): Promise<DeviceCa> {
  const text = await readFile(files.certFile, 'utf8');
  const der = pemBlocks(text, 'CERTIFICATE')[0];
  if (!der) throw new DeviceCaError(`device CA certificate ${files.certFile}: no PEM CERTIFICATE block`);
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(der);
  } catch (err) {
    throw new DeviceCaError(`device CA certificate ${files.certFile}: not an X.509 certificate`, { cause: err });
  }
  if (!certificate.getExtension(x509.BasicConstraintsExtension)?.ca) {
    throw new DeviceCaError(`device CA certificate ${files.certFile}: not a CA (BasicConstraints cA is not true)`);
  }
  const usage = certificate.getExtension(x509.KeyUsagesExtension);
  if (usage && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new DeviceCaError(`device CA certificate ${files.certFile}: KeyUsage lacks keyCertSign`);
  }
  if (now < certificate.notBefore || now > certificate.notAfter) {
    throw new DeviceCaError(
      `device CA certificate ${files.certFile}: not valid now (${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()})`,
    );
  }
  return { certificate, certFile: files.certFile, keyFile: files.keyFile };
}

const EC_HASH: Record<string, string> = { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' };

function keyAlgorithmOf(certificate: x509.X509Certificate): {
  importAlgorithm: KeyImportAlgorithm;
  signingAlgorithm: DeviceCaSigner['signingAlgorithm'];
} {
  const algorithm = certificate.publicKey.algorithm as { name: string; namedCurve?: string };
  if (algorithm.name === 'ECDSA' && algorithm.namedCurve && EC_HASH[algorithm.namedCurve]) {
    const hash = EC_HASH[algorithm.namedCurve]!;
    return { importAlgorithm: { name: 'ECDSA', namedCurve: algorithm.namedCurve }, signingAlgorithm: { name: 'ECDSA', hash } };
  }
  if (algorithm.name === 'RSASSA-PKCS1-v1_5') {
    return {
      importAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    };
  }
  throw new DeviceCaError(
    `device CA key algorithm ${algorithm.name}${algorithm.namedCurve ? ` ${algorithm.namedCurve}` : ''} is not supported (EC P-256/P-384/P-521 or RSA)`,
  );
}

/**
 * Reads the device CA private key (PKCS#8 PEM, `BEGIN PRIVATE KEY`), imports it non-extractable
 * and proves it belongs to the certificate by signing a challenge the certificate's public key
 * verifies. Call once when the device service is created, never per request.
 */
export async function loadDeviceCaSigner(ca: Pick<DeviceCa, 'certificate' | 'keyFile'>): Promise<DeviceCaSigner> {
  if (ca.keyFile === undefined) throw new DeviceCaError('device CA key: KFRM_DEVICE_CA_KEY_FILE is not set in this process');
  const text = await readFile(ca.keyFile, 'utf8');
  const der = pemBlocks(text, 'PRIVATE KEY')[0];
  if (!der) {
    throw new DeviceCaError(
      `device CA key ${ca.keyFile}: no PKCS#8 "BEGIN PRIVATE KEY" block (convert with: openssl pkcs8 -topk8 -nocrypt)`,
    );
  }
  const { importAlgorithm, signingAlgorithm } = keyAlgorithmOf(ca.certificate);
  let privateKey: CryptoKey;
  try {
    privateKey = await webcrypto.subtle.importKey('pkcs8', der, importAlgorithm, false, ['sign']);
  } catch (err) {
    throw new DeviceCaError(`device CA key ${ca.keyFile}: not a ${importAlgorithm.name} PKCS#8 key matching the certificate`, {
      cause: err,
    });
  }
  const publicKey = await webcrypto.subtle.importKey('spki', ca.certificate.publicKey.rawData, importAlgorithm, false, ['verify']);
  const challenge = webcrypto.getRandomValues(new Uint8Array(32));
  const signature = await webcrypto.subtle.sign(signingAlgorithm, privateKey, challenge);
  if (!(await webcrypto.subtle.verify(signingAlgorithm, publicKey, signature, challenge))) {
    throw new DeviceCaError(`device CA key ${ca.keyFile} does not belong to certificate ${ca.certificate.subject}`);
  }
  return { certificate: ca.certificate, privateKey, signingAlgorithm };
}
