import { afterEach, describe, expect, it } from 'vitest';
import { OutcomeUnknownError } from './errors';
import { createKakaocertClient } from './kakaocert-client';
import { createKakaocertConsentProvider } from './kakaocert-consent-provider';
import { decodeObjectIdentifier, readDer } from './sandbox/der';
import { startKakaocertSandbox, type KakaocertSandbox } from './sandbox/sandbox-server';
import { OID_DATA, OID_SIGNED_DATA, SANDBOX_EVIDENCE_MARKER } from './sandbox/sandbox-signed-data';
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
  const provider = createKakaocertConsentProvider(client, { clientCode: sandbox.clientCode, callCenterNum: '1600-0000' });
  return { sandbox, clock, provider, close: () => client.close() };
}

describe('kakaoCert as a CmsConsentProvider', () => {
  it('maps the request, the states and the evidence', async () => {
    const { sandbox, clock, provider, close } = await setup();
    try {
      const { receiptId } = await provider.requestConsent(consent);
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
      // ContentInfo { signedData, [0] SignedData { 1, {sha256}, { data, [0] content }, {} } }
      const contentInfo = readDer(evidence.der);
      expect(decodeObjectIdentifier(contentInfo.children[0]!.content)).toBe(OID_SIGNED_DATA);
      const signedData = contentInfo.children[1]!.children[0]!;
      const encap = signedData.children[2]!;
      expect(decodeObjectIdentifier(encap.children[0]!.content)).toBe(OID_DATA);
      const text = encap.children[1]!.children[0]!.content.toString('utf8');
      expect(text.startsWith(SANDBOX_EVIDENCE_MARKER)).toBe(true);
      expect(text).toContain(`receiptId=${receiptId}`);
      expect(signedData.children[3]!.children).toHaveLength(0); // no signerInfos: not real evidence

      expect((await provider.getConsentState(receiptId)).verifiedAt).toBeDefined();
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
