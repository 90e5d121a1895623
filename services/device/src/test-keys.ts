// Test helper: public keys as a phone (or an attacker) would send them.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';

export type KeySpec =
  | { type: 'ec'; namedCurve: string }
  | { type: 'rsa'; modulusLength: number; publicExponent?: number }
  | { type: 'ed25519' };

const cache = new Map<string, { publicKey: KeyObject; privateKey: KeyObject }>();

/** Key generation (RSA 4096 above all) is slow; each spec is generated once per test file. */
export function keyPair(spec: KeySpec): { publicKey: KeyObject; privateKey: KeyObject } {
  const id = JSON.stringify(spec);
  let pair = cache.get(id);
  if (!pair) {
    if (spec.type === 'ec') pair = generateKeyPairSync('ec', { namedCurve: spec.namedCurve });
    else if (spec.type === 'rsa') pair = generateKeyPairSync('rsa', { modulusLength: spec.modulusLength, publicExponent: spec.publicExponent ?? 65537 });
    else pair = generateKeyPairSync('ed25519');
    cache.set(id, pair);
  }
  return pair;
}

export const spkiPem = (spec: KeySpec) => keyPair(spec).publicKey.export({ type: 'spki', format: 'pem' }) as string;
export const spkiDer = (spec: KeySpec) => new Uint8Array(keyPair(spec).publicKey.export({ type: 'spki', format: 'der' }));
export const spkiBase64 = (spec: KeySpec) => Buffer.from(spkiDer(spec)).toString('base64');

export const P256: KeySpec = { type: 'ec', namedCurve: 'prime256v1' };
export const RSA2048: KeySpec = { type: 'rsa', modulusLength: 2048 };
