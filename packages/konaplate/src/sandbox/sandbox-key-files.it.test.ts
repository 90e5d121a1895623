/**
 * The embedded default's sandbox keys in the data directory, and a sandbox started with them.
 */
import { createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKonaplateClient } from '../konaplate-client';
import { ensureSandboxKeyFiles, SANDBOX_KEY_FILES, sandboxClientOptions, startKonaplateSandbox } from './index';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kfrm-sandbox-keys-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

const pemOf = (key: { export(options: { type: 'pkcs8'; format: 'pem' }): string | Buffer }) =>
  key.export({ type: 'pkcs8', format: 'pem' }).toString();

describe('sandbox key files', () => {
  it('are made on first use (0600 in a 0700 directory) and reused after', async () => {
    const dir = join(root, 'reused', 'konaplate-sandbox');
    const first = await ensureSandboxKeyFiles(dir);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const name of Object.values(SANDBOX_KEY_FILES)) expect((await stat(join(dir, name))).mode & 0o777).toBe(0o600);
    expect(first.serverPrivateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(pemOf(first.serverPrivateKey)).not.toBe(pemOf(first.clientPrivateKey));

    const again = await ensureSandboxKeyFiles(dir);
    expect(pemOf(again.serverPrivateKey)).toBe(pemOf(first.serverPrivateKey));
    expect(pemOf(again.clientPrivateKey)).toBe(pemOf(first.clientPrivateKey));
  });

  it('stop the start, naming the file, when one is not an RSA private key', async () => {
    const dir = join(root, 'corrupt');
    await ensureSandboxKeyFiles(dir);
    const file = join(dir, SANDBOX_KEY_FILES.client);
    await writeFile(file, 'not a key');
    await expect(ensureSandboxKeyFiles(dir)).rejects.toThrow(`Konaplate sandbox key ${file} is unusable`);
    expect(await readFile(file, 'utf8')).toBe('not a key'); // left for the operator to look at
  });

  it('run a sandbox that encrypts with them, without generating pairs', async () => {
    const keys = await ensureSandboxKeyFiles(join(root, 'sandbox'));
    const sandbox = await startKonaplateSandbox({ port: 0, ...keys });
    try {
      expect(sandbox.keys.serverPublicKey).toBe(createPublicKey(keys.serverPrivateKey).export({ type: 'spki', format: 'pem' }).toString());
      expect(sandbox.keys.clientPrivateKey).toBe(pemOf(keys.clientPrivateKey));
      // Encrypted both ways: the request to the server key, the answer to the client key.
      const client = createKonaplateClient(sandboxClientOptions(sandbox));
      expect((await client.inquireBankAccounts({ userId: '1000000001' })).bankAccForNormalRcg?.bankCode).toBe('088');
    } finally {
      await sandbox.close();
    }
  });

  it('refuse a client public key and private key together', async () => {
    const keys = await ensureSandboxKeyFiles(join(root, 'sandbox'));
    await expect(
      startKonaplateSandbox({ port: 0, clientPrivateKey: keys.clientPrivateKey, clientPublicKey: createPublicKey(keys.clientPrivateKey) }),
    ).rejects.toThrow(/exclusive/);
  });
});
