import { afterEach, describe, expect, it } from 'vitest';
import { OutcomeUnknownError } from './errors';
import { createKakaocertClient } from './kakaocert-client';
import { createKakaocertConsentProvider } from './kakaocert-consent-provider';
import { decodeObjectIdentifier, readDer } from './sandbox/der';
import { startKakaocertSandbox, type EvidenceCorruption, type KakaocertSandbox } from './sandbox/sandbox-server';
import { manualClock } from './testing/cms.fixtures';
import type { CmsConsentRequest } from './cms-consent-provider';

let sandbox: KakaocertSandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

const consent: CmsConsentRequest = {
  receiverName: '홍길동',
  receiverPhone: '01012345678',
  receiverBirthDate: '19800101',
  bankCode: '090',
  bankAccountNumber: '3333012345678',
  bankAccountHolderName: '홍길동',
  payerId: 'user-42',
  title: '자동충전 출금동의',
  expiresInSeconds: 300,
  memo: 'funding-1',
};

async function setup() {
  const clock = manualClock();
  sandbox = await startKakaocertSandbox({ clock: clock.now });
  const client = createKakaocertClient({
    linkId: sandbox.linkId,
    secretKey: sandbox.secretKey,
    serviceUrl: sandbox.url,
    authUrl: sandbox.authUrl,
    now: clock.now,
  });
  const provider = createKakaocertConsentProvider(client, {
    clientCode: sandbox.clientCode,
    callCenterNum: '1600-0000',
    trustAnchorsPem: sandbox.caCertificatePem,
    now: () => new Date(clock.now()),
  });
  return { sandbox, clock, provider, close: () => client.close() };
}

describe('kakaoCert as a CmsConsentProvider', () => {
  it('maps the request, the states and the evidence', async () => {
    const { sandbox, clock, provider, close } = await setup();
    try {
      const { receiptId, signedContent } = await provider.requestConsent(consent);
      const sent = JSON.parse(sandbox.lastRequestBody()!) as Record<string, unknown>;
      expect(sent).toMatchObject({
        ReceiverName: '홍길동',
        ReceiverHP: '01012345678',
        ReceiverBirthDay: '19800101',
        BankCode: '090',
        BankAccountNum: '3333012345678',
        BankAccountName: '홍길동',
        ClientUserID: 'user-42',
        Expires_in: 300,
        CallCenterNum: '1600-0000',
        PayLoad: 'funding-1',
        isAllowSimpleRegistYN: false,
        isVerifyNameYN: true,
        isAppUseYN: false,
      });

      const pending = await provider.getConsentState(receiptId);
      expect(pending).toMatchObject({ receiptId, state: 'pending', signedAt: undefined });
      expect(pending.expiresAt?.toISOString()).toBe(new Date(clock.now() + 300_000).toISOString());

      clock.advance(5_000);
      sandbox.sign(receiptId);
      const signed = await provider.getConsentState(receiptId);
      expect(signed.state).toBe('signed');
      expect(signed.signedAt?.getTime()).toBe(clock.now());

      const evidence = await provider.verifyConsent(receiptId);
      expect(evidence.receiptId).toBe(receiptId);
      // ContentInfo { id-signedData, [0] SignedData }: the DER file for KFTC.
      expect(decodeObjectIdentifier(readDer(evidence.der).children[0]!.content)).toBe('1.2.840.113549.1.7.2');
      // A real signature by the sandbox CA's signer over exactly the consent that was requested.
      expect(await provider.checkEvidence(evidence, signedContent)).toMatchObject({ ok: true });
      const other = await provider.requestConsent({ ...consent, memo: 'funding-2' });
      expect(await provider.checkEvidence(evidence, other.signedContent)).toMatchObject({ ok: false, reason: 'content_mismatch' });

      expect((await provider.getConsentState(receiptId)).verifiedAt).toBeDefined();
    } finally {
      close();
    }
  });

  const corruptions: [EvidenceCorruption, string][] = [
    ['tampered', 'bad_signature'],
    ['foreign_signer', 'untrusted_signer'],
    ['other_content', 'content_mismatch'],
  ];
  it.each(corruptions)('refuses %s evidence as %s', async (corruption, reason) => {
    const { sandbox, provider, close } = await setup();
    try {
      const { receiptId, signedContent } = await provider.requestConsent(consent);
      sandbox.sign(receiptId);
      sandbox.corruptNextEvidence(corruption);
      const evidence = await provider.verifyConsent(receiptId);
      expect(await provider.checkEvidence(evidence, signedContent)).toMatchObject({ ok: false, reason });
    } finally {
      close();
    }
  });

  it('refuses evidence when the clock is past the signer certificate', async () => {
    const { sandbox, clock, provider, close } = await setup();
    try {
      const { receiptId, signedContent } = await provider.requestConsent(consent);
      sandbox.sign(receiptId);
      const evidence = await provider.verifyConsent(receiptId);
      clock.advance(400 * 86_400_000);
      expect(await provider.checkEvidence(evidence, signedContent)).toMatchObject({ ok: false, reason: 'untrusted_signer' });
    } finally {
      close();
    }
  });

  it('reports expiry and passes OutcomeUnknownError through', async () => {
    const { sandbox, clock, provider, close } = await setup();
    try {
      const expiring = await provider.requestConsent({ ...consent, expiresInSeconds: 10 });
      clock.advance(10_000);
      expect((await provider.getConsentState(expiring.receiptId)).state).toBe('expired');

      const { receiptId } = await provider.requestConsent(consent);
      sandbox.sign(receiptId);
      sandbox.injectFault({ route: 'verify', kind: 'reset', phase: 'after' });
      await expect(provider.verifyConsent(receiptId)).rejects.toBeInstanceOf(OutcomeUnknownError);
      expect(sandbox.calls().verify).toBe(1);
    } finally {
      close();
    }
  });
});
