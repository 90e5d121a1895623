/** CmsConsentProvider backed by kakaoCert (one ClientCode, fixed call-centre number). */
import type { CmsConsentProvider, CmsConsentState } from './cms-consent-provider';
import { checkConsentEvidence, parseTrustAnchors } from './consent-evidence';
import { consentSignedContent } from './consent-signed-content';
import type { KakaocertClient } from './kakaocert-client';
import { parseKakaocertDateTime } from './response-parsing';
import { CMS_STATE, type CmsState } from './types';

export interface KakaocertConsentProviderOptions {
  clientCode: string;
  callCenterNum: string;
  subClientId?: string;
  /** isAllowSimpleRegistYN. Default false: the certificate needs account possession. */
  allowSimpleRegist?: boolean;
  /** isVerifyNameYN. Default true: kakaoPay checks the signer's real name against ours. */
  verifyName?: boolean;
  /**
   * PEM of the CA certificate(s) that issue the signers' certificates: a signedData whose signer
   * does not chain to one of them is refused. Real mode: kakaoCert's CA, from a file; the
   * embedded default: the sandbox's CA.
   */
  trustAnchorsPem: string;
  /** The clock certificate validity is checked at (tests); now by default. */
  now?: () => Date;
}

const STATE_NAMES: Record<CmsState, CmsConsentState> = {
  [CMS_STATE.UNCONFIRMED]: 'pending',
  [CMS_STATE.SIGNED]: 'signed',
  [CMS_STATE.EXPIRED]: 'expired',
};

export function createKakaocertConsentProvider(client: KakaocertClient, options: KakaocertConsentProviderOptions): CmsConsentProvider {
  const trustAnchors = parseTrustAnchors(options.trustAnchorsPem);
  return {
    provider: 'kakaocert',

    async requestConsent(request, callOptions) {
      const requestCMS = {
        CallCenterNum: options.callCenterNum,
        Expires_in: request.expiresInSeconds,
        ReceiverBirthDay: request.receiverBirthDate,
        ReceiverHP: request.receiverPhone,
        ReceiverName: request.receiverName,
        ...(request.bankAccountHolderName === undefined ? {} : { BankAccountName: request.bankAccountHolderName }),
        BankAccountNum: request.bankAccountNumber,
        BankCode: request.bankCode,
        ClientUserID: request.payerId,
        TMSTitle: request.title,
        ...(request.message === undefined ? {} : { TMSMessage: request.message }),
        ...(options.subClientId === undefined ? {} : { SubClientID: options.subClientId }),
        isAllowSimpleRegistYN: options.allowSimpleRegist ?? false,
        isVerifyNameYN: options.verifyName ?? true,
        ...(request.memo === undefined ? {} : { PayLoad: request.memo }),
        isAppUseYN: false,
      };
      const receiptId = await client.requestCMS(options.clientCode, requestCMS, callOptions);
      return { receiptId, signedContent: consentSignedContent(options.clientCode, requestCMS) };
    },

    async getConsentState(receiptId, callOptions) {
      const result = await client.getCMSState(options.clientCode, receiptId, callOptions);
      return {
        receiptId: result.receiptID,
        state: STATE_NAMES[result.state],
        expiresAt: parseKakaocertDateTime(result.expireDT),
        signedAt: parseKakaocertDateTime(result.completeDT),
        verifiedAt: parseKakaocertDateTime(result.verifyDT),
      };
    },

    async verifyConsent(receiptId, callOptions) {
      const result = await client.verifyCMS(options.clientCode, receiptId, callOptions);
      return {
        receiptId: result.receiptId,
        signedData: result.signedData,
        der: new Uint8Array(Buffer.from(result.signedData, 'base64url')),
      };
    },

    checkEvidence(evidence, expectedContent) {
      return checkConsentEvidence({ signedData: evidence.signedData, expectedContent, trustAnchors, now: options.now?.() });
    },
  };
}
