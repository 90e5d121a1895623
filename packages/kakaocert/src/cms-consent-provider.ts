/**
 * Provider-neutral auto-debit (CMS) consent, so the funding service does not depend on
 * kakaoCert's wire names. kakaoCert implements it today; its successor Barocert (states 0-4
 * with rejected/failed, encrypted personal fields, bank name instead of code) can implement it
 * later without touching callers.
 */
import type { EvidenceCheck } from './consent-evidence';
import type { CallOptions } from './types';

export interface CmsConsentRequest {
  /** The person who signs in KakaoTalk; must be the account holder (our duty to check). */
  receiverName: string;
  /** Digits only. */
  receiverPhone: string;
  /** YYYYMMDD. */
  receiverBirthDate: string;
  bankCode: string;
  bankAccountNumber: string;
  bankAccountHolderName?: string;
  /** Our identifier of the payer (납부자 식별번호). */
  payerId: string;
  title: string;
  message?: string;
  expiresInSeconds: number;
  /** Echoed back by the provider; useful for correlating. */
  memo?: string;
}

/** `rejected` and `failed` exist at Barocert only; kakaoCert reports pending, signed, expired. */
export type CmsConsentState = 'pending' | 'signed' | 'expired' | 'rejected' | 'failed';

export interface CmsConsentStatus {
  receiptId: string;
  state: CmsConsentState;
  expiresAt: Date | undefined;
  signedAt: Date | undefined;
  verifiedAt: Date | undefined;
}

export interface CmsConsentEvidence {
  receiptId: string;
  /** As the provider returned it (base64url). */
  signedData: string;
  /** signedData decoded: the .der file submitted to KFTC. */
  der: Uint8Array;
}

export interface CmsConsentProvider {
  readonly provider: string;
  /**
   * Sends the consent request. `signedContent` is what the user's signature must cover, fixed
   * from the request that was sent: keep it, and give it to `checkEvidence` later.
   */
  requestConsent(request: CmsConsentRequest, options?: CallOptions): Promise<{ receiptId: string; signedContent: Uint8Array }>;
  getConsentState(receiptId: string, options?: CallOptions): Promise<CmsConsentStatus>;
  /**
   * Fetches the signed evidence. Providers answer this once: never retry it automatically;
   * OutcomeUnknownError means reconcile (GetState, then a human) before anything else.
   */
  verifyConsent(receiptId: string, options?: CallOptions): Promise<CmsConsentEvidence>;
  /**
   * Whether the evidence is a valid CMS signature, by a signer the configured trust anchors
   * issued, over exactly `expectedContent`. Never throws for bad evidence: it answers why.
   */
  checkEvidence(evidence: CmsConsentEvidence, expectedContent: Uint8Array): Promise<EvidenceCheck>;
}
