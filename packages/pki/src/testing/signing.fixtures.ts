// Shared by the signing tests only (not exported from the package).
import type { webcrypto as WebCrypto } from 'node:crypto';
import { webcrypto } from '../crypto-provider';

type CryptoKeyPair = WebCrypto.CryptoKeyPair;

function header(tag: number, length: number): number[] {
  if (length < 0x80) return [tag, length];
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return [tag, 0x80 | bytes.length, ...bytes];
}

export function wrapDer(tag: number, inner: Uint8Array): Uint8Array {
  const h = header(tag, inner.length);
  const out = new Uint8Array(h.length + inner.length);
  out.set(h);
  out.set(inner, h.length);
  return out;
}

/** `depth` SEQUENCEs, each holding the next, around a NULL. */
export function nestedSequences(depth: number): Uint8Array {
  let der: Uint8Array = new Uint8Array([0x05, 0x00]);
  for (let i = 0; i < depth; i++) der = wrapDer(0x30, der);
  return der;
}

export async function ecKeys(namedCurve: 'P-256' | 'P-384' = 'P-256'): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve }, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function rsaKeys(modulusLength: number, publicExponent = 65537, hash = 'SHA-256'): Promise<CryptoKeyPair> {
  const e = publicExponent === 65537 ? new Uint8Array([1, 0, 1]) : new Uint8Array([publicExponent]);
  return (await webcrypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength, publicExponent: e, hash }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
}
