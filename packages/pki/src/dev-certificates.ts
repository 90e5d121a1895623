import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { webcrypto, x509 } from './crypto-provider';
type CryptoKeyPair = import('node:crypto').webcrypto.CryptoKeyPair;
import { privateKeyToPem } from './pem';

/**
 * Certificates for the embedded default: made on first start in the data directory, reused
 * after. Two separate CAs on purpose: the server CA only signs the server's TLS certificate (the
 * app pins it), the device CA only signs device client certificates (the mobile listener trusts
 * it for mTLS). A leaked device CA key must not let anyone impersonate the server.
 */
export interface TlsFiles {
  serverCaCertFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  deviceCaCertFile: string;
  deviceCaKeyFile: string;
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  // Positive and minimal DER: a leading zero byte would be a non-minimal INTEGER.
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return Buffer.from(bytes).toString('hex');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function createCa(commonName: string, validDays: number) {
  const keys = await generateKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${commonName}, O=KFRM`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + validDays * DAY_MS),
    signingAlgorithm: SIGNING,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys };
}

async function createServerCertificate(ca: { cert: x509.X509Certificate; keys: CryptoKeyPair }, hosts: string[]) {
  const keys = await generateKeys();
  const now = Date.now();
  const names = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: 'CN=localhost, O=KFRM',
    issuer: ca.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 397 * DAY_MS),
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return { cert, keys };
}

/** Creates whatever is missing in `dir`; an existing set is kept as it is. */
export async function ensureDevCertificates(dir: string, hosts: string[] = ['localhost', '127.0.0.1', '::1']): Promise<TlsFiles> {
  const files: TlsFiles = {
    serverCaCertFile: join(dir, 'server-ca.pem'),
    serverCertFile: join(dir, 'server.pem'),
    serverKeyFile: join(dir, 'server.key'),
    deviceCaCertFile: join(dir, 'device-ca.pem'),
    deviceCaKeyFile: join(dir, 'device-ca.key'),
  };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const write = (file: string, text: string, secret = false) => writeFile(file, text, { mode: secret ? 0o600 : 0o644 });

  if (![files.serverCaCertFile, files.serverCertFile, files.serverKeyFile].every((f) => existsSync(f))) {
    const ca = await createCa('KFRM Dev Server CA', 3650);
    const server = await createServerCertificate(ca, hosts);
    await write(files.serverCaCertFile, `${ca.cert.toString('pem')}\n`);
    await write(files.serverKeyFile, await privateKeyToPem(server.keys.privateKey), true);
    await write(files.serverCertFile, `${server.cert.toString('pem')}\n`);
    // The server CA key is not kept: nothing else is ever signed with it.
  }
  if (![files.deviceCaCertFile, files.deviceCaKeyFile].every((f) => existsSync(f))) {
    const ca = await createCa('KFRM Dev Device CA', 3650);
    await write(files.deviceCaKeyFile, await privateKeyToPem(ca.keys.privateKey), true);
    await write(files.deviceCaCertFile, `${ca.cert.toString('pem')}\n`);
  }
  return files;
}

export async function readTlsFile(file: string): Promise<Buffer> {
  return readFile(file);
}
