import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { webcrypto as WebCrypto } from 'node:crypto';
import { webcrypto, x509 } from '../crypto-provider';
import { privateKeyToPem } from '../pem';
import { decodePemOrBase64 } from './csr';
import type { SigningCa } from './issue';

type CryptoKeyPair = WebCrypto.CryptoKeyPair;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A signing CA (EC P-256, path length 0, keyCertSign + cRLSign) held in memory. Separate from
 * the server and device CAs: it signs only users' signing certificates, so a leak of one of
 * the others' keys cannot mint a signature the transfer check would accept.
 */
export async function createSigningCa(options: { commonName?: string; validityDays?: number; now?: Date } = {}): Promise<SigningCa> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = (options.now ?? new Date()).getTime();
  const serial = webcrypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(serial).toString('hex'),
    name: [{ CN: [options.commonName ?? 'KFRM Signing CA'] }, { O: ['KFRM'] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (options.validityDays ?? 3650) * DAY_MS),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, privateKey: keys.privateKey };
}

export interface SigningCaFiles {
  signingCaCertFile: string;
  signingCaKeyFile: string;
}

/**
 * Embedded default: a dev signing CA in `dir` (signing-ca.pem, signing-ca.key with mode 0600),
 * made on first start and kept after, next to the files of `ensureDevCertificates`.
 */
export async function ensureDevSigningCa(dir: string): Promise<SigningCaFiles> {
  const files: SigningCaFiles = {
    signingCaCertFile: join(dir, 'signing-ca.pem'),
    signingCaKeyFile: join(dir, 'signing-ca.key'),
  };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (![files.signingCaCertFile, files.signingCaKeyFile].every((f) => existsSync(f))) {
    const ca = await createSigningCa({ commonName: 'KFRM Dev Signing CA' });
    // Key first: a certificate without its key would be kept by the check above and be useless.
    await writeFile(files.signingCaKeyFile, await privateKeyToPem(ca.privateKey), { mode: 0o600 });
    await writeFile(files.signingCaCertFile, `${ca.cert.toString('pem')}\n`, { mode: 0o644 });
  }
  return files;
}

/** Loads a signing CA from PEM files; the key (PKCS#8) must be EC (any NIST curve) or RSA. */
export async function loadSigningCa(files: SigningCaFiles): Promise<SigningCa> {
  const cert = new x509.X509Certificate(await readFile(files.signingCaCertFile, 'utf8'));
  const keyDer = decodePemOrBase64(await readFile(files.signingCaKeyFile, 'utf8'), 'PRIVATE KEY');
  if (!keyDer) throw new Error(`${files.signingCaKeyFile}: not a PKCS#8 PEM private key`);
  const publicAlgorithm = cert.publicKey.algorithm as { name: string; namedCurve?: string };
  const algorithm =
    publicAlgorithm.name === 'ECDSA'
      ? { name: 'ECDSA', namedCurve: publicAlgorithm.namedCurve ?? 'P-256' }
      : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const privateKey = await webcrypto.subtle.importKey('pkcs8', keyDer, algorithm, false, ['sign']);
  return { cert, privateKey };
}
