import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { webcrypto, x509 } from './crypto-provider';
import { pemOrBase64ToDer, privateKeyToPem } from './pem';
type CryptoKeyPair = import('node:crypto').webcrypto.CryptoKeyPair;
type CryptoKey = import('node:crypto').webcrypto.CryptoKey;

/**
 * Who the edge is: the URI SAN of the certificate the edge (nginx) presents to a service's edge
 * listener. Only a connection whose client certificate carries it, issued by the internal CA, may
 * forward a phone's client certificate in a header.
 */
export const EDGE_IDENTITY_URI = 'spiffe://kfrm/edge';

/** The URI SAN of a service's internal certificate: never the edge's, so a service cannot act as the edge. */
export const serviceIdentityUri = (service: string) => `spiffe://kfrm/service/${service}`;

export interface InternalCertificateFiles {
  certFile: string;
  keyFile: string;
}

/**
 * The internal PKI of a split run: a CA of its own (never the server or device CA), the edge's
 * client certificate, and one server certificate per service for its edge listener.
 */
export interface InternalPkiFiles {
  internalCaCertFile: string;
  internalCaKeyFile: string;
  edge: InternalCertificateFiles;
  services: Record<string, InternalCertificateFiles>;
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;
const SERVICE_NAME = /^[a-z][a-z0-9-]{0,62}$/;

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return Buffer.from(bytes).toString('hex');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
}

interface LoadedCa {
  cert: x509.X509Certificate;
  privateKey: CryptoKey;
}

async function issue(
  ca: LoadedCa,
  subject: string,
  names: { type: 'dns' | 'ip' | 'url'; value: string }[],
  usages: string[],
): Promise<{ cert: x509.X509Certificate; keys: CryptoKeyPair }> {
  const keys = await generateKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    issuer: ca.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 397 * DAY_MS),
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(usages),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return { cert, keys };
}

async function ensureCa(certFile: string, keyFile: string): Promise<LoadedCa> {
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = new x509.X509Certificate(await readFile(certFile, 'utf8'));
    const privateKey = await webcrypto.subtle.importKey('pkcs8', pemOrBase64ToDer(await readFile(keyFile, 'utf8')), EC_P256, false, [
      'sign',
    ]);
    return { cert, privateKey };
  }
  const keys = await generateKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: 'CN=KFRM Dev Internal CA, O=KFRM',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3650 * DAY_MS),
    signingAlgorithm: SIGNING,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  // Key first: a certificate without its key would be kept by the check above and be useless.
  await writeFile(keyFile, await privateKeyToPem(keys.privateKey), { mode: 0o600 });
  await writeFile(certFile, `${cert.toString('pem')}\n`, { mode: 0o644 });
  return { cert, privateKey: keys.privateKey };
}

/**
 * Development only: the internal CA (kept, with its key, so a service added later gets its
 * certificate from the same CA), the edge certificate and a certificate per service, in `dir`.
 * Whatever exists is kept. A service certificate names the service (its compose host name),
 * localhost and 127.0.0.1, so nginx verifies it with `grpc_ssl_name <service>` everywhere.
 */
export async function ensureDevInternalPki(dir: string, services: string[]): Promise<InternalPkiFiles> {
  for (const service of services) {
    if (!SERVICE_NAME.test(service)) throw new Error(`not a service name: ${JSON.stringify(service)}`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files: InternalPkiFiles = {
    internalCaCertFile: join(dir, 'internal-ca.pem'),
    internalCaKeyFile: join(dir, 'internal-ca.key'),
    edge: { certFile: join(dir, 'edge.pem'), keyFile: join(dir, 'edge.key') },
    services: Object.fromEntries(
      services.map((s) => [s, { certFile: join(dir, `internal-${s}.pem`), keyFile: join(dir, `internal-${s}.key`) }]),
    ),
  };
  let ca: LoadedCa | undefined;
  const caOnce = async () => {
    ca ??= await ensureCa(files.internalCaCertFile, files.internalCaKeyFile);
    return ca;
  };
  const ensureLeaf = async (target: InternalCertificateFiles, make: (ca: LoadedCa) => ReturnType<typeof issue>) => {
    if (existsSync(target.certFile) && existsSync(target.keyFile)) return;
    const leaf = await make(await caOnce());
    await writeFile(target.keyFile, await privateKeyToPem(leaf.keys.privateKey), { mode: 0o600 });
    await writeFile(target.certFile, `${leaf.cert.toString('pem')}\n`, { mode: 0o644 });
  };
  await caOnce();
  await ensureLeaf(files.edge, (c) =>
    issue(c, 'CN=edge, O=KFRM', [{ type: 'url', value: EDGE_IDENTITY_URI }], [x509.ExtendedKeyUsage.clientAuth]),
  );
  for (const service of services) {
    await ensureLeaf(files.services[service]!, (c) =>
      issue(
        c,
        `CN=${service}, O=KFRM`,
        [
          { type: 'dns', value: service },
          { type: 'dns', value: 'localhost' },
          { type: 'ip', value: '127.0.0.1' },
          { type: 'url', value: serviceIdentityUri(service) },
        ],
        [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
      ),
    );
  }
  return files;
}
