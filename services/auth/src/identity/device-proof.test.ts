import { createPrivateKey, sign, webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCsr, createSigningCa, issueSigningCertificate, parseSigningCsr } from '@kfrm/pki';
import { ecKeys, rsaKeys } from '@kfrm/pki/testing/signing.fixtures';
import { deviceProofChallenge, verifyDeviceProof } from './device-proof';

/** A certificate for the key pair (any CA will do: only its public key is read). */
async function certificateFor(keys: webcrypto.CryptoKeyPair): Promise<Uint8Array> {
  const issued = await issueSigningCertificate({
    csr: await parseSigningCsr((await createCsr(keys)).pem),
    ca: await createSigningCa(),
    userId: '1',
    validityDays: 1,
    now: new Date(),
  });
  return issued.der;
}

async function proof(keys: webcrypto.CryptoKeyPair, challenge: string): Promise<string> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return sign('sha256', deviceProofChallenge(challenge), createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).toString('base64');
}

describe('device proof', () => {
  it.each([
    ['P-256', () => ecKeys('P-256')],
    ['RSA 2048', () => rsaKeys(2048)],
  ])('accepts the device key’s signature over the prefixed challenge (%s), nothing else', async (_name, makeKeys) => {
    const keys = await makeKeys();
    const der = await certificateFor(keys);
    const good = await proof(keys, 'challenge-1');
    expect(verifyDeviceProof(der, 'challenge-1', good)).toBe(true);
    expect(verifyDeviceProof(der, 'challenge-2', good)).toBe(false);
    expect(verifyDeviceProof(der, 'challenge-1', await proof(await ecKeys('P-256'), 'challenge-1'))).toBe(false);
    // The unprefixed bytes (a signature made for something else) do not count.
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    const bare = sign('sha256', Buffer.from('challenge-1'), createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
    expect(verifyDeviceProof(der, 'challenge-1', bare.toString('base64'))).toBe(false);
    for (const junk of ['', 'AAAA', '!!!', 'A'.repeat(4000)]) expect(verifyDeviceProof(der, 'challenge-1', junk)).toBe(false);
    expect(verifyDeviceProof(der, '', good)).toBe(false);
    expect(verifyDeviceProof(new Uint8Array([1, 2, 3]), 'challenge-1', good)).toBe(false);
  });
});
