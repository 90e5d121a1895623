// What the app SDK's signature costs the phone (not a test): `signData`, the CMS SignedData a
// phone makes over the canonical transfer bytes at every Execute, against a bare node:crypto
// sign of the same signed attributes with the same key (the work no implementation can skip),
// and against the same structure assembled with pkijs (`buildSignedData`, as signData did before
// the writer in packages/pki/src/signing/cms-writer.ts).
//   npx tsx bench/cms-sign.ts [signatures]
// For an RSA-2048 and a P-256 key with a certificate from a test signing CA: signatures per
// second and CPU µs per call (sequential, one caller, after a warm-up), the ratio to the bare
// sign, with the load average (the machine is shared, so the figures move with it).
import { createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { createSigningCa, signData, verifySignedData, webcrypto } from '@kfrm/pki';
import { buildSignedData } from '../packages/pki/src/signing/cms';
import { benchSigners, timed, transferPayload as payload } from './lib/cms-signers';
import { loadAverage } from './lib/process-cpu';

const N = Number(process.argv[2] ?? 2000);

const ca = await createSigningCa();
const signers = await benchSigners(ca);

console.log(`bench/cms-sign.ts · ${N} signatures per key · node ${process.version} · load average before: ${loadAverage()}`);
for (const signer of signers) {
  const params = { content: payload, certificateDer: signer.certificateDer, privateKey: signer.keys.privateKey, detached: false };
  const sign = () => signData(params);
  const signWithPkijs = () => buildSignedData(params, {});
  const signed = await sign();
  const checked = await verifySignedData({
    signedData: signed.base64,
    expectedContent: payload,
    trustedSigner: signer.certificateDer,
    signingCa: ca.cert,
  });
  if (!checked.ok) throw new Error(`${signer.name}: the signature does not verify (${checked.detail})`);
  // The floor: one sign over bytes the size of the signed attributes (contentType, messageDigest,
  // signingTime: about 100 bytes), with the key as a KeyObject.
  const key = createPrivateKey({
    key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', signer.keys.privateKey)),
    format: 'der',
    type: 'pkcs8',
  });
  const attributes = new Uint8Array(105).fill(7);
  const bare = () => cryptoSign(signer.hash, attributes, { key, dsaEncoding: 'der' });

  await timed(Math.min(300, N), sign);
  await timed(Math.min(300, N), signWithPkijs);
  await timed(Math.min(300, N), bare);
  const full = await timed(N, sign);
  const fullLoad = loadAverage();
  const pkijs = await timed(Math.max(1, Math.floor(N / 4)), signWithPkijs);
  const pkijsLoad = loadAverage();
  const floor = await timed(N, bare);
  const floorLoad = loadAverage();
  console.log(
    `${signer.name.padEnd(8)} SignedData ${signed.der.length} B · signData ${full.perSecond.toFixed(0)}/s, ` +
      `${full.cpuMicrosEach.toFixed(0)} µs CPU each (load ${fullLoad}) · bare crypto.sign ${floor.perSecond.toFixed(0)}/s, ` +
      `${floor.cpuMicrosEach.toFixed(0)} µs CPU each (load ${floorLoad}) · ratio ${(full.cpuMicrosEach / floor.cpuMicrosEach).toFixed(2)}× · ` +
      `with pkijs ${pkijs.perSecond.toFixed(0)}/s, ${pkijs.cpuMicrosEach.toFixed(0)} µs CPU each (load ${pkijsLoad}), ` +
      `${(pkijs.cpuMicrosEach / floor.cpuMicrosEach).toFixed(2)}× the bare sign`,
  );
}
console.log(`load average after: ${loadAverage()}`);
