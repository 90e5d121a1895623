// Shared by bench/cms-sign.ts and bench/cms-verify.ts: the transfer payload a phone signs, the
// two kinds of signer a phone has (RSA-2048, P-256) enrolled with a test signing CA, and a
// sequential timer reading this process's CPU.
import { createCsr, issueSigningCertificate, parseSigningCsr, type SigningCa, webcrypto } from '@kfrm/pki';

/** A realistic transfer payload: what packages/app-client's canonicalTransferBytes makes. */
export const transferPayload = new TextEncoder().encode(
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
export type Keys = { publicKey: CryptoKey; privateKey: CryptoKey };

export interface BenchSigner {
  name: 'RSA-2048' | 'P-256';
  /** node:crypto's name of the digest both sign with. */
  hash: 'sha256';
  keys: Keys;
  certificateDer: Uint8Array;
}

/** An RSA-2048 and a P-256 signer, each with a signing certificate from `ca`. */
export async function benchSigners(ca: SigningCa): Promise<BenchSigner[]> {
  const kinds = [
    {
      name: 'RSA-2048' as const,
      algorithm: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    },
    { name: 'P-256' as const, algorithm: { name: 'ECDSA', namedCurve: 'P-256' } },
  ];
  const signers: BenchSigner[] = [];
  for (const { name, algorithm } of kinds) {
    const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as Keys;
    const csr = await parseSigningCsr((await createCsr(keys)).base64);
    const issued = await issueSigningCertificate({ csr, ca, userId: `bench-${name}`, validityDays: 30 });
    signers.push({ name, hash: 'sha256', keys, certificateDer: issued.der });
  }
  return signers;
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** `n` sequential runs: per second, and this process's CPU µs per run (all threads). */
export async function timed(n: number, run: () => Promise<unknown> | unknown): Promise<{ perSecond: number; cpuMicrosEach: number }> {
  const cpu = cpuMicros();
  const started = performance.now();
  for (let i = 0; i < n; i++) await run();
  const ms = performance.now() - started;
  return { perSecond: (n * 1000) / ms, cpuMicrosEach: (cpuMicros() - cpu) / n };
}
