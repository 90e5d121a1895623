import { describe, expect, it } from 'vitest';
import { createCapturingDestination, createLogger } from '@kfrm/logging';
import { createKakaocertClient } from './kakaocert-client';
import { startKakaocertSandbox } from './sandbox/sandbox-server';
import { manualClock, validRequestCMS } from './testing/cms.fixtures';

describe('kakaocert logs', () => {
  it('carry only masked personal data and never tokens, signatures, keys or signedData', async () => {
    const clock = manualClock();
    const destination = createCapturingDestination();
    const logger = createLogger({ service: 'kakaocert-test', destination, level: 'debug' });
    const sandbox = await startKakaocertSandbox({ clock: clock.now, logger });
    const client = createKakaocertClient({
      linkId: sandbox.linkId,
      secretKey: sandbox.secretKey,
      serviceUrl: sandbox.url,
      authUrl: sandbox.authUrl,
      now: clock.now,
      logger,
    });
    try {
      const clientCode = sandbox.clientCode;
      const request = validRequestCMS({
        ReceiverName: '홍길동',
        BankAccountName: '홍길동',
        ReceiverHP: '01098761234',
        ReceiverBirthDay: '19800101',
        BankAccountNum: '3333012345678',
      });
      const receiptId = await client.requestCMS(clientCode, request);
      await client.getCMSState(clientCode, receiptId);
      sandbox.sign(receiptId);
      const { signedData } = await client.verifyCMS(clientCode, receiptId);
      await client.verifyCMS(clientCode, receiptId).catch(() => undefined); // a failure is logged too
      const tokens = sandbox.sessionTokens();
      expect(tokens.length).toBeGreaterThan(0);

      const text = destination.text();
      for (const secret of ['홍길동', '01098761234', '19800101', '3333012345678', '0123456', sandbox.secretKey, signedData, ...tokens]) {
        expect(text).not.toContain(secret);
      }
      expect(text).not.toMatch(/Bearer|LINKHUB |x-kc-auth/);

      const lines = destination.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const accepted = lines.find((l) => l.msg === 'kakaocert RequestCMS accepted');
      expect(accepted).toMatchObject({
        receipt_id: receiptId,
        receiver_name_masked: '홍*동',
        holder_name: '홍*동',
        receiver_phone: '010-****-1234',
        receiver_birth_masked: '1980****',
      });
      expect(String(accepted?.account_number)).toMatch(/^\*+5678$/);
      const verified = lines.find((l) => l.msg === 'kakaocert VerifyCMS succeeded');
      expect(verified).toMatchObject({ signed_data_length: signedData.length });
      expect(String(verified?.signed_data_sha256_prefix)).toMatch(/^[0-9a-f]{12}$/);
      expect(lines.some((l) => l.msg === 'kakaocert VerifyCMS failed' && l.error_code === -81000013)).toBe(true);
    } finally {
      client.close();
      await sandbox.close();
    }
  });
});
