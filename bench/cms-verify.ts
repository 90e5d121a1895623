// The transfer signature check's own cost (the PKCS#7 check in docs/performance.md): every Execute
// verifies one CMS SignedData the phone made over the canonical transfer bytes.
//   npx tsx bench/cms-verify.ts [verifies]
// For an RSA-2048 and a P-256 signing certificate from a test signing CA, prints verifySignedData
// per second and CPU µs per call (sequential, one caller, warm caches as in a running backend),
// next to a bare node:crypto verify of the same signature over the same signed attributes — the
// work no implementation can skip — and the ratio of the two, with the load average (the machine
// is shared, so the figures move with it).
import { createPublicKey, type KeyObject, verify as cryptoVerify } from 'node:crypto';
import { createSigningCa, signData, verifySignedData, x509 } from '@kfrm/pki';
import { benchSigners, timed, transferPayload as payload } from './lib/cms-signers';
import { loadAverage } from './lib/process-cpu';

const N = Number(process.argv[2] ?? 3000);

const ca = await createSigningCa();
const signers = await benchSigners(ca);

/** DER children of the constructed value at `at`: [start, end) of each, whole TLVs. */
function children(der: Uint8Array, at: { start: number; end: number }): { start: number; end: number; tag: number }[] {
  const header = (pos: number) => {
    const first = der[pos + 1]!;
    if (first < 0x80) return { content: pos + 2, length: first };
    let length = 0;
    for (let i = 0; i < (first & 0x7f); i++) length = length * 256 + der[pos + 2 + i]!;
    return { content: pos + 2 + (first & 0x7f), length };
  };
  const { content } = header(at.start);
  const out = [];
  for (let pos = content; pos < at.end; ) {
    const h = header(pos);
    out.push({ start: pos, end: h.content + h.length, tag: der[pos]! });
    pos = h.content + h.length;
  }
  return out;
}

/** The signed attributes as signed (SET tag) and the signature: a DER walk, for setup only. */
function signedParts(der: Uint8Array): { signedAttributes: Uint8Array; signature: Uint8Array } {
  const [, explicit] = children(der, { start: 0, end: der.length });
  const [signedData] = children(der, explicit!);
  const signerInfos = children(der, signedData!).at(-1)!;
  const [signerInfo] = children(der, signerInfos);
  const fields = children(der, signerInfo!);
  const attributes = fields.find((f) => f.tag === 0xa0)!;
  const signatureField = fields.at(-1)!.tag === 0x04 ? fields.at(-1)! : fields.at(-2)!;
  const signedAttributes = der.slice(attributes.start, attributes.end);
  signedAttributes[0] = 0x31;
  const octets = der.subarray(signatureField.start, signatureField.end);
  const lengthByte = octets[1]!;
  const skip = lengthByte < 0x80 ? 2 : 2 + (lengthByte & 0x7f);
  return { signedAttributes, signature: octets.slice(skip) };
}

console.log(`bench/cms-verify.ts · ${N} verifies per key · node ${process.version} · load average before: ${loadAverage()}`);
for (const signer of signers) {
  const signed = await signData({
    content: payload,
    certificateDer: signer.certificateDer,
    privateKey: signer.keys.privateKey,
    detached: false,
  });
  const params = { signedData: signed.base64, expectedContent: payload, trustedSigner: signer.certificateDer, signingCa: ca.cert };

  const first = await verifySignedData(params);
  if (!first.ok) throw new Error(`${signer.name}: the signature does not verify (${first.detail})`);
  const { signedAttributes, signature } = signedParts(signed.der);
  const key: KeyObject = createPublicKey({
    key: Buffer.from(new x509.X509Certificate(signer.certificateDer).publicKey.rawData),
    format: 'der',
    type: 'spki',
  });
  const bare = () => cryptoVerify(signer.hash, signedAttributes, { key, dsaEncoding: 'der' }, signature);
  if (!bare()) throw new Error(`${signer.name}: the bare verify fails`);

  // Warm-up: JIT and the per-certificate caches, as in a backend that has seen the user before.
  await timed(Math.min(500, N), () => verifySignedData(params));
  await timed(Math.min(500, N), bare);

  const full = await timed(N, () => verifySignedData(params));
  const fullLoad = loadAverage();
  const floor = await timed(N, bare);
  const floorLoad = loadAverage();
  console.log(
    `${signer.name.padEnd(8)} SignedData ${signed.der.length} B · verifySignedData ${full.perSecond.toFixed(0)}/s, ` +
      `${full.cpuMicrosEach.toFixed(0)} µs CPU each (load ${fullLoad}) · bare crypto.verify ${floor.perSecond.toFixed(0)}/s, ` +
      `${floor.cpuMicrosEach.toFixed(0)} µs CPU each (load ${floorLoad}) · ratio ${(full.cpuMicrosEach / floor.cpuMicrosEach).toFixed(2)}×`,
  );
}
console.log(`load average after: ${loadAverage()}`);
