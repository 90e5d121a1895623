import { createJweFieldCipher } from '../cipher';
import type { KonaplateClientOptions } from '../konaplate-client';
import type { KonaplateSandbox } from './konaplate-sandbox';

export * from './konaplate-sandbox';
export * from './sandbox-key-files';
export * from './test-data';

/**
 * Client options that talk to a running sandbox: its url, credentials and (when encryption is
 * on and the sandbox generated the client key pair) a JWE cipher with its keys.
 */
export function sandboxClientOptions(sandbox: KonaplateSandbox, overrides: Partial<KonaplateClientOptions> = {}): KonaplateClientOptions {
  const { keys } = sandbox;
  const cipher =
    sandbox.encryption && keys.clientPrivateKey
      ? createJweFieldCipher({ keyId: keys.cryptoKeyId, encryptTo: keys.serverPublicKey, decryptWith: keys.clientPrivateKey })
      : undefined;
  return {
    baseUrl: sandbox.url,
    aspId: keys.aspId,
    accessKey: keys.accessKey,
    secretKey: keys.secretKey,
    ...(cipher ? { cipher } : {}),
    ...overrides,
  };
}
