/** Use case: the app polls a consent while the user signs it in KakaoTalk. */
import { ownedConsent, refreshConsent, type ConsentStateDeps, type OwnedConsentCode } from './consent-state';
import type { ConsentRow } from './funding.repository';

/** The seed codes `getAutoDebitConsent` raises: an unknown consent, and kakaoCert's answers while refreshing. */
export type GetAutoDebitConsentCode = OwnedConsentCode | 'EXTERNAL_SERVICE_UNAVAILABLE' | 'EXTERNAL_SERVICE_FAILED';

/** The consent's state, refreshed from kakaoCert while it can still change there. */
export async function getAutoDebitConsent(deps: ConsentStateDeps, userId: string, consentId: string): Promise<ConsentRow> {
  const consent = await ownedConsent(deps, userId, consentId);
  return refreshConsent<GetAutoDebitConsentCode>(deps, consent, ['EXTERNAL_SERVICE_UNAVAILABLE']);
}
