// Configuration: fail fast in real mode, configured clients reach configured servers, and the
// embedded default starts and stops its own sandboxes.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@kfrm/config';
import { startKakaocertSandbox } from '@kfrm/kakaocert/sandbox';
import { startKonaplateSandbox } from '@kfrm/konaplate/sandbox/index';
import { createLogger } from '@kfrm/logging';
import { createFundingAdapters, readFundingConfig } from './funding.config';

const logger = createLogger({ service: 'funding-config-test', level: 'silent' });

async function problemsOf(promise: Promise<unknown>): Promise<string[]> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('no configuration error');
}

const consent = {
  receiverName: '홍길동',
  receiverPhone: '01012345678',
  receiverBirthDate: '19800101',
  bankCode: '088',
  bankAccountNumber: '110234567890',
  payerId: '1000000001',
  title: '자동충전 출금동의',
  expiresInSeconds: 300,
};

describe('funding configuration', () => {
  it('names the missing variables in real mode instead of starting sandboxes', async () => {
    const problems = await problemsOf(createFundingAdapters(readFundingConfig({}), 'real', logger));
    expect(problems.join('\n')).toMatch(/KONAPLATE_URL is required/);
    expect(problems.join('\n')).toMatch(/KAKAOCERT_URL is required/);

    const partial = await problemsOf(
      createFundingAdapters(
        readFundingConfig({
          KONAPLATE_URL: 'https://konaplate.example',
          KONAPLATE_CRYPTO_KEY_ID: 'x',
          KAKAOCERT_URL: 'https://kakaocert.example',
        }),
        'real',
        logger,
      ),
    );
    for (const name of [
      'KONAPLATE_ASP_ID',
      'KONAPLATE_ACCESS_KEY',
      'KONAPLATE_SECRET_KEY',
      'KONAPLATE_SERVER_PUBLIC_KEY_FILE',
      'KONAPLATE_CLIENT_PRIVATE_KEY_FILE',
      'KAKAOCERT_AUTH_URL',
      'KAKAOCERT_LINK_ID',
      'KAKAOCERT_SECRET_KEY',
      'KAKAOCERT_CLIENT_CODE',
      'KAKAOCERT_TRUST_ANCHOR_FILE',
    ]) {
      expect(partial.some((p) => p.startsWith(`${name} is required`))).toBe(true);
    }
  });

  it('talks to the configured servers with the configured credentials and keys', async () => {
    const konaplate = await startKonaplateSandbox({ port: 0 });
    const kakaocert = await startKakaocertSandbox();
    const dir = await mkdtemp(join(tmpdir(), 'kfrm-funding-config-'));
    try {
      await writeFile(join(dir, 'server.pem'), konaplate.keys.serverPublicKey);
      await writeFile(join(dir, 'client.pem'), konaplate.keys.clientPrivateKey!);
      await writeFile(join(dir, 'kakaocert-ca.pem'), kakaocert.caCertificatePem);
      const adapters = await createFundingAdapters(
        readFundingConfig({
          KONAPLATE_URL: konaplate.url,
          KONAPLATE_ASP_ID: konaplate.keys.aspId,
          KONAPLATE_ACCESS_KEY: konaplate.keys.accessKey,
          KONAPLATE_SECRET_KEY: konaplate.keys.secretKey,
          KONAPLATE_CRYPTO_KEY_ID: konaplate.keys.cryptoKeyId,
          KONAPLATE_SERVER_PUBLIC_KEY_FILE: join(dir, 'server.pem'),
          KONAPLATE_CLIENT_PRIVATE_KEY_FILE: join(dir, 'client.pem'),
          KAKAOCERT_URL: kakaocert.url,
          KAKAOCERT_AUTH_URL: kakaocert.authUrl,
          KAKAOCERT_LINK_ID: kakaocert.linkId,
          KAKAOCERT_SECRET_KEY: kakaocert.secretKey,
          KAKAOCERT_CLIENT_CODE: kakaocert.clientCode,
          KAKAOCERT_TRUST_ANCHOR_FILE: join(dir, 'kakaocert-ca.pem'),
        }),
        'real',
        logger,
      );
      try {
        expect(adapters.sandboxes).toEqual({});
        // The inquiry's answer is encrypted to the client key: readable only with the key file.
        expect((await adapters.konaplate.inquireBankAccounts({ userId: '1000000001' })).isAutoRcgAccRegAllowed).toBe(true);
        const { receiptId } = await adapters.consents.requestConsent(consent);
        expect(kakaocert.receipt(receiptId)?.state).toBe(0);
      } finally {
        await adapters.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
      await kakaocert.close();
      await konaplate.close();
    }
  });

  it('starts both sandboxes on 127.0.0.1 in the embedded default and closes them', async () => {
    const adapters = await createFundingAdapters(readFundingConfig({}), 'embedded', logger);
    const { konaplate, kakaocert } = adapters.sandboxes;
    expect(konaplate?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(kakaocert?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await adapters.konaplate.inquireBankAccounts({ userId: '1000000001' })).bankAccForNormalRcg?.bankCode).toBe('088');
    const { receiptId } = await adapters.consents.requestConsent(consent);
    expect((await adapters.consents.getConsentState(receiptId)).state).toBe('pending');
    await adapters.close();
    await expect(fetch(`${kakaocert!.url}/__sandbox/receipts/${receiptId}`)).rejects.toThrow();
    await expect(fetch(konaplate!.url, { method: 'POST' })).rejects.toThrow();
  });

  it('runs the Konaplate sandbox on the keys kept in sandboxKeyDir, the same at the next start', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kfrm-funding-sandbox-keys-'));
    try {
      const keyDir = join(dir, 'konaplate-sandbox');
      const first = await createFundingAdapters(readFundingConfig({}), 'embedded', logger, {}, { sandboxKeyDir: keyDir });
      const keys = first.sandboxes.konaplate!.keys;
      // Encryption works with them (inquiries are encrypted both ways).
      expect((await first.konaplate.inquireBankAccounts({ userId: '1000000001' })).bankAccForNormalRcg?.bankCode).toBe('088');
      await first.close();
      const second = await createFundingAdapters(readFundingConfig({}), 'embedded', logger, {}, { sandboxKeyDir: keyDir });
      expect(second.sandboxes.konaplate!.keys.serverPublicKey).toBe(keys.serverPublicKey);
      expect(second.sandboxes.konaplate!.keys.clientPrivateKey).toBe(keys.clientPrivateKey);
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('never issues a member id again after a restart (the data directory keeps the members; the sandbox does not)', async () => {
    // Tried as a customer would: `pnpm start`, the demo, Ctrl-C, `pnpm start`, the demo again —
    // linking Bob's account answered INTERNAL (duplicate konaplate_members.member_id).
    const register = async (adapters: Awaited<ReturnType<typeof createFundingAdapters>>, n: number) =>
      (
        await adapters.konaplate.registerMember({
          loginId: `restart${Date.now()}${n}`,
          userName: '홍길동',
          birthDate: '19800101',
          phoneNumber: '01012345678',
        })
      ).userId;
    const first = await createFundingAdapters(readFundingConfig({}), 'embedded', logger);
    const issued = [await register(first, 1), await register(first, 2)];
    await first.close();
    const second = await createFundingAdapters(readFundingConfig({}), 'embedded', logger);
    const next = await register(second, 3);
    await second.close();
    expect(issued).not.toContain(next);
    expect(BigInt(next)).toBeGreaterThan(BigInt(issued[1]!));
  });
});
