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
import { createCsr, createSigningCa, issueSigningCertificate, parseSigningCsr, signData, verifySignedData, webcrypto } from '@kfrm/pki';
import { buildSignedData } from '../packages/pki/src/signing/cms';
import { loadAverage } from './lib/process-cpu';

const N = Number(process.argv[2] ?? 2000);

// A realistic transfer payload: what packages/app-client's canonicalTransferBytes makes.
const payload = new TextEncoder().encode(
  JSON.stringify({
    v: 1,
    process_id: '0193a4f2-7c1e-7d3a-9b8e-5f2d1c0a9e77',
    source_account_number: '3333-01-1234567',
    target_institution_code: '088',
    target_account_number: '110-123-456789',
    currency: 'KRW',
    amount_minor: '150000',
  }),
);

type CryptoKey = Parameters<typeof webcrypto.subtle.exportKey>[1];
type Keys = { publicKey: CryptoKey; privateKey: CryptoKey };

const ca = await createSigningCa();
const signers: { name: string; keys: Keys; algorithm: 'sha256' }[] = [
  {
    name: 'RSA-2048',
    algorithm: 'sha256',
    keys: (await webcrypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    )) as Keys,
  },
  {
    name: 'P-256',
    algorithm: 'sha256',
    keys: (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as Keys,
  },
];

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function timed(n: number, run: () => Promise<unknown> | unknown): Promise<{ perSecond: number; cpuMicrosEach: number }> {
  const cpu = cpuMicros();
  const started = performance.now();
  for (let i = 0; i < n; i++) await run();
  const ms = performance.now() - started;
  return { perSecond: (n * 1000) / ms, cpuMicrosEach: (cpuMicros() - cpu) / n };
}

console.log(`bench/cms-sign.ts · ${N} signatures per key · node ${process.version} · load average before: ${loadAverage()}`);
for (const signer of signers) {
  const csr = await parseSigningCsr((await createCsr(signer.keys)).base64);
  const issued = await issueSigningCertificate({ csr, ca, userId: `bench-${signer.name}`, validityDays: 30 });
  const params = { content: payload, certificateDer: issued.der, privateKey: signer.keys.privateKey, detached: false };
  const sign = () => signData(params);
  const signWithPkijs = () => buildSignedData(params, {});
  const signed = await sign();
  const checked = await verifySignedData({
    signedData: signed.base64,
    expectedContent: payload,
    trustedSigner: issued.der,
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
  const bare = () => cryptoSign(signer.algorithm, attributes, { key, dsaEncoding: 'der' });

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
