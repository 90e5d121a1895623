/**
 * The sandbox's stand-in for the user's KakaoTalk certificate and its CA: a CA made at start and
 * one signer certificate it issued, which sign each verified consent as a real CMS SignedData
 * (RFC 5652, via @kfrm/pki's signData: signed attributes, the signer's certificate embedded).
 * The CA's name says it is the sandbox's: a real deployment never trusts it (the trust anchor in
 * real mode is kakaoCert's CA, from a file), so sandbox evidence can never pass for real evidence.
 *
 * For tests, `sign(..., { as: 'foreign' })` signs with a certificate from another CA that has the
 * same name: what an attacker with their own CA would send.
 */
import { webcrypto as nodeWebcrypto } from 'node:crypto';
import { signData, webcrypto, x509 } from '@kfrm/pki';

const SANDBOX_CA_NAME: x509.JsonName = [{ CN: ['KFRM kakaoCert SANDBOX CA - not for KFTC'] }, { O: ['KFRM sandbox'] }];
const DAY_MS = 86_400_000;
// ECDSA P-256: key generation is quick enough to make keys at start and on demand (an RSA-2048
// pair can take seconds on a loaded machine); the verifier accepts RSA and EC signers alike.
const KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

type Keys = nodeWebcrypto.CryptoKeyPair;

interface Signer {
  certificateDer: Uint8Array;
  privateKey: nodeWebcrypto.CryptoKey;
}

export interface SandboxSigner {
  /** The sandbox CA certificate: the trust anchor for sandbox evidence. */
  readonly caCertificatePem: string;
  /** CMS SignedData (DER) over `content`, content attached, as the user's certificate signs it. */
  sign(content: Uint8Array, signingTime: Date, options?: { as?: 'sandbox' | 'foreign' }): Promise<Uint8Array>;
}

async function newKeys(): Promise<Keys> {
  return (await webcrypto.subtle.generateKey(KEY, true, ['sign', 'verify'])) as Keys;
}

function serial(): string {
  // Positive, 16 bytes.
  const bytes = nodeWebcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

async function createCa(now: Date): Promise<{ cert: x509.X509Certificate; keys: Keys }> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: SANDBOX_CA_NAME,
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter: new Date(now.getTime() + 3650 * DAY_MS),
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

async function issueSigner(ca: { cert: x509.X509Certificate; keys: Keys }, now: Date): Promise<Signer> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: ['KFRM sandbox KakaoTalk user'] }, { O: ['KFRM sandbox'] }],
    issuer: ca.cert.subjectName,
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter: new Date(now.getTime() + 365 * DAY_MS),
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return { certificateDer: new Uint8Array(cert.rawData), privateKey: keys.privateKey };
}

export async function createSandboxSigner(now: Date): Promise<SandboxSigner> {
  const ca = await createCa(now);
  const signer = await issueSigner(ca, now);
  let foreign: Promise<Signer> | undefined;
  // One signature at start: the first CMS build (ASN.1 schemas, JIT) is slow, and a VerifyCMS
  // answer must not be the one to pay for it against the client's deadline.
  await signData({ content: new Uint8Array([0]), certificateDer: signer.certificateDer, privateKey: signer.privateKey, detached: false });
  return {
    caCertificatePem: ca.cert.toString('pem'),
    async sign(content, signingTime, options = {}) {
      if (options.as === 'foreign' && !foreign) foreign = createCa(now).then((other) => issueSigner(other, now));
      const by = options.as === 'foreign' ? await foreign! : signer;
      const { der } = await signData({
        content,
        certificateDer: by.certificateDer,
        privateKey: by.privateKey,
        detached: false,
        signingTime,
      });
      return der;
    },
  };
}
