import { webcrypto } from './crypto-provider';
type CryptoKey = import('node:crypto').webcrypto.CryptoKey;

export function toPem(label: string, der: ArrayBuffer | Uint8Array): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  return toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', key));
}

/** PEM or bare base64 to DER bytes; throws on anything that is not base64. */
export function pemOrBase64ToDer(text: string): Uint8Array {
  const body = text.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, '').replace(/\s+/g, '');
  if (body.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw new Error('not PEM or base64');
  return new Uint8Array(Buffer.from(body, 'base64'));
}
