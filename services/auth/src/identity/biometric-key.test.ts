import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@kfrm/errors';
import { biometricChallenge, parseBiometricPublicKey, verifyBiometricSignature } from './biometric-key';

const spki = (key: { export(o: { type: 'spki'; format: 'der' }): Buffer }) =>
  key.export({ type: 'spki', format: 'der' }).toString('base64');

describe('biometric keys', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

  it('accepts P-256 and RSA-2048 keys as base64 SPKI or PEM', () => {
    expect(parseBiometricPublicKey(spki(ec.publicKey))).toEqual(new Uint8Array(ec.publicKey.export({ type: 'spki', format: 'der' })));
    expect(parseBiometricPublicKey(rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string).length).toBeGreaterThan(256);
  });

  it('refuses other curves, short RSA keys and garbage', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const ed = generateKeyPairSync('ed25519');
    for (const text of [spki(p384.publicKey), spki(rsa1024.publicKey), spki(ed.publicKey), 'not a key', '']) {
      expect(() => parseBiometricPublicKey(text)).toThrow(InvalidArgumentError);
    }
  });

  it('verifies a signature over the process challenge, and nothing else', () => {
    for (const keys of [ec, rsa]) {
      const key = parseBiometricPublicKey(spki(keys.publicKey));
      const signature = sign('sha256', biometricChallenge('process-1'), keys.privateKey).toString('base64');
      expect(verifyBiometricSignature(key, 'process-1', signature)).toBe(true);
      expect(verifyBiometricSignature(key, 'process-2', signature)).toBe(false);
      // Signed over the bare id (without the domain prefix): not accepted.
      expect(verifyBiometricSignature(key, 'process-1', sign('sha256', Buffer.from('process-1'), keys.privateKey).toString('base64'))).toBe(
        false,
      );
      expect(verifyBiometricSignature(key, 'process-1', '')).toBe(false);
      expect(verifyBiometricSignature(key, 'process-1', 'AAAA')).toBe(false);
    }
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const foreign = sign('sha256', biometricChallenge('process-1'), other.privateKey).toString('base64');
    expect(verifyBiometricSignature(parseBiometricPublicKey(spki(ec.publicKey)), 'process-1', foreign)).toBe(false);
  });
});
