export * from './types';
export * from './errors';
export { createKakaocertClient, KAKAOCERT_SERVICE_URL, LINKHUB_AUTH_URL } from './kakaocert-client';
export type { KakaocertCallObserver, KakaocertClient, KakaocertClientOptions, KakaocertTimeouts } from './kakaocert-client';
export { validateRequestCMS, isValidBirthDay, MAX_EXPIRES_IN_SECONDS } from './validate-request-cms';
export { parseKakaocertDateTime } from './response-parsing';
export { maskBirthDate, maskedRequestFields, signedDataFingerprint } from './masking';
export type { CmsConsentProvider, CmsConsentRequest, CmsConsentState, CmsConsentStatus, CmsConsentEvidence } from './cms-consent-provider';
export { createKakaocertConsentProvider, type KakaocertConsentProviderOptions } from './kakaocert-consent-provider';
